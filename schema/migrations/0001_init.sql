-- Read model, version 1. Every statement is idempotent (IF NOT EXISTS) so two
-- projectors starting together, or one started twice, converge. {db} is
-- replaced by the configured database name.
--
-- Exactly-once effect: derived tables are ReplacingMergeTree(row_version)
-- where row_version is the number of distinct events of the instance that the
-- row was derived from. The projector re-derives every row of an instance from
-- the instance's whole (deduplicated) history, so a re-delivered batch writes
-- the same rows with the same or a higher version and no count can double.
-- Readers deduplicate with argMax(..., row_version) or FINAL restricted by key.
-- Only engines and functions present in ClickHouse 18.16 are used here.

CREATE TABLE IF NOT EXISTS {db}.history (
    instance_id   String,
    execution_id  UInt64,
    event_id      UInt64,
    event_type    String,
    timestamp_ms  UInt64,
    known         UInt8,
    payload       String,
    stream_seq    UInt64
) ENGINE = ReplacingMergeTree
ORDER BY (instance_id, execution_id, event_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.instances (
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
    row_version                UInt64
) ENGINE = ReplacingMergeTree(row_version)
ORDER BY instance_id
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.executions (
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
    row_version        UInt64
) ENGINE = ReplacingMergeTree(row_version)
ORDER BY (instance_id, execution_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.activities (
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
    row_version        UInt64
) ENGINE = ReplacingMergeTree(row_version)
ORDER BY (instance_id, execution_id, event_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.pending_work (
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
    row_version     UInt64
) ENGINE = ReplacingMergeTree(row_version)
ORDER BY (instance_id, execution_id, kind, correlation_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.queue_snapshots (
    timestamp_ms       UInt64,
    orchestrator_queue UInt64,
    worker_queue       UInt64,
    timer_queue        UInt64,
    received_at        DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree
-- The whole snapshot is the key: merges collapse only identical copies, so
-- snapshots tied on timestamp_ms all survive and the reader's tie-break
-- (largest values, docs/semantics.md 11) gives the same answer before and
-- after merges.
ORDER BY (timestamp_ms, orchestrator_queue, worker_queue, timer_queue);
