package chwrite

// The report tables (schema/migrations/0002_reports.sql, docs/reports.md).
//
// Facts: one row per instance (report_instance_facts) and per activity
// (report_activity_facts), keyed by the hour they are bucketed in and their
// group dimensions, all taken from events that never change once projected
// (execution 1's OrchestrationStarted, the ActivityScheduled event and the
// OrchestrationStarted of the execution that scheduled it). The rest of a fact
// (status, outcome, duration, error) is replaced by newer derivations
// (ReplacingMergeTree(row_version)), but a fact never changes its key, so a
// cell's facts are exactly the rows under the cell's key prefix.
//
// Cells: per (grain, bucket, dimensions) a snapshot of the aggregate of the
// cell's facts (counts, exact duration sums, duration histograms, error
// counts), versioned by v = the sum of the row_version of the cell's newest
// facts. Facts only enter a cell or move to a higher row_version, so v grows
// with every change and two snapshots with the same v are the same snapshot:
// ReplacingMergeTree(v) keeps the newest, whatever order writers insert
// snapshots in. The cells a write touched are recounted after its facts are
// committed (WriteDerived at once; the projector from its recount stream), so
// the last recount of a cell sees its final contents. Hour cells
// are recounted from the facts, day cells from the hour cells.
//
// The statements below are shared by the live writer ({cells} = a filter on
// the cells touched, from the external table _cells) and by the backfill in
// migration 0002 ({cells} = ""): TestReportBackfillStatementsMatch keeps the
// migration's text identical to them.

// recountSettings keeps ClickHouse 18.16 from pushing the cell filter into
// places where it turns a key lookup into a scan (measured: 10 s instead of
// 50 ms on 5M facts).
const recountSettings = "\nSETTINGS enable_optimize_predicate_expression = 0"

const instanceCellCols = `grain_ms, bucket_ms, orchestration_name, orchestration_version, v, started, completed, failed,
    sum_completed_ms, sum_failed_ms, completed_bins, completed_counts, failed_bins, failed_counts,
    err_category, err_kind, err_message, err_count`

// instanceHourRecount aggregates instance facts into hour cells.
const instanceHourRecount = `INSERT INTO {db}.report_instance_cells (` + instanceCellCols + `)
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
        FROM {db}.report_instance_facts FINAL{cells})
    GROUP BY hour_ms, orchestration_name, orchestration_version, err_category, err_kind, err_message)
GROUP BY hour_ms, orchestration_name, orchestration_version` + recountSettings

// instanceHourCellsFilter restricts instanceHourRecount to the cells in _cells.
const instanceHourCellsFilter = `
        WHERE (hour_ms, orchestration_name, orchestration_version) IN _cells`

// instanceDayRecount aggregates hour cells into day cells. The error lists
// of the hours are concatenated, not merged: an error may appear once per
// hour, and readers sum the counts of equal errors anyway (ARRAY JOIN, GROUP
// BY), which a merge here would cost a second pass (a JOIN) for.
const instanceDayRecount = `INSERT INTO {db}.report_instance_cells (` + instanceCellCols + `)
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
    WHERE grain_ms = 3600000{cells})
GROUP BY day_ms, orchestration_name, orchestration_version` + recountSettings

// instanceDayCellsFilter restricts instanceDayRecount to the hour cells in
// _cells (every hour of each day cell touched).
const instanceDayCellsFilter = ` AND (grain_ms, bucket_ms, orchestration_name, orchestration_version) IN _cells`

const activityCellCols = `grain_ms, bucket_ms, activity_name, orchestration_name, is_system, v, started, completed, failed, cancelled,
    sum_duration_ms, duration_bins, duration_counts, err_category, err_kind, err_message, err_count`

// activityHourRecount aggregates activity facts into hour cells. Durations
// (sum, histogram) cover Completed and Failed activities, as activity stats.
const activityHourRecount = `INSERT INTO {db}.report_activity_cells (` + activityCellCols + `)
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
        FROM {db}.report_activity_facts FINAL{cells})
    GROUP BY hour_ms, activity_name, orchestration_name, err_category, err_kind, err_message)
GROUP BY hour_ms, activity_name, orchestration_name` + recountSettings

const activityHourCellsFilter = `
        WHERE (hour_ms, activity_name, orchestration_name) IN _cells`

// activityDayRecount aggregates activity hour cells into day cells (error
// lists concatenated, as instanceDayRecount).
const activityDayRecount = `INSERT INTO {db}.report_activity_cells (` + activityCellCols + `)
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
    WHERE grain_ms = 3600000{cells})
GROUP BY day_ms, activity_name, orchestration_name` + recountSettings

const activityDayCellsFilter = ` AND (grain_ms, bucket_ms, activity_name, orchestration_name) IN _cells`
