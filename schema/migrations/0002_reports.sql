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

-- Backfill the facts from the version-1 tables. The group dimensions and the
-- bucket come from the stored OrchestrationStarted events (event 1), exactly
-- what the writer keys them by; duration_bin is readmodel.DurationBin
-- written in SQL (docs/reports.md), err_message the first 1024 characters.
INSERT INTO {db}.report_instance_facts (hour_ms, orchestration_name, orchestration_version, instance_id, created_at_ms,
    status, duration_ms, duration_bin, err_category, err_kind, err_message, row_version)
SELECT intDiv(created_at_ms, 3600000) * 3600000, s_name, s_version, instance_id, created_at_ms,
    status, d, toInt32(if(d < 0, -1, 1) * if(x < 64, x, 64 + (e - 6) * 32 + (bitShiftRight(x, e - 5) - 32))),
    ecat, ekind, emsg, row_version
FROM (
    SELECT instance_id, created_at_ms, s_name, s_version, status, d, x,
        toInt64(arraySum(arrayMap(i -> toUInt64(bitShiftRight(x, i + 1) > 0), range(62)))) AS e,
        ecat, ekind, emsg, row_version
    FROM (
        SELECT instance_id, status, ifNull(duration_ms, 0) AS d,
            toInt64(least(abs(ifNull(duration_ms, 0)), 4611686018427387903)) AS x,
            visitParamExtractString(ifNull(error, ''), 'category') AS ecat,
            visitParamExtractString(ifNull(error, ''), 'kind') AS ekind,
            substringUTF8(visitParamExtractString(ifNull(error, ''), 'message'), 1, 1024) AS emsg,
            row_version
        FROM {db}.instances FINAL) AS f
    ALL INNER JOIN (
        SELECT instance_id, tupleElement(s, 1) AS created_at_ms, tupleElement(s, 2) AS s_name, tupleElement(s, 3) AS s_version
        FROM (
            SELECT instance_id, min(tuple(toInt64(timestamp_ms), visitParamExtractString(payload, 'name'),
                visitParamExtractString(payload, 'version'))) AS s
            FROM {db}.history
            WHERE execution_id = 1 AND event_id = 1 AND event_type = 'OrchestrationStarted'
            GROUP BY instance_id)) AS s
    USING instance_id)
WHERE created_at_ms >= 0;

INSERT INTO {db}.report_activity_facts (hour_ms, activity_name, orchestration_name, instance_id, execution_id, event_id,
    is_system, scheduled_at_ms, outcome, duration_ms, duration_bin, err_category, err_kind, err_message, row_version)
SELECT intDiv(scheduled_at_ms, 3600000) * 3600000, activity_name, s_name, instance_id, execution_id, event_id,
    is_system, scheduled_at_ms, outcome, d,
    toInt32(if(d < 0, -1, 1) * if(x < 64, x, 64 + (e - 6) * 32 + (bitShiftRight(x, e - 5) - 32))),
    ecat, ekind, emsg, row_version
FROM (
    SELECT instance_id, execution_id, event_id, activity_name, s_name, is_system, scheduled_at_ms, outcome, d, x,
        toInt64(arraySum(arrayMap(i -> toUInt64(bitShiftRight(x, i + 1) > 0), range(62)))) AS e,
        ecat, ekind, emsg, row_version
    FROM (
        SELECT instance_id, execution_id, event_id, activity_name, is_system, scheduled_at_ms, outcome,
            ifNull(duration_ms, 0) AS d,
            toInt64(least(abs(ifNull(duration_ms, 0)), 4611686018427387903)) AS x,
            visitParamExtractString(ifNull(error, ''), 'category') AS ecat,
            visitParamExtractString(ifNull(error, ''), 'kind') AS ekind,
            substringUTF8(visitParamExtractString(ifNull(error, ''), 'message'), 1, 1024) AS emsg,
            row_version
        FROM {db}.activities FINAL) AS f
    ALL INNER JOIN (
        SELECT instance_id, execution_id,
            tupleElement(min(tuple(toInt64(timestamp_ms), visitParamExtractString(payload, 'name'))), 2) AS s_name
        FROM {db}.history
        WHERE event_id = 1 AND event_type = 'OrchestrationStarted'
        GROUP BY instance_id, execution_id) AS s
    USING (instance_id, execution_id))
