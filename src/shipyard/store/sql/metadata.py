"""The metadata store (models, versions, aliases, events) in SQL, over any ``Database``.

Each method is one transaction on the ``Database`` (which owns the connection, the
migrations and the locking): every write transaction holds the database's writer
lock from its first statement, so the next version number is read and written
under it, version numbers stay unique and gapless across processes, and every
change appends its event in the same transaction.
"""

from __future__ import annotations

from typing import Any

from shipyard import jsonio
from shipyard.clock import utc_now
from shipyard.errors import ConflictError, NotFoundError
from shipyard.signature import Signature
from shipyard.store.records import (
    AliasMove,
    ArtifactRef,
    Event,
    Lineage,
    ModelSummary,
    ModelVersion,
    VersionDraft,
)
from shipyard.store.sql.database import Database, Transaction
from shipyard.store.sql.events import insert_event

# The JSON columns come back spliced into one JSON array (plain text concatenation:
# they hold JSON this store wrote), so a row costs one decode instead of five and
# listing 10,000 versions stays far below half a second.
_VERSION_COLUMNS = (
    "v.version, v.created_at, v.flavor, v.entrypoint, v.content_digest, v.description, "
    "v.created_by, v.signature, '[' || v.artifacts || ',' || v.params || ',' || v.metrics || "
    "',' || v.tags || ',' || v.lineage || ']'"
)


def _dumps(value: Any) -> str:
    return jsonio.dumps(value, sort_keys=True).decode()


def _version_from_row(
    model: str, row: tuple[Any, ...], signatures: dict[str, Signature] | None = None
) -> ModelVersion:
    """A version from its row; ``signatures`` shares one object among rows with the same
    signature text (versions of a model nearly always have the same one)."""
    version, created_at, flavor, entrypoint, digest, description, created_by, sig, blobs = row
    artifacts, params, metrics, tags, lineage = jsonio.loads(blobs)
    signature = None
    if sig is not None:
        cache = {} if signatures is None else signatures
        signature = cache.get(sig) or cache.setdefault(
            sig, Signature.from_stored(jsonio.loads(sig))
        )
    return ModelVersion(
        model=model,
        version=version,
        created_at=created_at,
        created_by=created_by,
        flavor=flavor,
        entrypoint=entrypoint,
        content_digest=digest,
        description=description,
        artifacts=tuple([ArtifactRef(a["path"], a["digest"], a["size"]) for a in artifacts]),
        params=params,
        metrics=metrics,
        tags=tags,
        signature=signature,
        lineage=Lineage(**lineage),
    )


