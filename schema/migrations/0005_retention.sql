-- Read model, version 5: tables partitioned so that the retention
-- (DUROSCOPE_RETENTION, README "Retention") drops whole months of rows with
-- ALTER TABLE ... DROP PARTITION (18.16 has no TTL, and a DELETE mutation
-- rewrites every part).
--
-- * instances, executions, activities, pending_work get a column
--   last_seen_ms: the latest timestamp of any event or notice of the
--   instance id that the row's derivation saw (projection.Rows.LastSeenMs).
--   Every derivation writes every key of the instance (live rows and
--   tombstones) with it, and a derivation from more events has a higher
--   row_version and a last_seen_ms at least as high, so the newest version
--   of every key is in the newest partition the instance has: dropping a
--   month that ended before the cutoff never removes the newest version of
--   an instance that keeps any row, and never uncovers an older version.
--   FINAL and argMax deduplicate across partitions (merges do not), so the
--   readers are unchanged.
-- * history_v3 and notices are partitioned by their own timestamp_ms: they
--   are written once per event, so the retention drops one of their months
--   only when no instance still kept has a row in it (chwrite.DropExpired).
--
-- 18.16 cannot add a partition key to a table, so each table is created
-- anew as <name>_p, filled from the old one (existing rows get the largest
-- updated_at_ms of their instance as last_seen_ms), and the Go step swaps
-- the names (the old table stays as <name>_unpartitioned, no longer written
-- or read: drop it once the upgrade is done). The copies are idempotent like
-- every backfill; the swap happens once (chwrite.Writer.PartitionTables).
-- Upgrade all projectors together, as for 0003. Only ClickHouse 18.16
-- features are used.

