-- Read model, version 3: source notices (InstanceDeleted, ExecutionsPruned;
-- EVENTS.md "Source notices", docs/deletions.md).
--
-- * deleted: the derived tables get a tombstone flag. The projector writes a
--   row with deleted = 1, at the instance's newest version, for every key an
--   earlier derivation could have written that is not live now (a deleted
--   instance, the executions, activities and work of a deleted incarnation,
--   pruned executions). Readers deduplicate first (newest version per key)
--   and drop deleted rows after, so a tombstone hides every older row of
--   its key. Old rows read as deleted = 0.
-- * notices: the notices themselves, so that the projector can derive an
--   instance again from its events and notices after a restart.
-- * history_v3, report_instance_facts_v3, report_activity_facts_v3: the
--   same tables with keys that let two incarnations of one instance id (an
--   id reused after its deletion starts again at execution 1, event 1)
--   coexist: timestamp_ms in the history key, the incarnation's start
--   (created_at_ms, scheduled_at_ms) in the facts' keys. 18.16 cannot change
--   a sorting key in place, so they are new tables, filled from the old ones
--   (idempotent: the copies collapse by their key and version; the facts
--   and the cells by the Go step at the end). The old tables are no longer
--   written or read. As with 0002, upgrade all
--   projectors together: an old projector still running writes to the old
--   tables only.
--
-- ALTER ... ADD COLUMN has no IF NOT EXISTS on 18.16; the migration runner
-- treats "column already exists" from an ADD COLUMN as done (schema.go).

ALTER TABLE {db}.instances ADD COLUMN deleted UInt8 DEFAULT 0;
ALTER TABLE {db}.executions ADD COLUMN deleted UInt8 DEFAULT 0;
ALTER TABLE {db}.activities ADD COLUMN deleted UInt8 DEFAULT 0;
ALTER TABLE {db}.pending_work ADD COLUMN deleted UInt8 DEFAULT 0;

CREATE TABLE IF NOT EXISTS {db}.notices (
    instance_id   String,
    notice_type   String,
    timestamp_ms  UInt64,
    execution_ids Array(UInt64),
    payload       String,
    stream_seq    UInt64
) ENGINE = ReplacingMergeTree
ORDER BY (instance_id, timestamp_ms, notice_type, execution_ids)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.history_v3 (
    instance_id   String,
    execution_id  UInt64,
    event_id      UInt64,
    event_type    String,
    timestamp_ms  UInt64,
    known         UInt8,
    payload       String,
    stream_seq    UInt64
) ENGINE = ReplacingMergeTree
ORDER BY (instance_id, execution_id, event_id, timestamp_ms)
SETTINGS index_granularity = 1024;

INSERT INTO {db}.history_v3 (instance_id, execution_id, event_id, event_type, timestamp_ms, known, payload, stream_seq)
SELECT instance_id, execution_id, event_id, event_type, timestamp_ms, known, payload, stream_seq
FROM {db}.history;

CREATE TABLE IF NOT EXISTS {db}.report_instance_facts_v3 (
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
ORDER BY (hour_ms, orchestration_name, orchestration_version, instance_id, created_at_ms)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.report_activity_facts_v3 (
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
    deleted            UInt8 DEFAULT 0,
    row_version        UInt64
) ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(toDateTime(intDiv(hour_ms, 1000)))
ORDER BY (hour_ms, activity_name, orchestration_name, instance_id, execution_id, event_id, scheduled_at_ms)
SETTINGS index_granularity = 1024;

-- Fill the version-3 facts from the version-2 ones and count every report
-- cell from them (readmodel/chwrite: Writer.MoveReportsToV3).
-- step: reports_v3
