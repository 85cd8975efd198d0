"""Schema migrations for the PostgreSQL metadata store: SQLite's schema in PostgreSQL's dialect.

Migration N here is migration N of ``store/sqlite/migrations.py`` (same tables, columns,
constraints and indexes), so the shared SQL in ``store/sql/`` runs on both. The
dialect's differences: ``BIGSERIAL`` ids, ``DOUBLE PRECISION`` for SQLite's ``REAL``,
``COLLATE "C"`` on the text columns the stores sort or range-scan (so names and event
kinds order byte-wise, as in SQLite, whatever the database's locale), and the
immutability and append-only rules as one plpgsql function called by triggers
(``TRUNCATE`` is refused too).

The ``shipyard_schema`` table holds the number of migrations applied and the
application marker, as ``PRAGMA user_version`` and ``application_id`` do for SQLite.
Migrations are append-only: never edit a released one, add the next (in both files).
Statements run without parameters, so ``%`` and ``?`` are plain characters here.
"""

from __future__ import annotations

# Marks a database as Shipyard's, so a foreign one is refused.
APPLICATION = "shipyard"

SCHEMA_TABLE = """CREATE TABLE shipyard_schema (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    application TEXT NOT NULL,
    version INTEGER NOT NULL
)"""


MIGRATIONS: list[list[str]] = [
    # 1: registry — models, immutable versions, aliases with history, append-only events.
    [
        """CREATE FUNCTION shipyard_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               RAISE EXCEPTION USING MESSAGE = TG_ARGV[0],
                   ERRCODE = 'integrity_constraint_violation';
           END
           $$""",
        """CREATE TABLE models (
            id BIGSERIAL PRIMARY KEY,
            name TEXT COLLATE "C" NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        )""",
        """CREATE TABLE model_versions (
            id BIGSERIAL PRIMARY KEY,
            model_id BIGINT NOT NULL REFERENCES models(id),
            version INTEGER NOT NULL CHECK (version >= 1),
            flavor TEXT NOT NULL,
            entrypoint TEXT,
            content_digest TEXT NOT NULL,
            artifacts TEXT NOT NULL,
            params TEXT NOT NULL,
            metrics TEXT NOT NULL,
            tags TEXT NOT NULL,
            signature TEXT,
            lineage TEXT NOT NULL,
            description TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            UNIQUE (model_id, version),
            UNIQUE (model_id, content_digest)
        )""",
        """CREATE TRIGGER model_versions_kept BEFORE UPDATE OR DELETE ON model_versions
           FOR EACH ROW
           EXECUTE FUNCTION shipyard_refuse_change('model versions are immutable')""",
        """CREATE TRIGGER model_versions_not_truncated BEFORE TRUNCATE ON model_versions
           FOR EACH STATEMENT
           EXECUTE FUNCTION shipyard_refuse_change('model versions are immutable')""",
        """CREATE TABLE aliases (
            model_id BIGINT NOT NULL REFERENCES models(id),
            name TEXT COLLATE "C" NOT NULL,
            version_id BIGINT NOT NULL REFERENCES model_versions(id),
            updated_at TEXT NOT NULL,
            PRIMARY KEY (model_id, name)
        )""",
        """CREATE TABLE alias_history (
            id BIGSERIAL PRIMARY KEY,
            model_id BIGINT NOT NULL REFERENCES models(id),
            alias TEXT COLLATE "C" NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('set', 'rollback', 'delete')),
            from_version INTEGER,
            to_version INTEGER,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            reason TEXT NOT NULL
        )""",
        "CREATE INDEX alias_history_by_alias ON alias_history (model_id, alias, id)",
        """CREATE TRIGGER alias_history_kept BEFORE UPDATE OR DELETE ON alias_history
           FOR EACH ROW
           EXECUTE FUNCTION shipyard_refuse_change('alias history is append-only')""",
        """CREATE TRIGGER alias_history_not_truncated BEFORE TRUNCATE ON alias_history
           FOR EACH STATEMENT
           EXECUTE FUNCTION shipyard_refuse_change('alias history is append-only')""",
        """CREATE TABLE events (
            id BIGSERIAL PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            kind TEXT COLLATE "C" NOT NULL,
            model TEXT COLLATE "C",
            version INTEGER,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_model ON events (model, id)",
        """CREATE TRIGGER events_kept BEFORE UPDATE OR DELETE ON events
           FOR EACH ROW
           EXECUTE FUNCTION shipyard_refuse_change('events are append-only')""",
        """CREATE TRIGGER events_not_truncated BEFORE TRUNCATE ON events
           FOR EACH STATEMENT
           EXECUTE FUNCTION shipyard_refuse_change('events are append-only')""",
    ],
    # 2: pipeline runs, their stages, and the stage cache keyed by fingerprint.
    [
        """CREATE TABLE runs (
            id TEXT COLLATE "C" PRIMARY KEY,
            project TEXT COLLATE "C" NOT NULL,
            model TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
            started_at TEXT COLLATE "C" NOT NULL,
            finished_at TEXT,
            actor TEXT NOT NULL,
            trigger TEXT NOT NULL,
            git_commit TEXT,
            git_branch TEXT,
            git_dirty INTEGER,
            params TEXT NOT NULL,
            error TEXT
        )""",
        "CREATE INDEX runs_by_project ON runs (project, started_at)",
        """CREATE TABLE run_stages (
            run_id TEXT NOT NULL REFERENCES runs(id),
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            fingerprint TEXT,
            started_at TEXT,
            finished_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            outputs TEXT NOT NULL DEFAULT '{}',
            metrics TEXT NOT NULL DEFAULT '{}',
            log_digest TEXT,
            error TEXT,
            PRIMARY KEY (run_id, name)
        )""",
        """CREATE TABLE stage_cache (
            fingerprint TEXT PRIMARY KEY,
            stage TEXT NOT NULL,
            outputs TEXT NOT NULL,
            metrics TEXT NOT NULL,
            run_id TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        )""",
    ],
    # 3: deployments (desired state), their rollouts, and the server process of each.
    [
        """CREATE TABLE deployments (
            name TEXT COLLATE "C" PRIMARY KEY,
            model TEXT NOT NULL,
            target TEXT NOT NULL,
            host TEXT NOT NULL,
            port INTEGER NOT NULL,
            replicas INTEGER NOT NULL,
            alias TEXT NOT NULL,
            rollback_window DOUBLE PRECISION NOT NULL,
            options TEXT NOT NULL,
            desired TEXT NOT NULL,
            stable INTEGER,
            history TEXT NOT NULL,
            generation INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE rollouts (
            id BIGSERIAL PRIMARY KEY,
            deployment TEXT NOT NULL,
            strategy TEXT NOT NULL,
            from_version INTEGER,
            to_version INTEGER NOT NULL,
            plan TEXT NOT NULL,
            state TEXT NOT NULL,
            step INTEGER NOT NULL,
            step_started_at DOUBLE PRECISION,
            baseline TEXT NOT NULL,
            analysis TEXT NOT NULL,
            error TEXT,
            actor TEXT NOT NULL,
            reason TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT
        )""",
        # at most one unfinished rollout per deployment: two deploys cannot interleave
        """CREATE UNIQUE INDEX rollouts_one_active ON rollouts (deployment)
           WHERE finished_at IS NULL""",
        "CREATE INDEX rollouts_by_deployment ON rollouts (deployment, id)",
        """CREATE TABLE deployment_processes (
            deployment TEXT PRIMARY KEY,
            pid INTEGER NOT NULL,
            boot_id TEXT NOT NULL,
            port INTEGER NOT NULL,
            admin_socket TEXT NOT NULL,
            token_file TEXT NOT NULL,
            log TEXT NOT NULL,
            started_at TEXT NOT NULL
        )""",
    ],
    # 4: monitoring — each deployment's rules and channels, and where each alert stands.
    [
        """CREATE TABLE monitors (
            deployment TEXT COLLATE "C" PRIMARY KEY,
            config TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE alert_states (
            deployment TEXT COLLATE "C" NOT NULL,
            rule TEXT COLLATE "C" NOT NULL,
            state TEXT NOT NULL,
            active_since DOUBLE PRECISION,
            value DOUBLE PRECISION,
            episode INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (deployment, rule)
        )""",
        "CREATE INDEX events_by_kind ON events (kind, id)",
    ],
    # 5: named API tokens with scopes, kept as salted hashes; a name is unique while unrevoked.
    [
        """CREATE TABLE tokens (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT NOT NULL,
            scopes TEXT NOT NULL,
            salt TEXT NOT NULL,
            hash TEXT NOT NULL,
            created_at TEXT COLLATE "C" NOT NULL,
            created_by TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        )""",
        "CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL",
    ],
    # 6: a run may end 'paused' (its rollout waits for a person).
    [
        """ALTER TABLE runs DROP CONSTRAINT runs_status_check,
            ADD CONSTRAINT runs_status_check
            CHECK (status IN ('running', 'succeeded', 'paused', 'failed', 'interrupted'))""",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