WHERE scheduled_at_ms >= 0;

-- Backfill the cells: hour cells from the facts, then day cells from the
-- hour cells (the same order as the writer).
INSERT INTO {db}.report_instance_cells (grain_ms, bucket_ms, orchestration_name, orchestration_version, v, started, completed, failed,
    sum_completed_ms, sum_failed_ms, completed_bins, completed_counts, failed_bins, failed_counts,
    err_category, err_kind, err_message, err_count)
SELECT 3600000, hour_ms, orchestration_name, orchestration_version,
    sum(v1), sum(n1), sum(nc1), sum(nf1), sum(sc1), sum(sf1),
    tupleElement(sumMap(tupleElement(hc1, 1), tupleElement(hc1, 2)) AS hc, 1), tupleElement(hc, 2),
    tupleElement(sumMap(tupleElement(hf1, 1), tupleElement(hf1, 2)) AS hf, 1), tupleElement(hf, 2),
    arrayMap(e -> tupleElement(e, 1), arraySort(groupArrayIf(tuple(err_category, err_kind, err_message, nf1), nf1 > 0)) AS errs),
    arrayMap(e -> tupleElement(e, 2), errs), arrayMap(e -> tupleElement(e, 3), errs), arrayMap(e -> tupleElement(e, 4), errs)
FROM (
    SELECT hour_ms, orchestration_name, orchestration_version, err_category, err_kind, err_message,
        sum(row_version) AS v1, count() AS n1,
        countIf(status = 'Completed') AS nc1, countIf(status = 'Failed') AS nf1,
        sumIf(duration_ms, status = 'Completed') AS sc1, sumIf(duration_ms, status = 'Failed') AS sf1,
        sumMapIf([duration_bin], [toUInt64(1)], status = 'Completed') AS hc1,
        sumMapIf([duration_bin], [toUInt64(1)], status = 'Failed') AS hf1
    FROM (
        SELECT hour_ms, orchestration_name, orchestration_version, status, duration_ms, duration_bin,
            err_category, err_kind, err_message, row_version
        FROM {db}.report_instance_facts FINAL)
    GROUP BY hour_ms, orchestration_name, orchestration_version, err_category, err_kind, err_message)
GROUP BY hour_ms, orchestration_name, orchestration_version
SETTINGS enable_optimize_predicate_expression = 0;

INSERT INTO {db}.report_instance_cells (grain_ms, bucket_ms, orchestration_name, orchestration_version, v, started, completed, failed,
    sum_completed_ms, sum_failed_ms, completed_bins, completed_counts, failed_bins, failed_counts,
    err_category, err_kind, err_message, err_count)
SELECT 86400000, intDiv(bucket_ms, 86400000) * 86400000 AS day_ms, orchestration_name, orchestration_version,
    sum(v), sum(started), sum(completed), sum(failed), sum(sum_completed_ms), sum(sum_failed_ms),
    tupleElement(sumMap(completed_bins, completed_counts) AS hc, 1), tupleElement(hc, 2),
    tupleElement(sumMap(failed_bins, failed_counts) AS hf, 1), tupleElement(hf, 2),
    arrayMap(e -> tupleElement(e, 1), arraySort(groupArrayArray(
        arrayMap((c, k, m, n) -> tuple(c, k, m, n), err_category, err_kind, err_message, err_count))) AS errs),
    arrayMap(e -> tupleElement(e, 2), errs), arrayMap(e -> tupleElement(e, 3), errs), arrayMap(e -> tupleElement(e, 4), errs)
