"""Copying a registry from one metadata database to another, as it was recorded.

Versions keep their numbers, times and lineage; aliases keep their history and
where they point; events, runs and the stage cache keep their times and actors.
What a store is bound to — deployments and their rollouts (they name processes
or clusters of the source), monitors and alert states, tokens (identities of the
source's server) — is not copied.

It is safe to re-run: what the target already holds is recognised and skipped.
Before anything is written, every model's versions are compared: a target that
holds different content under the same model and version is refused, naming
them, and nothing is copied. The blobs are copied (verified by their digests)
first; the metadata follows in one transaction, so a copy cut off half way
leaves the target as it was, apart from blobs nothing points at yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard import jsonio
from shipyard.errors import ConflictError
from shipyard.store.artifacts import ArtifactStore
from shipyard.store.sql.database import Database, Transaction
from shipyard.tags import REFERENCE_TAG

_VERSION_COLUMNS = (
    "version, flavor, entrypoint, content_digest, artifacts, params, metrics, tags, "
    "signature, lineage, description, created_at, created_by"
)
_V_VERSION_COLUMNS = ", ".join(f"v.{c}" for c in _VERSION_COLUMNS.split(", "))
_HISTORY_COLUMNS = "alias, action, from_version, to_version, at, actor, reason"
_EVENT_COLUMNS = "at, actor, kind, model, version, data"
_RUN_COLUMNS = (
    "id, project, model, status, started_at, finished_at, actor, trigger, git_commit, "
    "git_branch, git_dirty, params, error"
)
_STAGE_COLUMNS = (
    "run_id, position, name, status, fingerprint, started_at, finished_at, attempts, "
    "outputs, metrics, log_digest, error"
)
_CACHE_COLUMNS = "fingerprint, stage, outputs, metrics, run_id, params, created_at"


@dataclass(slots=True)
class CopyReport:
    """What a copy did (zero everywhere on a re-run of a finished copy)."""

    models: int = 0
    versions: int = 0
    alias_moves: int = 0
    events: int = 0
    runs: int = 0
    cache_entries: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    skipped_versions: int = 0
    not_copied: tuple[str, ...] = ("deployments", "rollouts", "monitors", "tokens")


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _versions(db: Database, model: str) -> dict[int, tuple[Any, ...]]:
    rows = db.query(
        f"SELECT {_V_VERSION_COLUMNS} FROM model_versions v JOIN models m ON m.id = v.model_id "
        "WHERE m.name = ? ORDER BY v.version",
        (model,),
    )
    return {int(row[0]): tuple(row) for row in rows}


def _check(source: Database, target: Database) -> list[tuple[str, int]]:
    """The versions to copy; ``ConflictError`` if the target holds other content under the
    same model and version."""
    todo: list[tuple[str, int]] = []
    clashes: list[str] = []
    for (model,) in source.query("SELECT name FROM models ORDER BY name"):
        there = _versions(target, model)
        for number, row in _versions(source, model).items():
            held = there.get(number)
            if held is None:
                todo.append((model, number))
            elif held[3] != row[3]:
                clashes.append(f"{model} v{number} (source {row[3][:19]}…, target {held[3][:19]}…)")
    if clashes:
        raise ConflictError(
            f"the target already holds different content under {len(clashes)} version(s): "
            + "; ".join(clashes[:5]),
            hint="copy into an empty store, or one that received this registry before; "
            "nothing was copied",
        )
    return todo


def _blob_digests(source: Database, versions: list[tuple[str, int]]) -> list[str]:
    """Every blob the copied versions, runs and stage cache point at."""
    digests: list[str] = []
    wanted = set(versions)
    for model, number, artifacts, tags, lineage in source.query(
        "SELECT m.name, v.version, v.artifacts, v.tags, v.lineage FROM model_versions v "
        "JOIN models m ON m.id = v.model_id"
    ):
        if (model, int(number)) not in wanted:
            continue
        digests += [a["digest"] for a in jsonio.loads(artifacts)]
        reference = jsonio.loads(tags).get(REFERENCE_TAG)
        requirements = jsonio.loads(lineage).get("requirements_digest")
        digests += [d for d in (reference, requirements) if d]
    for outputs, log in source.query("SELECT outputs, log_digest FROM run_stages"):
        digests += list(jsonio.loads(outputs).values()) + ([log] if log else [])
    for (outputs,) in source.query("SELECT outputs FROM stage_cache"):
        digests += list(jsonio.loads(outputs).values())
    return list(dict.fromkeys(digests))


def _model_id(t: Transaction, name: str, created_at: str, created_by: str) -> int:
    row = t.execute("SELECT id FROM models WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return int(row[0])
    row = t.execute(
        "INSERT INTO models (name, created_at, created_by) VALUES (?, ?, ?) RETURNING id",
        (name, created_at, created_by),
    ).fetchone()
    return int(row[0])


def _copy_model(
    source: Database, t: Transaction, model: tuple[Any, ...], report: CopyReport
) -> None:
    name, created_at, created_by = model
    model_id = _model_id(t, name, created_at, created_by)
    held = {
        int(r[0]) for r in t.execute(
            "SELECT version FROM model_versions WHERE model_id = ?", (model_id,)
        ).fetchall()
    }  # fmt: skip
    for number, row in _versions(source, name).items():
        if number in held:
            report.skipped_versions += 1
            continue
        t.execute(
            f"INSERT INTO model_versions (model_id, {_VERSION_COLUMNS}) VALUES ({_marks(14)})",
            (model_id, *row),
        )
        report.versions += 1
    # alias history: the target's must be where the source's began; the rest is appended
    ours = [
        tuple(r)
        for r in source.query(
            f"SELECT {', '.join('h.' + c for c in _HISTORY_COLUMNS.split(', '))} "
            "FROM alias_history h JOIN models m ON m.id = h.model_id "
            "WHERE m.name = ? ORDER BY h.id",
            (name,),
        )
    ]
    theirs = [
        tuple(r)
        for r in t.execute(
            f"SELECT {_HISTORY_COLUMNS} FROM alias_history WHERE model_id = ? ORDER BY id",
            (model_id,),
        ).fetchall()
    ]
    if ours[: len(theirs)] != theirs:
        raise ConflictError(
            f"the target's alias history of {name} is not the source's: they diverged",
            hint="copy into an empty store, or one that received this registry before; no "
            "record was copied (blobs already sent are kept: nothing points at them)",
        )
    for move in ours[len(theirs) :]:
        t.execute(
            f"INSERT INTO alias_history (model_id, {_HISTORY_COLUMNS}) VALUES ({_marks(8)})",
            (model_id, *move),
        )
        report.alias_moves += 1
    if len(ours) > len(theirs):  # where each alias points now is where the source's does
        t.execute("DELETE FROM aliases WHERE model_id = ?", (model_id,))
        for alias, version, updated_at in source.query(
            "SELECT a.name, v.version, a.updated_at FROM aliases a "
            "JOIN models m ON m.id = a.model_id JOIN model_versions v ON v.id = a.version_id "
            "WHERE m.name = ?",
            (name,),
        ):
            t.execute(
                "INSERT INTO aliases (model_id, name, version_id, updated_at) VALUES "
                "(?, ?, (SELECT id FROM model_versions WHERE model_id = ? AND version = ?), ?)",
                (model_id, alias, model_id, version, updated_at),
            )


def _copy_events(source: Database, t: Transaction, report: CopyReport) -> None:
    """Events the target does not hold yet (the same time, actor, kind, subject and data)."""
    held = {tuple(r) for r in t.execute(f"SELECT {_EVENT_COLUMNS} FROM events").fetchall()}
    for row in source.query(f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY id"):
        if tuple(row) in held:
            continue
        t.execute(f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({_marks(6)})", tuple(row))
        report.events += 1


def _copy_runs(source: Database, t: Transaction, report: CopyReport) -> None:
    held = {r[0] for r in t.execute("SELECT id FROM runs").fetchall()}
    for row in source.query(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started_at, id"):
        if row[0] in held:
            continue
        t.execute(f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({_marks(13)})", tuple(row))
        for stage in source.query(
            f"SELECT {_STAGE_COLUMNS} FROM run_stages WHERE run_id = ?", (row[0],)
        ):
            t.execute(f"INSERT INTO run_stages ({_STAGE_COLUMNS}) VALUES ({_marks(12)})", stage)
        report.runs += 1
    for row in source.query(f"SELECT {_CACHE_COLUMNS} FROM stage_cache"):
        inserted = t.execute(
            f"INSERT INTO stage_cache ({_CACHE_COLUMNS}) VALUES ({_marks(7)}) "
            "ON CONFLICT (fingerprint) DO NOTHING RETURNING fingerprint",
            tuple(row),
        ).fetchone()
        report.cache_entries += inserted is not None


def copy_registry(
    source: Database,
    source_blobs: ArtifactStore,
    target: Database,
    target_blobs: ArtifactStore,
    on_blob: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy models, versions, aliases with their history, events, runs and the stage cache
    from ``source`` to ``target``, and every blob they name (verified on the way)."""
    report = CopyReport()
    versions = _check(source, target)
    for digest in _blob_digests(source, versions):
        if target_blobs.exists(digest):
            continue
        blob = target_blobs.put_stream(source_blobs.open_stream(digest), digest)
        report.blobs += 1
        report.blob_bytes += blob.size
        if on_blob is not None:
            on_blob(digest, blob.size)
    models = source.query("SELECT name, created_at, created_by FROM models ORDER BY name")
    with target.tx() as t:
        before = {r[0] for r in t.execute("SELECT name FROM models").fetchall()}
        for model in models:
            _copy_model(source, t, tuple(model), report)
        report.models = len({m[0] for m in models} - before)
        _copy_events(source, t, report)
        _copy_runs(source, t, report)
    return report
