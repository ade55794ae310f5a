-- Duroxide 0.1.29's SQLite schema, as its own migrations create it (dumped
-- from a file opened with the duroxide-linux-x64-gnu addon's JsSqliteProvider;
-- TestSchemaMatchesAddon checks it against the addon when it is installed).

CREATE TABLE _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);

CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY,
    orchestration_name TEXT NOT NULL,
    orchestration_version TEXT NOT NULL,
    current_execution_id INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
, parent_instance_id TEXT REFERENCES instances(instance_id), custom_status TEXT, custom_status_version INTEGER NOT NULL DEFAULT 0);

CREATE TABLE executions (
    instance_id TEXT NOT NULL,
    execution_id INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'Running',
    output TEXT,
    started_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    completed_at TIMESTAMP, duroxide_version_major INTEGER, duroxide_version_minor INTEGER, duroxide_version_patch INTEGER,
    PRIMARY KEY (instance_id, execution_id)
);

CREATE TABLE history (
    instance_id TEXT NOT NULL,
    execution_id INTEGER NOT NULL,
    event_id INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    event_data TEXT NOT NULL, -- JSON serialized Event
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (instance_id, execution_id, event_id)
);

CREATE TABLE orchestrator_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    work_item TEXT NOT NULL, -- JSON serialized WorkItem
    visible_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    lock_token TEXT,
    locked_until TIMESTAMP,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
, attempt_count INTEGER NOT NULL DEFAULT 0 CHECK(attempt_count >= 0));

CREATE INDEX idx_orch_visible ON orchestrator_queue(visible_at, lock_token);

CREATE INDEX idx_orch_instance ON orchestrator_queue(instance_id);

CREATE INDEX idx_orch_lock ON orchestrator_queue(lock_token);

CREATE TABLE worker_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    work_item TEXT NOT NULL, -- JSON serialized WorkItem
    lock_token TEXT,
    locked_until TIMESTAMP,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
, attempt_count INTEGER NOT NULL DEFAULT 0 CHECK(attempt_count >= 0), visible_at INTEGER NOT NULL DEFAULT 0, instance_id TEXT, execution_id INTEGER, activity_id INTEGER, session_id TEXT, tag TEXT);

CREATE INDEX idx_worker_available ON worker_queue(lock_token, id);

CREATE TABLE timer_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    work_item TEXT NOT NULL, -- JSON serialized WorkItem
    fire_at TIMESTAMP NOT NULL,
    lock_token TEXT,
    locked_until TIMESTAMP,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_timer_fire ON timer_queue(fire_at, lock_token);

CREATE TABLE instance_locks (
    instance_id TEXT PRIMARY KEY,
    lock_token TEXT NOT NULL,
    locked_until INTEGER NOT NULL,
    locked_at INTEGER NOT NULL
);

CREATE INDEX idx_worker_activity ON worker_queue(instance_id, execution_id, activity_id);

CREATE INDEX idx_instances_parent ON instances(parent_instance_id);

CREATE INDEX idx_worker_queue_session ON worker_queue(session_id);

CREATE TABLE sessions (
    session_id     TEXT PRIMARY KEY,
    worker_id      TEXT NOT NULL,
    locked_until   INTEGER NOT NULL,    -- ms since epoch (heartbeat lease)
    last_activity_at INTEGER NOT NULL   -- ms since epoch (last work flow)
);

CREATE INDEX idx_worker_queue_tag ON worker_queue(tag);

CREATE TABLE kv_delta (
    instance_id TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT,
    last_updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (instance_id, key)
);

CREATE TABLE "kv_store" (
    instance_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    last_updated_at_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (instance_id, key)
);
