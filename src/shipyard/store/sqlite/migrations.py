"""Schema migrations for the SQLite metadata store.

``PRAGMA user_version`` holds the number of migrations applied. Migrations are
append-only: never edit a released one, add the next. Each is a list of
statements applied in one transaction. ``store/postgres/migrations.py`` holds the
same schema in PostgreSQL's dialect: a new migration here needs its twin there.
"""

from __future__ import annotations

# 'SHPY' in ASCII: marks a database as Shipyard's, so a foreign SQLite file is refused.
APPLICATION_ID = 0x53485059

MIGRATIONS: list[list[str]] = [
    # 1: registry — models, immutable versions, aliases with history, append-only events.
    [
        """CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        )""",
        """CREATE TABLE model_versions (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models(id),
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
        """CREATE TRIGGER model_versions_immutable BEFORE UPDATE ON model_versions
           BEGIN SELECT RAISE(ABORT, 'model versions are immutable'); END""",
        """CREATE TRIGGER model_versions_kept BEFORE DELETE ON model_versions
           BEGIN SELECT RAISE(ABORT, 'model versions are immutable'); END""",
        """CREATE TABLE aliases (
            model_id INTEGER NOT NULL REFERENCES models(id),
            name TEXT NOT NULL,
            version_id INTEGER NOT NULL REFERENCES model_versions(id),
            updated_at TEXT NOT NULL,
            PRIMARY KEY (model_id, name)
        )""",
        """CREATE TABLE alias_history (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models(id),
            alias TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('set', 'rollback', 'delete')),
            from_version INTEGER,
            to_version INTEGER,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            reason TEXT NOT NULL
        )""",
        "CREATE INDEX alias_history_by_alias ON alias_history (model_id, alias, id)",
        """CREATE TRIGGER alias_history_append_only_u BEFORE UPDATE ON alias_history
           BEGIN SELECT RAISE(ABORT, 'alias history is append-only'); END""",
        """CREATE TRIGGER alias_history_append_only_d BEFORE DELETE ON alias_history
           BEGIN SELECT RAISE(ABORT, 'alias history is append-only'); END""",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            kind TEXT NOT NULL,
            model TEXT,
            version INTEGER,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_model ON events (model, id)",
        """CREATE TRIGGER events_append_only_u BEFORE UPDATE ON events
           BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
        """CREATE TRIGGER events_append_only_d BEFORE DELETE ON events
           BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
    ],
    # 2: pipeline runs, their stages, and the stage cache keyed by fingerprint.
    [
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            project TEXT NOT NULL,
            model TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
            started_at TEXT NOT NULL,
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
            name TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            target TEXT NOT NULL,
            host TEXT NOT NULL,
            port INTEGER NOT NULL,
            replicas INTEGER NOT NULL,
            alias TEXT NOT NULL,
            rollback_window REAL NOT NULL,
            options TEXT NOT NULL,
            desired TEXT NOT NULL,
            stable INTEGER,
            history TEXT NOT NULL,
            generation INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE rollouts (
            id INTEGER PRIMARY KEY,
            deployment TEXT NOT NULL,
            strategy TEXT NOT NULL,
            from_version INTEGER,
            to_version INTEGER NOT NULL,
            plan TEXT NOT NULL,
            state TEXT NOT NULL,
            step INTEGER NOT NULL,
            step_started_at REAL,
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
            deployment TEXT PRIMARY KEY,
            config TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE alert_states (
            deployment TEXT NOT NULL,
            rule TEXT NOT NULL,
            state TEXT NOT NULL,
            active_since REAL,
            value REAL,
            episode INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (deployment, rule)
        )""",
        "CREATE INDEX events_by_kind ON events (kind, id)",
    ],
    # 5: named API tokens with scopes, kept as salted hashes; a name is unique while unrevoked.
    [
        """CREATE TABLE tokens (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            scopes TEXT NOT NULL,
            salt TEXT NOT NULL,
            hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        )""",
        "CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL",
    ],
    # 6: a run may end 'paused' (its rollout waits for a person). SQLite cannot alter a
    # CHECK constraint: the table is rebuilt (the migration runs with foreign keys off).
    [
        """CREATE TABLE runs_new (
            id TEXT PRIMARY KEY,
            project TEXT NOT NULL,
            model TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('running', 'succeeded', 'paused', 'failed', 'interrupted')),
            started_at TEXT NOT NULL,
            finished_at TEXT,
            actor TEXT NOT NULL,
            trigger TEXT NOT NULL,
            git_commit TEXT,
            git_branch TEXT,
            git_dirty INTEGER,
            params TEXT NOT NULL,
            error TEXT
        )""",
        "INSERT INTO runs_new SELECT * FROM runs",
        "DROP TABLE runs",
        "ALTER TABLE runs_new RENAME TO runs",
        "CREATE INDEX runs_by_project ON runs (project, started_at)",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
