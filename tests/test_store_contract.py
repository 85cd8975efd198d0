"""The metadata stores' contract: what every backend (SQLite, PostgreSQL) must keep.

Each contract test runs once per backend, through ``open_stores`` as the services open
them; the PostgreSQL ones get a fresh database of a real server (``postgres_helpers``).
The schema's own tests (migrations, refusals) are in ``test_store_schema.py``,
PostgreSQL's own (an unreachable server, writers in several processes, a dropped
connection) in ``test_store_postgres.py``.
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from shipyard.errors import ConflictError, InvalidInputError, NotFoundError, StoreError
from shipyard.signature import Signature, TensorSpec
from shipyard.store import (
    AlertStateRecord,
    AliasChange,
    CacheEntry,
    DeploymentRecord,
    Desired,
    ProcessRecord,
    RolloutRecord,
    StageRun,
    Stores,
    TokenRecord,
    open_stores,
)
from store_helpers import (  # noqa: F401  (the fixtures)
    Backend,
    backend_fixture,
    draft,
    opened_fixture,
    run_record,
)

# -- models, versions, aliases, events ----------------------------------------------------


def test_versions_number_from_one_and_same_content_returns_the_existing_one(
    opened: Stores,
) -> None:
    meta = opened.metadata
    assert [meta.add_version("m", draft(c))[0].version for c in "aba"] == [1, 2, 1]
    assert meta.add_version("m", draft("a"))[1] is False
    assert meta.add_version("other", draft("a"))[0].version == 1  # numbering is per model
    kinds = [(e.kind, e.version) for e in meta.list_events(model="m")]
    assert kinds == [
        ("model.created", None),
        ("model.version.registered", 1),
        ("model.version.registered", 2),
    ]


def test_a_registration_that_fails_midway_leaves_no_model_and_no_event(opened: Stores) -> None:
    bad = draft("a", params={"unserializable": object()})
    with pytest.raises(TypeError):
        opened.metadata.add_version("m", bad)  # fails after the model row and its event
    assert opened.metadata.list_models() == []
    assert opened.metadata.list_events() == []


def test_versions_round_trip_and_are_found_by_content(opened: Stores) -> None:
    meta = opened.metadata
    signature = Signature((TensorSpec("x", "FP32", (-1, 4)),), (TensorSpec("y", "INT64", (-1,)),))
    made, _ = meta.add_version(
        "m",
        draft(
            "a",
            params={"C": 1.5, "solver": "lbfgs"},
            metrics={"accuracy": 0.97},
            tags={"team": "ml"},
            signature=signature,
            entrypoint="model.py",
            description="first",
        ),
    )
    assert meta.get_version("m", 1) == made
    assert meta.list_versions("m") == [made]
    assert meta.find_by_content("m", made.content_digest) == made
    assert meta.find_by_content("m", "sha256:other") is None
    assert meta.find_by_content("unknown", made.content_digest) is None
    summary = meta.get_model("m")
    assert (summary.latest_version, summary.version_count, summary.created_by) == (1, 1, "tester")


def test_models_are_listed_in_byte_order_whatever_the_locale(opened: Stores) -> None:
    for name in ("b", "B", "a", "A-1", "a_1"):
        opened.metadata.add_version(name, draft("x"))
    names = [m.name for m in opened.metadata.list_models()]
    assert names == sorted(names) == ["A-1", "B", "a", "a_1", "b"]


def test_unknown_models_versions_and_aliases_say_what_exists(opened: Stores) -> None:
    meta = opened.metadata
    with pytest.raises(NotFoundError, match="unknown model") as err:
        meta.get_model("m")
    assert "models list" in (err.value.hint or "")
    with pytest.raises(NotFoundError, match="unknown model"):
        meta.list_versions("m")
    meta.add_version("m", draft("a"))
    meta.add_version("m", draft("b"))
    with pytest.raises(NotFoundError, match="no version 7") as err:
        meta.get_version("m", 7)
    assert err.value.hint == "its versions are 1 to 2"
    with pytest.raises(NotFoundError, match="no alias 'production'") as err:
        meta.resolve_alias("m", "production")
    assert "it has no aliases yet" in (err.value.hint or "")
    meta.move_alias("m", "staging", 2, action="set", actor="t", reason="")
    with pytest.raises(NotFoundError) as err:
        meta.resolve_alias("m", "production")
    assert err.value.hint == "its aliases are: staging"


def test_alias_moves_are_recorded_and_a_stale_expectation_is_refused(opened: Stores) -> None:
    meta = opened.metadata
    for c in "abc":
        meta.add_version("m", draft(c))
    first = meta.move_alias("m", "prod", 1, action="set", actor="t", reason="ship")
    assert first is not None and (first.from_version, first.to_version) == (None, 1)
    assert meta.move_alias("m", "prod", 1, action="set", actor="t", reason="again") is None
    second = meta.move_alias(
        "m", "prod", 2, action="set", actor="t", reason="", expect_last_move=first.id
    )
    assert second is not None and meta.resolve_alias("m", "prod") == 2
    with pytest.raises(ConflictError, match="moved while"):
        meta.move_alias(
            "m", "prod", 3, action="set", actor="t", reason="", expect_last_move=first.id
        )
    with pytest.raises(NotFoundError, match="no version 9"):
        meta.move_alias("m", "prod", 9, action="set", actor="t", reason="")
    meta.move_alias("m", "prod", None, action="delete", actor="t", reason="gone")
    meta.move_alias("m", "dev", 3, action="set", actor="t", reason="")
    history = meta.alias_history("m", "prod")
    assert [(h.action, h.from_version, h.to_version) for h in history] == [
        ("set", None, 1),
        ("set", 1, 2),
        ("delete", 2, None),
    ]
    assert [h.alias for h in meta.alias_history("m")] == ["prod", "prod", "prod", "dev"]
    assert meta.get_model("m").aliases == {"dev": 3}
    kinds = [e.kind for e in meta.list_events(kind_prefix="alias.")]
    assert kinds == ["alias.set", "alias.set", "alias.delete", "alias.set"]


def test_versions_come_a_page_at_a_time_newest_under_a_number(opened: Stores) -> None:
    meta = opened.metadata
    for i in range(7):
        meta.add_version("m", draft(f"page-{i}"))
    assert [v.version for v in meta.list_versions("m")] == [1, 2, 3, 4, 5, 6, 7]
    assert [v.version for v in meta.list_versions("m", limit=3)] == [5, 6, 7]
    assert [v.version for v in meta.list_versions("m", below=5, limit=3)] == [2, 3, 4]
    assert [v.version for v in meta.list_versions("m", below=3)] == [1, 2]


def test_events_filter_by_model_id_limit_kind_deployment_actor_and_page_back(
    opened: Stores,
) -> None:
    meta = opened.metadata
    for i in range(5):
        meta.add_version("m", draft(str(i)))
    meta.append_event("alert.firing", "t", model="m", version=5, data={"deployment": "web"})
    meta.append_event("alert.resolved", "t", model=None, version=None, data={"deployment": "api"})
    meta.append_event("alertx", "someone", model=None, version=None, data={})
    newest = meta.list_events(limit=2)
    assert [e.kind for e in newest] == ["alert.resolved", "alertx"]
    assert [e.id for e in meta.list_events(after_id=newest[0].id)] == [newest[1].id]
    assert [e.version for e in meta.list_events(model="m", limit=3)] == [4, 5, 5]
    assert [e.kind for e in meta.list_events(kind_prefix="alert.")] == [
        "alert.firing",
        "alert.resolved",
    ]
    assert [e.kind for e in meta.list_events(kind="alertx")] == ["alertx"]
    (web,) = meta.list_events(deployment="web")
    assert (web.kind, web.model, web.data) == ("alert.firing", "m", {"deployment": "web"})
    ids = [e.id for e in meta.list_events()]
    assert ids == sorted(ids) and len(ids) == 9
    # a page further back: the newest 3 older than an event; and one actor's events
    assert [e.id for e in meta.list_events(before_id=ids[5], limit=3)] == ids[2:5]
    assert [e.kind for e in meta.list_events(actor="someone")] == ["alertx"]


# -- runs and the stage cache ---------------------------------------------------------------


def test_runs_record_their_stages_and_finish_with_events(opened: Stores) -> None:
    runs = opened.runs
    runs.create_run(run_record("r1aaaa"))
    stage = StageRun(
        "train", "succeeded", "fp1", "t0", "t1", 1, {"model.skops": "sha256:x"}, {"loss": math.nan}
    )
    runs.update_stage("r1aaaa", stage)
    with pytest.raises(NotFoundError, match="no stage 'deploy'"):
        runs.update_stage("r1aaaa", StageRun("deploy"))
    finished = runs.finish_run("r1aaaa", "failed", "evaluate broke")
    assert (finished.status, finished.error, finished.git_dirty) == (
        "failed",
        "evaluate broke",
        True,
    )
    assert finished.finished_at is not None and finished.params == {"lr": 0.1}
    train, evaluate = finished.stages
    assert (train.status, train.outputs, evaluate.status) == (
        "succeeded",
        {"model.skops": "sha256:x"},
        "pending",
    )
    assert math.isnan(train.metrics["loss"])
    events = opened.metadata.list_events(kind_prefix="run.")
    assert [(e.kind, e.data["run"]) for e in events] == [
        ("run.started", "r1aaaa"),
        ("run.finished", "r1aaaa"),
    ]


def test_runs_are_found_by_unique_prefix_and_listed_newest_first(opened: Stores) -> None:
    runs = opened.runs
    runs.create_run(run_record("abc111", started="2026-01-01T00:00:01Z"))
    runs.create_run(run_record("abc222", started="2026-01-01T00:00:02Z"))
    runs.create_run(run_record("def333", project="q", started="2026-01-01T00:00:03Z"))
    assert runs.get_run("abc1").id == "abc111"
    with pytest.raises(InvalidInputError, match="ambiguous"):
        runs.get_run("abc")
    with pytest.raises(NotFoundError, match="no run 'zzz'"):
        runs.get_run("zzz")
    with pytest.raises(InvalidInputError, match="invalid run id"):
        runs.get_run("a%")
    assert [r.id for r in runs.list_runs()] == ["def333", "abc222", "abc111"]
    assert [r.id for r in runs.list_runs(project="p", limit=1)] == ["abc222"]


def test_a_write_the_database_refuses_is_a_store_error_and_changes_nothing(
    opened: Stores,
) -> None:
    opened.runs.create_run(run_record("r1"))
    with pytest.raises(StoreError):
        opened.runs.create_run(replace(run_record("r1"), project="other"))  # the same id again
    assert [r.project for r in opened.runs.list_runs()] == ["p"]
    assert len(opened.metadata.list_events(kind="run.started")) == 1


def test_the_stage_cache_keeps_the_first_entry_and_nan_metrics(opened: Stores) -> None:
    runs = opened.runs
    assert runs.cache_get("fp") is None
    first = CacheEntry("fp", "train", {"m": "sha256:1"}, {"loss": math.nan, "acc": 0.5}, "r1")
    runs.cache_put(first)
    runs.cache_put(CacheEntry("fp", "train", {"m": "sha256:2"}, {}, "r2", {"seed": 1}))
    got = runs.cache_get("fp")
    assert got is not None and (got.outputs, got.run_id, got.params) == (
        {"m": "sha256:1"},
        "r1",
        {},
    )
    assert math.isnan(got.metrics["loss"]) and got.metrics["acc"] == 0.5


# -- deployments, rollouts, processes --------------------------------------------------------


def _deployment(name: str = "web") -> DeploymentRecord:
    return DeploymentRecord(
        name,
        "m",
        "local",
        "127.0.0.1",
        8000,
        1,
        "production",
        600.0,
        {"batching": {"max": 8}},
        Desired({"1": 100}, {}, {"2": 1.5e9}),
        1,
        (1,),
        0,
        "t",
        "t",
    )


def _rollout(deployment: str = "web", to_version: int = 2) -> RolloutRecord:
    return RolloutRecord(
        0,
        deployment,
        "canary",
        1,
        to_version,
        {"steps": [10, 50]},
        "loading",
        0,
        None,
        {},
        {},
        None,
        "me",
        "",
        "t",
        None,
    )


def test_deployments_are_created_once_and_listed(opened: Stores) -> None:
    deploy = opened.deploy
    with pytest.raises(NotFoundError, match="no deployment named 'web'") as err:
        deploy.get_deployment("web")
    assert "shipyard deploy" in (err.value.hint or "")
    deploy.create_deployment(_deployment(), "me", "first")
    with pytest.raises(ConflictError, match="already exists"):
        deploy.create_deployment(_deployment(), "me", "again")
    deploy.create_deployment(_deployment("api"), "me", "")
    assert deploy.get_deployment("web") == _deployment()
    assert [d.name for d in deploy.list_deployments()] == ["api", "web"]
    with pytest.raises(NotFoundError) as err:
        deploy.get_deployment("nope")
    assert err.value.hint == "deployments: api, web"
    assert [e.kind for e in opened.metadata.list_events()] == ["deployment.created"] * 2


def test_a_deployment_write_from_a_stale_generation_is_refused(opened: Stores) -> None:
    deploy = opened.deploy
    deploy.create_deployment(_deployment(), "me", "")
    stale = deploy.get_deployment("web")
    changed = replace(stale, desired=Desired({"1": 90, "2": 10}))
    saved, _ = deploy.record("deployment.traffic", "me", "shift", deployment=changed)
    assert saved is not None and saved.generation == 1
    with pytest.raises(ConflictError, match="changed while"):
        deploy.record("deployment.traffic", "me", "again", deployment=stale)
    assert deploy.get_deployment("web").desired.weights == {"1": 90, "2": 10}
    (event,) = opened.metadata.list_events(kind="deployment.traffic")
    assert event.data["before"]["weights"] == {"1": 100}
    assert event.data["after"]["weights"] == {"1": 90, "2": 10}


def test_a_deployment_has_at_most_one_unfinished_rollout(opened: Stores) -> None:
    deploy = opened.deploy
    deploy.create_deployment(_deployment(), "me", "")
    _, first = deploy.record("rollout.started", "me", "one", rollout=_rollout())
    assert first is not None and first.id > 0 and deploy.active_rollout("web") == first
    with pytest.raises(ConflictError, match=r"rollout in progress \(canary to v2, loading"):
        deploy.record("rollout.started", "me", "two", rollout=_rollout(to_version=3))
    done = replace(first, state="promoted", step=2, finished_at="t2")
    deploy.record("rollout.promoted", "me", "", rollout=done)
    assert deploy.active_rollout("web") is None
    _, second = deploy.record("rollout.started", "me", "again", rollout=_rollout(to_version=3))
    assert second is not None and second.id > first.id
    assert [r.id for r in deploy.list_rollouts("web")] == [second.id, first.id]
    assert [r.id for r in deploy.list_rollouts("web", limit=1)] == [second.id]
    kinds = [e.kind for e in opened.metadata.list_events(deployment="web")]
    assert kinds == ["deployment.created", "rollout.started", "rollout.promoted", "rollout.started"]


def test_an_alias_change_commits_with_its_deployment_change_or_not_at_all(opened: Stores) -> None:
    meta, deploy = opened.metadata, opened.deploy
    meta.add_version("m", draft("a"))
    meta.add_version("m", draft("b"))
    deploy.create_deployment(_deployment(), "me", "")
    record = deploy.get_deployment("web")
    with pytest.raises(NotFoundError, match="no version 5"):
        deploy.record(
            "deployment.promoted",
            "me",
            "",
            deployment=replace(record, stable=5),
            alias=AliasChange("production", 5, "set", "promoted"),
        )
    assert deploy.get_deployment("web").generation == 0  # rolled back with the alias
    saved, _ = deploy.record(
        "deployment.promoted",
        "me",
        "",
        deployment=replace(record, stable=2),
        alias=AliasChange("production", 2, "set", "promoted"),
    )
    assert saved is not None and saved.stable == 2 and meta.resolve_alias("m", "production") == 2
    kinds = [e.kind for e in meta.list_events(model="m") if e.kind != "model.version.registered"]
    assert kinds == ["model.created", "deployment.created", "deployment.promoted", "alias.set"]


def test_processes_are_recorded_and_deleting_a_deployment_clears_what_it_held(
    opened: Stores,
) -> None:
    deploy, alerts = opened.deploy, opened.alerts
    deploy.create_deployment(_deployment(), "me", "")
    process = ProcessRecord("web", 4242, "123", 8000, "/run/a.sock", "/run/t", "/log", "t")
    deploy.set_process("web", process, "server.started", "me", "")
    assert deploy.get_process("web") == process
    _, rollout = deploy.record("rollout.started", "me", "", rollout=_rollout())
    alerts.set_monitor("web", {"rules": [{"name": "Errors"}]}, "me")
    alerts.save_alert(
        AlertStateRecord("web", "Errors", "firing", 1.0, 0.2, 1), "alert.firing", "me", {}
    )
    deploy.delete_deployment("web", "me", "retired")
    assert deploy.list_deployments() == [] and deploy.get_process("web") is None
    assert deploy.active_rollout("web") is None
    assert rollout is not None and deploy.list_rollouts("web")[0].state == "aborted"
    assert alerts.get_monitor("web") is None and alerts.alert_states() == []
    (event,) = opened.metadata.list_events(kind="deployment.deleted")
    assert (event.model, event.version, event.data["reason"]) == ("m", 1, "retired")
    deploy.set_process("gone", None, "server.stopped", "me", "")  # no deployment: no subject
    assert opened.metadata.list_events(kind="server.stopped")[0].model is None


# -- monitors and alerts ------------------------------------------------------------------------


def test_monitors_and_alert_states_are_kept_with_their_events(opened: Stores) -> None:
    alerts = opened.alerts
    opened.deploy.create_deployment(_deployment(), "me", "")
    config = {"rules": [{"name": "Errors"}, {"name": "Latency"}], "channels": []}
    alerts.set_monitor("web", config, "me")
    assert alerts.get_monitor("web") == config and alerts.list_monitors() == {"web": config}
    for rule in ("Errors", "Latency", "MetricsUnavailable"):
        state = AlertStateRecord("web", rule, "pending", 10.0, math.nan, 0)
        alerts.save_alert(state, "alert.pending", "me", {"value": None})
    firing = AlertStateRecord("web", "Errors", "firing", 10.0, 0.25, 1)
    alerts.save_alert(firing, "alert.firing", "me", {"value": 0.25})
    states = {s.rule: s for s in alerts.alert_states("web")}
    assert (states["Errors"].state, states["Errors"].episode, states["Errors"].value) == (
        "firing",
        1,
        0.25,
    )
    assert states["Latency"].value is None  # NaN is stored as NULL by every backend
    alerts.set_monitor("web", {"rules": [{"name": "Errors"}]}, "me")  # Latency dropped
    assert [s.rule for s in alerts.alert_states()] == ["Errors", "MetricsUnavailable"]
    alerts.alert_event("alert.notified", "me", "web", {"channel": "hook"})
    events = opened.metadata.list_events(kind_prefix="alert.")
    assert [e.kind for e in events][-2:] == ["alert.firing", "alert.notified"]
    assert {(e.model, e.version) for e in events} == {("m", 1)}
    assert [e.kind for e in opened.metadata.list_events(kind="monitor.set")] == ["monitor.set"] * 2


# -- tokens ---------------------------------------------------------------------------------------


def _token(token_id: str, name: str, at: str = "2026-01-01T00:00:00Z") -> TokenRecord:
    return TokenRecord(token_id, name, ("read", "deploy"), "aa", "bb", at, "admin")


def test_tokens_names_are_unique_until_revoked(opened: Stores) -> None:
    tokens = opened.tokens
    tokens.create_token(_token("id1", "ci"), "admin")
    with pytest.raises(ConflictError, match="a token named 'ci' already exists"):
        tokens.create_token(_token("id2", "ci"), "admin")
    revoked = tokens.revoke_token("ci", "admin")
    assert revoked.revoked_at is not None and revoked.scopes == ("read", "deploy")
    with pytest.raises(NotFoundError, match="no unrevoked token named 'ci'"):
        tokens.revoke_token("ci", "admin")
    tokens.create_token(_token("id2", "ci", "2026-01-02T00:00:00Z"), "admin")
    tokens.touch_token("id2", "2026-01-03T00:00:00Z")
    assert tokens.get_token("id2") == replace(
        _token("id2", "ci", "2026-01-02T00:00:00Z"), last_used_at="2026-01-03T00:00:00Z"
    )
    assert tokens.get_token("id1") == revoked and tokens.get_token("nope") is None
    assert [t.id for t in tokens.list_tokens()] == ["id1", "id2"]
    kinds = [e.kind for e in opened.metadata.list_events()]
    assert kinds == ["token.created", "token.revoked", "token.created"]


# -- the database itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE model_versions SET flavor = 'onnx'", "immutable"),
        ("DELETE FROM model_versions", "immutable"),
        ("UPDATE events SET actor = 'someone else'", "append-only"),
        ("DELETE FROM events", "append-only"),
        ("UPDATE alias_history SET reason = 'rewritten'", "append-only"),
        ("DELETE FROM alias_history", "append-only"),
    ],
)
def test_versions_events_and_alias_history_cannot_be_rewritten(
    backend: Backend, statement: str, refusal: str
) -> None:
    stores = backend.open()
    stores.metadata.add_version("m", draft("a"))
    stores.metadata.move_alias("m", "prod", 1, action="set", actor="t", reason="")
    stores.close()
    db = backend.database()
    with pytest.raises(StoreError, match=refusal), db.tx() as c:
        c.execute(statement)
    db.close()
    stores = backend.open()
    assert len(stores.metadata.list_events()) == 3 and stores.metadata.list_versions("m")
    stores.close()


def test_an_unknown_store_scheme_is_refused_naming_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="mysql://") as err:
        open_stores(tmp_path, metadata="mysql://db/shipyard")
    assert "postgresql://" in (err.value.hint or "")


def test_an_sqlite_store_does_not_import_psycopg(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from shipyard.store import open_stores; "
        f"open_stores(Path({str(tmp_path)!r})).close(); "
        "assert 'psycopg' not in sys.modules, 'psycopg imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