CREATE TABLE IF NOT EXISTS {db}.instances_p (
    instance_id                String,
    orchestration_name         String,
    orchestration_version      String,
    status                     String,
    created_at_ms              Int64,
    updated_at_ms              Int64,
    execution_count            UInt64,
    current_execution_id       UInt64,
    parent_instance            Nullable(String),
    parent_id                  Nullable(UInt64),
    output                     Nullable(String),
    error                      Nullable(String),
    custom_status              Nullable(String),
    duration_ms                Nullable(Int64),
    pending_activities         UInt32,
    pending_timers             UInt32,
    pending_events             UInt32,
    pending_sub_orchestrations UInt32,
    event_count                UInt64,
    deleted                    UInt8 DEFAULT 0,
    last_seen_ms               Int64,
    row_version                UInt64
) ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(toDateTime(intDiv(last_seen_ms, 1000)))
ORDER BY instance_id
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.executions_p (
    instance_id        String,
    execution_id       UInt64,
    orchestration_name String,
    status             String,
    started_at_ms      Int64,
    completed_at_ms    Nullable(Int64),
    last_event_at_ms   Int64,
    event_count        UInt64,
    duration_ms        Nullable(Int64),
    output             Nullable(String),
    error              Nullable(String),
    deleted            UInt8 DEFAULT 0,
    last_seen_ms       Int64,
    row_version        UInt64
) ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(toDateTime(intDiv(last_seen_ms, 1000)))
ORDER BY (instance_id, execution_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.activities_p (
    instance_id        String,
    execution_id       UInt64,
    event_id           UInt64,
    activity_name      String,
    orchestration_name String,
    is_system          UInt8,
    scheduled_at_ms    Int64,
    outcome            String,
    outcome_at_ms      Nullable(Int64),
    duration_ms        Nullable(Int64),
    error              Nullable(String),
    deleted            UInt8 DEFAULT 0,
    last_seen_ms       Int64,
    row_version        UInt64
) ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(toDateTime(intDiv(last_seen_ms, 1000)))
ORDER BY (instance_id, execution_id, event_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.pending_work_p (
    instance_id     String,
    execution_id    UInt64,
    kind            String,
    correlation_id  UInt64,
    pending         UInt8,
    name            String,
    input           String,
    tag             Nullable(String),
    child_instance  String,
    persistent      UInt8,
    scheduled_at_ms Int64,
    fire_at_ms      Int64,
    delay_ms        Int64,
    deleted         UInt8 DEFAULT 0,
    last_seen_ms    Int64,
    row_version     UInt64
) ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(toDateTime(intDiv(last_seen_ms, 1000)))
ORDER BY (instance_id, execution_id, kind, correlation_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.history_v3_p (
    instance_id   String,
    execution_id  UInt64,
    event_id      UInt64,
    event_type    String,
    timestamp_ms  UInt64,
    known         UInt8,
    payload       String,
    stream_seq    UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(timestamp_ms, 1000)))
ORDER BY (instance_id, execution_id, event_id, timestamp_ms)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.notices_p (
    instance_id   String,
    notice_type   String,
    timestamp_ms  UInt64,
    execution_ids Array(UInt64),
    payload       String,
    stream_seq    UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(timestamp_ms, 1000)))
ORDER BY (instance_id, timestamp_ms, notice_type, execution_ids)
SETTINGS index_granularity = 1024;

-- The copies: the instance's largest updated_at_ms as every row's last_seen_ms.

INSERT INTO {db}.instances_p (instance_id, orchestration_name, orchestration_version, status, created_at_ms, updated_at_ms,
    execution_count, current_execution_id, parent_instance, parent_id, output, error, custom_status,
    duration_ms, pending_activities, pending_timers, pending_events, pending_sub_orchestrations,
    event_count, deleted, row_version, last_seen_ms)
SELECT instance_id, orchestration_name, orchestration_version, status, created_at_ms, updated_at_ms,
    execution_count, current_execution_id, parent_instance, parent_id, output, error, custom_status,
    duration_ms, pending_activities, pending_timers, pending_events, pending_sub_orchestrations,
    event_count, deleted, row_version, last_seen_ms
FROM {db}.instances ANY LEFT JOIN (SELECT instance_id, max(updated_at_ms) AS last_seen_ms FROM {db}.instances GROUP BY instance_id) AS seen USING instance_id;

INSERT INTO {db}.executions_p (instance_id, execution_id, orchestration_name, status, started_at_ms, completed_at_ms,
    last_event_at_ms, event_count, duration_ms, output, error, deleted, row_version, last_seen_ms)
SELECT instance_id, execution_id, orchestration_name, status, started_at_ms, completed_at_ms,
    last_event_at_ms, event_count, duration_ms, output, error, deleted, row_version, last_seen_ms
FROM {db}.executions ANY LEFT JOIN (SELECT instance_id, max(updated_at_ms) AS last_seen_ms FROM {db}.instances GROUP BY instance_id) AS seen USING instance_id;

INSERT INTO {db}.activities_p (instance_id, execution_id, event_id, activity_name, orchestration_name, is_system,
    scheduled_at_ms, outcome, outcome_at_ms, duration_ms, error, deleted, row_version, last_seen_ms)
SELECT instance_id, execution_id, event_id, activity_name, orchestration_name, is_system,
    scheduled_at_ms, outcome, outcome_at_ms, duration_ms, error, deleted, row_version, last_seen_ms
FROM {db}.activities ANY LEFT JOIN (SELECT instance_id, max(updated_at_ms) AS last_seen_ms FROM {db}.instances GROUP BY instance_id) AS seen USING instance_id;

INSERT INTO {db}.pending_work_p (instance_id, execution_id, kind, correlation_id, pending, name, input, tag,
    child_instance, persistent, scheduled_at_ms, fire_at_ms, delay_ms, deleted, row_version, last_seen_ms)
SELECT instance_id, execution_id, kind, correlation_id, pending, name, input, tag,
    child_instance, persistent, scheduled_at_ms, fire_at_ms, delay_ms, deleted, row_version, last_seen_ms
FROM {db}.pending_work ANY LEFT JOIN (SELECT instance_id, max(updated_at_ms) AS last_seen_ms FROM {db}.instances GROUP BY instance_id) AS seen USING instance_id;

INSERT INTO {db}.history_v3_p (instance_id, execution_id, event_id, event_type, timestamp_ms, known, payload, stream_seq)
SELECT instance_id, execution_id, event_id, event_type, timestamp_ms, known, payload, stream_seq FROM {db}.history_v3;

INSERT INTO {db}.notices_p (instance_id, notice_type, timestamp_ms, execution_ids, payload, stream_seq)
SELECT instance_id, notice_type, timestamp_ms, execution_ids, payload, stream_seq FROM {db}.notices;

-- Swap the names: <name>_p becomes <name>, the old table <name>_unpartitioned
-- (readmodel/chwrite: Writer.PartitionTables).
-- step: retention_partitions
