"""Which stages a project has, what each depends on, and the order to run them in.

Stages come from ``shipyard.yaml``: the user's own (``stages:``), ``train`` and
``register``. An edge A → B exists when B names A in ``after``, when one of B's
``deps`` is (or lies inside) one of A's ``outs``, and between the built-ins
(train → register → deploy → verify). The order is a topological sort that keeps the spec's order
among stages that do not depend on each other.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Literal

from shipyard.errors import SpecError
from shipyard.pipeline import BUNDLE_DIR, TRAIN_HISTORY, VALIDATE_OUTS

if TYPE_CHECKING:
    from pydantic import BaseModel

    from shipyard.spec import ProjectSpec

Kind = Literal["user", "train", "validate", "package", "register", "deploy", "verify"]
ACTS = ("register", "deploy", "verify")  # act on the world: never taken from the cache


@dataclass(frozen=True, slots=True)
class StagePlan:
    """One stage as the runner sees it."""

    name: str
    kind: Kind
    command: str | None = None
    function: str | None = None
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    timeout: float | None = None
    retries: int = 0
    upstream: tuple[str, ...] = ()  # every stage it directly depends on (set by ``plan``)
    # Stages whose outputs enter the fingerprint; None: all of ``upstream``. The bundle
    # follows validation in time but is made from the trained model alone.
    inputs_from: tuple[str, ...] | None = None
    # The spec sections that shape what the stage does, as canonical JSON: a stricter gate,
    # another base image or a renamed model re-runs the stage.
    config: str = ""


def _config(*sections: BaseModel | None) -> str:
    return json.dumps([s.model_dump(mode="json") if s else None for s in sections], sort_keys=True)


def _reference_mode(spec: ProjectSpec) -> str:
    """Whether validation writes the inputs' reference summary is part of what it does."""
    return "|reference=none" if spec.monitor and spec.monitor.reference == "none" else ""


def _stages(spec: ProjectSpec) -> list[StagePlan]:
    stages = [
        StagePlan(
            name,
            "user",
            command=s.run,
            deps=tuple(s.deps),
            outs=tuple(s.outs),
            after=tuple(s.after),
            timeout=s.timeout,
            retries=s.retries,
            config=_config(s),
        )
        for name, s in spec.stages.items()
    ]
    if spec.train is not None:
        t = spec.train
        outs = (spec.model.path, t.metrics, TRAIN_HISTORY)
        stages.append(
            StagePlan(
                "train",
                "train",
                command=t.command,
                function=t.function,
                deps=tuple(t.deps or ["*.py"]),
                outs=outs,
                timeout=t.timeout,
                retries=t.retries,
                config=_config(spec.model, t.model_copy(update={"params": {}})),
            )
        )
        last = "train"
        if spec.validate_stage is not None:
            v = spec.validate_stage
            stages.append(
                StagePlan(
                    "validate",
                    "validate",
                    deps=tuple(v.deps or ["*.py"]),
                    outs=VALIDATE_OUTS,
                    after=("train",),
                    timeout=v.timeout,
                    retries=v.retries,
                    config=_config(spec.model, v) + _reference_mode(spec),
                )
            )
            last = "validate"
        stages.append(
            StagePlan(
                "package",
                "package",
                deps=tuple(spec.package.code),
                outs=(BUNDLE_DIR,),
                after=tuple(dict.fromkeys(("train", last))),
                inputs_from=("train",),
                config=_config(spec.model, spec.package),
            )
        )
        stages.append(StagePlan("register", "register", after=("package",)))
        if spec.deploy is not None:
            stages.append(
                StagePlan("deploy", "deploy", after=("register",), config=_config(spec.deploy))
            )
        if spec.verify is not None:
            stages.append(
                StagePlan("verify", "verify", after=("deploy",), config=_config(spec.verify))
            )
    return stages


def _produces(out: str, dep: str) -> bool:
    """Whether a stage writing ``out`` provides the file(s) ``dep`` names."""
    out_path, dep_path = PurePosixPath(out), PurePosixPath(dep)
    return dep_path == out_path or out_path in dep_path.parents or fnmatch.fnmatchcase(out, dep)


def _upstream(stages: list[StagePlan]) -> dict[str, list[str]]:
    names = [s.name for s in stages]
    edges: dict[str, list[str]] = {s.name: [] for s in stages}
    for stage in stages:
        for name in stage.after:
            if name not in edges:
                raise SpecError(
                    f"stage {stage.name!r} runs after unknown stage {name!r}",
                    hint=f"the stages are: {', '.join(names)}",
                )
            edges[stage.name].append(name)
        for other in stages:
            if other is not stage and any(
                _produces(out, dep) for out in other.outs for dep in stage.deps
            ):
                edges[stage.name].append(other.name)
    return edges


def _cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as a path (first name repeated at the end), if there is one."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for up in edges[name]:
            if state.get(up) == 1:
                return [*path[path.index(up) :], up]
            if up not in state and (found := visit(up)):
                return found
        path.pop()
        state[name] = 2
        return None

    for name in edges:
        if name not in state and (found := visit(name)):
            return found
    return None


def plan(spec: ProjectSpec, *, to: str | None = None) -> list[StagePlan]:
    """The stages to run, in order; with ``to``, only that stage and what it needs."""
    stages = _stages(spec)
    if not stages:
        raise SpecError(
            "shipyard.yaml declares nothing to run",
            hint="add a `train:` section (command or function) or `stages:` of your own",
        )
    edges = _upstream(stages)
    cycle = _cycle(edges)
    if cycle is not None:
        raise SpecError(
            f"stages depend on each other in a cycle: {' → '.join(reversed(cycle))}",
            hint="remove one of the `after` entries or one of the deps/outs that link them",
        )
    ordered: list[StagePlan] = []
    done: set[str] = set()
    while len(ordered) < len(stages):
        for stage in stages:  # the spec's order among stages that are ready
            if stage.name not in done and set(edges[stage.name]) <= done:
                ordered.append(replace(stage, upstream=tuple(dict.fromkeys(edges[stage.name]))))
                done.add(stage.name)
                break
    return select(ordered, to)


def select(stages: Sequence[StagePlan], to: str | None) -> list[StagePlan]:
    """A whole plan (in order) cut down to stage ``to`` and what it needs; all without ``to``."""
    if to is None:
        return list(stages)
    by_name = {s.name: s for s in stages}
    if to not in by_name:
        raise SpecError(f"no stage {to!r}", hint=f"the stages are: {', '.join(by_name)}")
    wanted: set[str] = set()
    todo = [to]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(by_name[name].upstream)
    return [s for s in stages if s.name in wanted]