class SqlMetadataStore:
    """The metadata store in an SQL database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def _model_id(c: Transaction, model: str) -> int:
        row = c.execute("SELECT id FROM models WHERE name = ?", (model,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"unknown model {model!r}", hint="`shipyard models list` shows the registered ones"
            )
        return int(row[0])

    def add_version(self, model: str, draft: VersionDraft) -> tuple[ModelVersion, bool]:
        """See ``MetadataStore.add_version``."""
        now = utc_now()
        with self._db.tx() as c:
            row = c.execute("SELECT id FROM models WHERE name = ?", (model,)).fetchone()
            if row is None:
                model_id = int(
                    c.execute(
                        "INSERT INTO models (name, created_at, created_by) VALUES (?, ?, ?) "
                        "RETURNING id",
                        (model, now, draft.created_by),
                    ).fetchone()[0]
                )
                insert_event(c, "model.created", draft.created_by, model, None, {}, now)
            else:
                model_id = int(row[0])
            same = c.execute(
                f"SELECT {_VERSION_COLUMNS} FROM model_versions v "
                "WHERE v.model_id = ? AND v.content_digest = ?",
                (model_id, draft.content_digest),
            ).fetchone()
            if same is not None:
                return _version_from_row(model, same), False
            number = c.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model_id = ?",
                (model_id,),
            ).fetchone()[0]
            c.execute(
                "INSERT INTO model_versions (model_id, version, flavor, entrypoint, "
                "content_digest, artifacts, params, metrics, tags, signature, lineage, "
                "description, created_at, created_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    model_id,
                    number,
                    draft.flavor,
                    draft.entrypoint,
                    draft.content_digest,
                    _dumps(draft.artifacts),
                    _dumps(draft.params),
                    _dumps(draft.metrics),
                    _dumps(draft.tags),
                    None if draft.signature is None else _dumps(draft.signature),
                    _dumps(draft.lineage),
                    draft.description,
                    now,
                    draft.created_by,
                ),
            )
            insert_event(
                c,
                "model.version.registered",
                draft.created_by,
                model,
                number,
                {
                    "content_digest": draft.content_digest,
                    "flavor": draft.flavor,
                    "git_commit": draft.lineage.git_commit,
                    "metrics": draft.metrics,
                },
                now,
            )
        return ModelVersion.from_draft(model, number, now, draft), True

    def list_models(self) -> list[ModelSummary]:
        """See ``MetadataStore.list_models``."""
        aliases: dict[str, dict[str, int]] = {}
        for model, alias, version in self._db.query(
            "SELECT m.name, a.name, v.version FROM aliases a JOIN models m ON m.id = a.model_id "
            "JOIN model_versions v ON v.id = a.version_id ORDER BY a.name"
        ):
            aliases.setdefault(model, {})[alias] = version
        rows = self._db.query(
            "SELECT m.name, m.created_at, m.created_by, MAX(v.version), COUNT(v.id) FROM models m "
            "LEFT JOIN model_versions v ON v.model_id = m.id GROUP BY m.id ORDER BY m.name"
        )
        return [
            ModelSummary(name, created_at, created_by, latest, count, aliases.get(name, {}))
            for name, created_at, created_by, latest, count in rows
        ]

    def get_model(self, model: str) -> ModelSummary:
        """See ``MetadataStore.get_model``."""
        for summary in self.list_models():
            if summary.name == model:
                return summary
        raise NotFoundError(
            f"unknown model {model!r}", hint="`shipyard models list` shows the registered ones"
        )

    def _require_model(self, model: str) -> None:
        if not self._db.query("SELECT 1 FROM models WHERE name = ?", (model,)):
            raise NotFoundError(
                f"unknown model {model!r}", hint="`shipyard models list` shows the registered ones"
            )

    def find_by_content(self, model: str, content_digest: str) -> ModelVersion | None:
        """See ``MetadataStore.find_by_content``."""
        rows = self._db.query(
            f"SELECT {_VERSION_COLUMNS} FROM model_versions v JOIN models m ON m.id = v.model_id "
            "WHERE m.name = ? AND v.content_digest = ?",
            (model, content_digest),
        )
        return _version_from_row(model, rows[0]) if rows else None

    def get_version(self, model: str, version: int) -> ModelVersion:
        """See ``MetadataStore.get_version``."""
        rows = self._db.query(
            f"SELECT {_VERSION_COLUMNS} FROM model_versions v JOIN models m ON m.id = v.model_id "
            "WHERE m.name = ? AND v.version = ?",
            (model, version),
        )
        if not rows:
            self._require_model(model)
            latest = self.get_model(model).latest_version
            raise NotFoundError(
                f"model {model!r} has no version {version}",
                hint=f"its versions are 1 to {latest}" if latest else "it has no versions yet",
            )
        return _version_from_row(model, rows[0])

    def list_versions(
        self, model: str, *, below: int | None = None, limit: int | None = None
    ) -> list[ModelVersion]:
        """See ``MetadataStore.list_versions``."""
        self._require_model(model)
        sql = (
            f"SELECT {_VERSION_COLUMNS} FROM model_versions v JOIN models m ON m.id = v.model_id "
            "WHERE m.name = ?"
        )
        args: tuple[Any, ...] = (model,)
        if below is not None:
            sql += " AND v.version < ?"
            args += (below,)
        sql += " ORDER BY v.version DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args += (limit,)
        rows = self._db.query(sql, args)
        signatures: dict[str, Signature] = {}
        return [_version_from_row(model, row, signatures) for row in reversed(rows)]

    def resolve_alias(self, model: str, alias: str) -> int:
        """See ``MetadataStore.resolve_alias``."""
        rows = self._db.query(
            "SELECT v.version FROM aliases a JOIN models m ON m.id = a.model_id "
            "JOIN model_versions v ON v.id = a.version_id WHERE m.name = ? AND a.name = ?",
            (model, alias),
        )
        if not rows:
            self._require_model(model)
            known = sorted(self.get_model(model).aliases)
            raise NotFoundError(
                f"model {model!r} has no alias {alias!r}",
                hint=f"its aliases are: {', '.join(known)}"
                if known
                else "it has no aliases yet; "
                f"set one with `shipyard alias set {model} {alias} VERSION`",
            )
        return int(rows[0][0])

    def move_alias(
        self,
        model: str,
        alias: str,
        to_version: int | None,
        *,
        action: str,
        actor: str,
        reason: str,
        expect_last_move: int | None = None,
    ) -> AliasMove | None:
        """See ``MetadataStore.move_alias``; returns ``None`` when nothing changed."""
        with self._db.tx() as c:
            return write_alias_move(
                c,
                model,
                alias,
                to_version,
                action=action,
                actor=actor,
                reason=reason,
                now=utc_now(),
                expect_last_move=expect_last_move,
            )

    def alias_history(self, model: str, alias: str | None = None) -> list[AliasMove]:
        """See ``MetadataStore.alias_history``."""
        self._require_model(model)
        sql = (
            "SELECT h.id, h.alias, h.action, h.from_version, h.to_version, h.at, h.actor, h.reason "
            "FROM alias_history h JOIN models m ON m.id = h.model_id WHERE m.name = ?"
        )
        args: tuple[Any, ...] = (model,)
        if alias is not None:
            sql += " AND h.alias = ?"
            args += (alias,)
        return [
            AliasMove(id_, model, *rest)
            for id_, *rest in self._db.query(sql + " ORDER BY h.id", args)
        ]

    def append_event(
        self, kind: str, actor: str, *, model: str | None, version: int | None, data: dict[str, Any]
    ) -> Event:
        """See ``MetadataStore.append_event``."""
        now = utc_now()
        with self._db.tx() as c:
            event_id = insert_event(c, kind, actor, model, version, data, now)
        return Event(event_id, now, actor, kind, model, version, data)

    def list_events(
        self,
        *,
        model: str | None = None,
        after_id: int = 0,
        limit: int | None = None,
        kind_prefix: str | None = None,
        kind: str | None = None,
        deployment: str | None = None,
        before_id: int | None = None,
        actor: str | None = None,
    ) -> list[Event]:
        """See ``MetadataStore.list_events``."""
        sql = "SELECT id, at, actor, kind, model, version, data FROM events WHERE id > ?"
        args: tuple[Any, ...] = (after_id,)
        if before_id is not None:
            sql += " AND id < ?"
            args += (before_id,)
        if actor is not None:
            sql += " AND actor = ?"
            args += (actor,)
        if model is not None:
            sql += " AND model = ?"
            args += (model,)
        if kind_prefix is not None:
            sql += " AND kind >= ? AND kind < ?"  # a prefix range: uses events_by_kind
            args += (kind_prefix, kind_prefix + "\uffff")
        if kind is not None:
            sql += " AND kind = ?"
            args += (kind,)
        if deployment is not None:
            sql += f" AND {self._db.json_field('data', 'deployment')} = ?"
            args += (deployment,)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args += (limit,)
        rows = self._db.query(sql, args)
        return [
            Event(id_, at, actor, kind, model_, version, jsonio.loads(data))
            for id_, at, actor, kind, model_, version, data in reversed(rows)
        ]

    def close(self) -> None:
        """See ``MetadataStore.close``."""
        self._db.close()


def write_alias_move(
    c: Transaction,
    model: str,
    alias: str,
    to_version: int | None,
    *,
    action: str,
    actor: str,
    reason: str,
    now: str,
    expect_last_move: int | None = None,
) -> AliasMove | None:
    """Move an alias inside the caller's transaction (see ``MetadataStore.move_alias``)."""
    model_id = SqlMetadataStore._model_id(c, model)
    row = c.execute(
        "SELECT v.version FROM aliases a JOIN model_versions v ON v.id = a.version_id "
        "WHERE a.model_id = ? AND a.name = ?",
        (model_id, alias),
    ).fetchone()
    current = None if row is None else int(row[0])
    if expect_last_move is not None:
        last = c.execute(
            "SELECT MAX(id) FROM alias_history WHERE model_id = ? AND alias = ?",
            (model_id, alias),
        ).fetchone()[0]
        if last != expect_last_move:
            raise ConflictError(
                f"alias {model}@{alias} moved while this command ran (now v{current})",
                hint="check `shipyard alias history` and run the command again",
            )
    if to_version == current:
        return None
    if to_version is None:
        c.execute("DELETE FROM aliases WHERE model_id = ? AND name = ?", (model_id, alias))
    else:
        target = c.execute(
            "SELECT id FROM model_versions WHERE model_id = ? AND version = ?",
            (model_id, to_version),
        ).fetchone()
        if target is None:
            raise NotFoundError(
                f"model {model!r} has no version {to_version}",
                hint=f"`shipyard models versions {model}` lists them",
            )
        c.execute(
            "INSERT INTO aliases (model_id, name, version_id, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (model_id, name) DO UPDATE SET "
            "version_id = excluded.version_id, updated_at = excluded.updated_at",
            (model_id, alias, target[0], now),
        )
    move_id = int(
        c.execute(
            "INSERT INTO alias_history (model_id, alias, action, from_version, to_version, "
            "at, actor, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (model_id, alias, action, current, to_version, now, actor, reason),
        ).fetchone()[0]
    )
    insert_event(
        c,
        f"alias.{action}",
        actor,
        model,
        to_version,
        {
            "alias": alias,
            "from_version": current,
            "to_version": to_version,
            "reason": reason,
        },
        now,
    )
    return AliasMove(move_id, model, alias, action, current, to_version, now, actor, reason)
