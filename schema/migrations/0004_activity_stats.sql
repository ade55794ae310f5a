-- Read model, version 4: an exact pre-aggregate for GET /v1/stats/activities
-- (docs/activity-stats.md), so that the answer no longer reads every
-- activity with FINAL.
--
-- * activity_stats_facts: the live activities of the activities table (the
--   newest derivation's, deleted = 0), keyed by the hour of their scheduled
--   time and their name, which never change for one ActivityScheduled event
--   (scheduled_at_ms is in the key, so two incarnations of an id never share
--   a key). The orchestration name, outcome and duration are replaced by
--   newer derivations (ReplacingMergeTree(row_version)); an activity of a
--   deleted incarnation is rewritten as a tombstone (deleted = 1).
-- * activity_stats_cells: per (hour, activity name) a snapshot of its facts:
--   value -> count pairs per (orchestration, is_system, outcome, timed,
--   duration), versioned by v = the sum of the row_version of its facts.
--   Facts only enter a cell or move to a higher row_version, so v grows with
--   every change and ReplacingMergeTree(v) keeps the newest snapshot.
-- * activity_stats_touches, activity_stats_recounts: a write adds 1 to the
--   touches of every cell it changed, after their facts are committed; a
--   recount reads the touches of its cells before it reads their facts and
--   records them as covered after its snapshot is committed. A cell whose
--   touches exceed what its newest recount covered has facts that no
--   committed snapshot holds yet: a reader takes its facts instead of its
--   snapshot, so the answer stays exact while recounts lag. No clock is
--   involved, only counts.
--
-- Only ClickHouse 18.16 features are used.

CREATE TABLE IF NOT EXISTS {db}.activity_stats_facts (
    hour_ms            Int64,
    activity_name      String,
    instance_id        String,
    execution_id       UInt64,
    event_id           UInt64,
    scheduled_at_ms    Int64,
    orchestration_name String,
    is_system          UInt8,
    outcome            String,
    timed              UInt8,
    duration_ms        Int64,
    deleted            UInt8,
    row_version        UInt64
) ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(toDateTime(intDiv(hour_ms, 1000)))
ORDER BY (hour_ms, activity_name, instance_id, execution_id, event_id, scheduled_at_ms)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.activity_stats_cells (
    hour_ms            Int64,
    activity_name      String,
    v                  UInt64,
    orchestration_name Array(String),
    is_system          Array(UInt8),
    outcome            Array(String),
    timed              Array(UInt8),
    duration_ms        Array(Int64),
    n                  Array(UInt64)
) ENGINE = ReplacingMergeTree(v)
ORDER BY (hour_ms, activity_name)
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS {db}.activity_stats_touches (
    hour_ms       Int64,
    activity_name String,
    touches       UInt64
) ENGINE = SummingMergeTree((touches))
ORDER BY (hour_ms, activity_name)
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS {db}.activity_stats_recounts (
    hour_ms       Int64,
    activity_name String,
    covered       UInt64
) ENGINE = ReplacingMergeTree(covered)
ORDER BY (hour_ms, activity_name)
SETTINGS index_granularity = 256;

-- Fill the facts from the activities table and count every cell
-- (readmodel/chwrite: Writer.BackfillActivityStats).
-- step: activity_stats_backfill
