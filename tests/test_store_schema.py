"""The metadata store's schema on both backends: migrations applied once and in order,
a store made by an older Shipyard brought up to date with its data kept, and a newer or
foreign database refused with nothing written."""

from __future__ import annotations

import importlib
from dataclasses import replace

import psycopg
import pytest

from shipyard.errors import ShipyardError, StoreError
from shipyard.store import StageRun
from store_helpers import Backend, backend_fixture, draft, run_record  # noqa: F401  (the fixture)


def test_reopening_keeps_the_data_and_applies_no_migration_twice(backend: Backend) -> None:
    backend.open().close()
    stores = backend.open()
    stores.metadata.add_version("m", draft("a"))
    stores.close()
    stores = backend.open()
    assert [v.version for v in stores.metadata.list_versions("m")] == [1]
    stores.close()


def test_a_newer_schema_is_refused_with_nothing_written(backend: Backend) -> None:
    stores = backend.open()
    stores.metadata.add_version("m", draft("a"))
    stores.close()
    backend.set_schema_version(99)
    before = backend.snapshot()
    with pytest.raises(StoreError, match="schema version 99, newer") as err:
        backend.open()
    assert "left untouched" in (err.value.hint or "")
    assert backend.snapshot() == before


def test_a_database_that_is_not_shipyards_is_refused_with_nothing_written(
    backend: Backend,
) -> None:
    backend.raw("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(StoreError, match="not a Shipyard metadata store"):
        backend.open()
    backend.raw("SELECT count(*) FROM customers")  # still there, untouched
    if backend.name == "postgres":
        with psycopg.connect(backend.location) as pg:
            tables = pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            assert tables.fetchall() == [("customers",)]


def test_a_store_of_the_schema_before_paused_runs_is_migrated_keeping_its_runs(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = importlib.import_module(f"shipyard.store.{backend.name}.db")
    with monkeypatch.context() as older:  # the Shipyard before migration 6
        older.setattr(db, "MIGRATIONS", db.MIGRATIONS[:5])
        older.setattr(db, "SCHEMA_VERSION", 5)
        stores = backend.open()
        stores.runs.create_run(run_record("old1"))
        stores.runs.update_stage("old1", StageRun("train", "succeeded", "fp1", "t0", "t1", 1))
        stores.runs.finish_run("old1", "succeeded", None)
        stores.runs.create_run(run_record("old2"))
        with pytest.raises(ShipyardError):  # that schema knows no paused run
            stores.runs.finish_run("old2", "paused", "waits")
        stores.close()
    stores = backend.open()
    try:
        old = stores.runs.get_run("old1")
        assert (old.status, [(s.name, s.status) for s in old.stages]) == (
            "succeeded",
            [("train", "succeeded"), ("evaluate", "pending")],
        )
        paused = stores.runs.finish_run("old2", "paused", "the rollout waits for promote")
        assert (paused.status, paused.error) == ("paused", "the rollout waits for promote")
        stores.runs.create_run(replace(run_record("new1"), project="q"))
        assert [r.id for r in stores.runs.list_runs(project="q")] == ["new1"]
        with pytest.raises(ShipyardError):  # the stages still point at a run that exists
            stores.runs.update_stage("nosuch", StageRun("train"))
    finally:
        stores.close()
    backend.open().close()  # and it is not applied twice
