-- Read model, version 2: pre-aggregated reports (GET /v1/reports/*).
-- docs/reports.md explains the design; in short:
--
-- * report_*_facts: one narrow row per instance / activity, keyed by the hour
--   it is bucketed in and its group dimensions. Those come from events that
--   never change once projected (execution 1's OrchestrationStarted, event 1;
--   the ActivityScheduled event and its execution's OrchestrationStarted), so
--   a fact never changes its key; newer derivations replace the rest of it
--   (ReplacingMergeTree(row_version)), exactly like the tables of version 1.
-- * report_*_cells: per (grain, bucket, dimensions) a snapshot of the
--   aggregate of the cell's facts, versioned by v = sum of the row_version of
--   its facts. v grows with every change of the cell and equal v means equal
--   snapshots, so ReplacingMergeTree(v) keeps the newest whatever order
--   writers insert them in. The writer (readmodel.Writer.WriteDerived)
--   recounts every cell it touched after writing the facts: hour cells from
--   the facts, day cells from the hour cells.
--
-- The INSERT ... SELECT statements at the end backfill everything projected
-- before this migration. They are idempotent (they only add rows that the
-- version columns collapse), so re-running the migration, or two projectors
-- running it at once, changes nothing. The cell statements are the writer's
-- recount statements without the cell filter (TestReportBackfillStatementsMatch).
-- Only ClickHouse 18.16 features are used.

CREATE TABLE IF NOT EXISTS {db}.report_instance_facts (
    hour_ms               Int64,
    orchestration_name    String,
    orchestration_version String,
    instance_id           String,
    created_at_ms         Int64,
    status                String,
    duration_ms           Int64,
    duration_bin          Int32,
    err_category          String,
    err_kind              String,
    err_message           String,
    row_version           UInt64
) ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(toDateTime(intDiv(hour_ms, 1000)))
ORDER BY (hour_ms, orchestration_name, orchestration_version, instance_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.report_activity_facts (
    hour_ms            Int64,
    activity_name      String,
    orchestration_name String,
    instance_id        String,
    execution_id       UInt64,
    event_id           UInt64,
    is_system          UInt8,
    scheduled_at_ms    Int64,
    outcome            String,
    duration_ms        Int64,
    duration_bin       Int32,
    err_category       String,
    err_kind           String,
    err_message        String,
    row_version        UInt64
) ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(toDateTime(intDiv(hour_ms, 1000)))
ORDER BY (hour_ms, activity_name, orchestration_name, instance_id, execution_id, event_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.report_instance_cells (
    grain_ms              UInt32,
    bucket_ms             Int64,
    orchestration_name    String,
    orchestration_version String,
    v                     UInt64,
    started               UInt64,
    completed             UInt64,
    failed                UInt64,
    sum_completed_ms      Int64,
    sum_failed_ms         Int64,
    completed_bins        Array(Int32),
    completed_counts      Array(UInt64),
    failed_bins           Array(Int32),
    failed_counts         Array(UInt64),
    err_category          Array(String),
    err_kind              Array(String),
    err_message           Array(String),
    err_count             Array(UInt64)
) ENGINE = ReplacingMergeTree(v)
PARTITION BY toYYYYMM(toDateTime(intDiv(bucket_ms, 1000)))
ORDER BY (grain_ms, bucket_ms, orchestration_name, orchestration_version)
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS {db}.report_activity_cells (
    grain_ms           UInt32,
    bucket_ms          Int64,
    activity_name      String,
    orchestration_name String,
    is_system          UInt8,
    v                  UInt64,
    started            UInt64,
    completed          UInt64,
    failed             UInt64,
    cancelled          UInt64,
    sum_duration_ms    Int64,
    duration_bins      Array(Int32),
    duration_counts    Array(UInt64),
    err_category       Array(String),
    err_kind           Array(String),
    err_message        Array(String),
    err_count          Array(UInt64)
) ENGINE = ReplacingMergeTree(v)
PARTITION BY toYYYYMM(toDateTime(intDiv(bucket_ms, 1000)))
ORDER BY (grain_ms, bucket_ms, activity_name, orchestration_name)
SETTINGS index_granularity = 256;

-- Backfill the report tables from the version-1 tables: the facts from the
-- instances, activities and stored OrchestrationStarted events, then every
-- cell from the facts. A Go step (schema.StepReportsBackfill), supplied by
-- the caller: it runs the writer's own statements (readmodel/chwrite,
-- BackfillReports), so the backfill and the live writer have one home.
-- step: reports_backfill