FROM (
    SELECT bucket_ms, orchestration_name, orchestration_version, v, started, completed, failed,
        sum_completed_ms, sum_failed_ms, completed_bins, completed_counts, failed_bins, failed_counts,
        err_category, err_kind, err_message, err_count
    FROM {db}.report_instance_cells FINAL
    WHERE grain_ms = 3600000)
GROUP BY day_ms, orchestration_name, orchestration_version
SETTINGS enable_optimize_predicate_expression = 0;

INSERT INTO {db}.report_activity_cells (grain_ms, bucket_ms, activity_name, orchestration_name, is_system, v, started, completed, failed, cancelled,
    sum_duration_ms, duration_bins, duration_counts, err_category, err_kind, err_message, err_count)
SELECT 3600000, hour_ms, activity_name, orchestration_name, any(sys1),
    sum(v1), sum(n1), sum(nc1), sum(nf1), sum(nx1), sum(s1),
    tupleElement(sumMap(tupleElement(h1, 1), tupleElement(h1, 2)) AS h, 1), tupleElement(h, 2),
    arrayMap(e -> tupleElement(e, 1), arraySort(groupArrayIf(tuple(err_category, err_kind, err_message, nf1), nf1 > 0)) AS errs),
    arrayMap(e -> tupleElement(e, 2), errs), arrayMap(e -> tupleElement(e, 3), errs), arrayMap(e -> tupleElement(e, 4), errs)
FROM (
    SELECT hour_ms, activity_name, orchestration_name, err_category, err_kind, err_message, any(is_system) AS sys1,
        sum(row_version) AS v1, count() AS n1,
        countIf(outcome = 'Completed') AS nc1, countIf(outcome = 'Failed') AS nf1, countIf(outcome = 'Cancelled') AS nx1,
        sumIf(duration_ms, outcome IN ('Completed', 'Failed')) AS s1,
        sumMapIf([duration_bin], [toUInt64(1)], outcome IN ('Completed', 'Failed')) AS h1
    FROM (
        SELECT hour_ms, activity_name, orchestration_name, is_system, outcome, duration_ms, duration_bin,
            err_category, err_kind, err_message, row_version
        FROM {db}.report_activity_facts FINAL)
    GROUP BY hour_ms, activity_name, orchestration_name, err_category, err_kind, err_message)
GROUP BY hour_ms, activity_name, orchestration_name
SETTINGS enable_optimize_predicate_expression = 0;

INSERT INTO {db}.report_activity_cells (grain_ms, bucket_ms, activity_name, orchestration_name, is_system, v, started, completed, failed, cancelled,
    sum_duration_ms, duration_bins, duration_counts, err_category, err_kind, err_message, err_count)
SELECT 86400000, intDiv(bucket_ms, 86400000) * 86400000 AS day_ms, activity_name, orchestration_name, any(is_system),
    sum(v), sum(started), sum(completed), sum(failed), sum(cancelled), sum(sum_duration_ms),
    tupleElement(sumMap(duration_bins, duration_counts) AS h, 1), tupleElement(h, 2),
    arrayMap(e -> tupleElement(e, 1), arraySort(groupArrayArray(
        arrayMap((c, k, m, n) -> tuple(c, k, m, n), err_category, err_kind, err_message, err_count))) AS errs),
    arrayMap(e -> tupleElement(e, 2), errs), arrayMap(e -> tupleElement(e, 3), errs), arrayMap(e -> tupleElement(e, 4), errs)
FROM (
    SELECT bucket_ms, activity_name, orchestration_name, is_system, v, started, completed, failed, cancelled,
        sum_duration_ms, duration_bins, duration_counts, err_category, err_kind, err_message, err_count
    FROM {db}.report_activity_cells FINAL
    WHERE grain_ms = 3600000)
GROUP BY day_ms, activity_name, orchestration_name
SETTINGS enable_optimize_predicate_expression = 0;
