"""Traffic split and hot swap inside one worker: weights, sticky keys, pins, shadows, and
the load → switch → drain → unload order, with a fake loader so nothing is slow."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import numpy as np
import pytest

from shipyard.errors import InvalidInputError
from shipyard.serving.config import BatchOptions
from shipyard.serving.deployment import Deployment, Settings, VersionNotLoaded
from shipyard.serving.host import Loaded
from shipyard.serving.routing import RouteTable, parse_shares, route_table


class Echo:
    def __init__(self, version: str) -> None:
        self.version = version

    def predict(self, rows: Any) -> Any:
        return np.full(len(rows), int(self.version))


def fake_loader(version: str) -> Loaded:
    return Loaded("toy", version, "sklearn", None, Echo(version), True)


def deployment() -> Deployment:
    return Deployment("toy", Settings("toy", batching=BatchOptions(max_batch_size=1)), fake_loader)


def test_weights_split_traffic_in_proportion() -> None:
    table = RouteTable({"3": 90, "4": 10})
    counts = Counter(table.choose() for _ in range(20_000))
    assert set(counts) == {"3", "4"}
    assert 0.08 < counts["4"] / 20_000 < 0.12


def test_a_route_key_always_lands_on_the_same_version_and_keys_spread() -> None:
    table = RouteTable({"3": 50, "4": 50})
    for key in ("user-1", "user-2", "user-3"):
        assert len({table.choose(key) for _ in range(50)}) == 1
    assert {table.choose(f"user-{i}") for i in range(100)} == {"3", "4"}


def test_zero_weight_versions_get_no_routed_traffic_and_shadows_get_their_share() -> None:
    table = RouteTable({"3": 100, "4": 0}, {"5": 25})
    assert {table.choose() for _ in range(1000)} == {"3"}
    mirrored = sum(table.mirrored() == ["5"] for _ in range(20_000))
    assert 0.22 < mirrored / 20_000 < 0.28


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weights": {"3": 0}}, "at least one version needs a weight above 0"),
        ({"weights": {"x": 10}}, "'x' is not a version number"),
        ({"weights": {"²": 10}}, "'²' is not a version number"),
        ({"weights": {"03": 100, "3": 0}}, "version 3 is given twice"),
        ({"weights": {"3": -1}}, "expected a whole number ≥ 0"),
        ({"weights": {"3": 1.5}}, "expected a whole number ≥ 0"),
        ({"weights": {"3": 100}, "shadow": {"4": 150}}, "150 is over 100"),
        ({"weights": {"3": 100}, "shadow": {"3": 10}}, "cannot take live traffic and be a shadow"),
        ({"weights": {"3": 100}, "extra": 1}, "unknown field(s) extra"),
        ([1, 2], "expected an object with 'weights'"),
    ],
)
def test_bad_route_tables_are_refused_with_the_reason(data: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        route_table(data)


def test_shares_from_the_command_line() -> None:
    assert parse_shares("3=90, 4=10", "--weights") == {"3": 90, "4": 10}
    assert parse_shares('{"3": 90, "4": 10}', "--weights") == {"3": 90, "4": 10}
    with pytest.raises(InvalidInputError, match="'3:90' is not VERSION=SHARE"):
        parse_shares("3:90", "--weights")


def test_routes_need_loaded_versions_and_pins_reach_any_loaded_version() -> None:
    async def scenario() -> None:
        dep = deployment()
        await dep.load("1")
        with pytest.raises(InvalidInputError, match=r"version\(s\) 2: not loaded"):
            dep.set_routes(RouteTable({"1": 50, "2": 50}))
        dep.set_routes(RouteTable({"1": 100}))
        await dep.load("2")  # beside: traffic still goes to 1
        assert {dep.pick(None, None).loaded.version for _ in range(50)} == {"1"}
        assert dep.pick("2", None).loaded.version == "2"
        with pytest.raises(VersionNotLoaded, match="no loaded version '7'"):
            dep.pick("7", None)

    asyncio.run(scenario())


def test_a_version_that_gets_traffic_cannot_be_unloaded() -> None:
    async def scenario() -> None:
        dep = deployment()
        await dep.load("1")
        await dep.load("2")
        dep.set_routes(RouteTable({"1": 50, "2": 50}))
        with pytest.raises(InvalidInputError, match="version 2 still receives traffic"):
            await dep.unload("2")
        dep.set_routes(RouteTable({"1": 100, "2": 0}))
        await dep.unload("2")
        assert list(dep.versions) == ["1"] and dep.routes == RouteTable({"1": 100})

    asyncio.run(scenario())


def test_unload_waits_until_requests_holding_the_version_are_done() -> None:
    async def scenario() -> list[str]:
        dep = deployment()
        events: list[str] = []
        await dep.load("1")
        await dep.load("2")
        dep.set_routes(RouteTable({"1": 100}))
        held = dep.pick("2", None)  # a request in flight on version 2
        unloading = asyncio.create_task(dep.unload("2"))
        await asyncio.sleep(0.05)
        events.append("still draining" if not unloading.done() else "unloaded early")
        assert "2" not in dep.versions  # no new request can pick it
        answer = await held.predict(np.zeros((1, 1)), timeout=5)  # the held one still answers
        events.append(f"answered {answer.tolist()}")
        held.release()
        await unloading
        events.append("unloaded")
        return events

    assert asyncio.run(scenario()) == ["still draining", "answered [2]", "unloaded"]


def test_loading_a_version_of_another_model_is_refused() -> None:
    async def scenario() -> None:
        dep = Deployment(
            "digits",
            Settings("digits"),
            lambda v: Loaded("cats", v, "sklearn", None, Echo(v), True),
        )
        with pytest.raises(InvalidInputError, match="of model 'cats'"):
            await dep.load("1")

    asyncio.run(scenario())
