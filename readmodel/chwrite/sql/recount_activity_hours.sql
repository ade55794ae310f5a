{{/* Activity facts into hour cells (.Cells as in recount_instance_hours).
Durations (sum, histogram) cover Completed and Failed activities, as
activity stats. A tombstone fact (deleted = 1, docs/deletions.md) counts in
v (its row_version replaced the fact's, so v still grows) and nowhere
else. */}}
INSERT INTO {{.DB}}.report_activity_cells ({{template "activity_cell_cols"}})
SELECT 3600000, hour_ms, activity_name, orchestration_name, any(sys1),
    sum(v1), sum(n1), sum(nc1), sum(nf1), sum(nx1), sum(s1),
    tupleElement(sumMap(tupleElement(h1, 1), tupleElement(h1, 2)) AS h, 1), tupleElement(h, 2),
    arrayMap(e -> tupleElement(e, 1), arraySort(groupArrayIf(tuple(err_category, err_kind, err_message, nf1), nf1 > 0)) AS errs),
    arrayMap(e -> tupleElement(e, 2), errs), arrayMap(e -> tupleElement(e, 3), errs), arrayMap(e -> tupleElement(e, 4), errs)
FROM (
    SELECT hour_ms, activity_name, orchestration_name, err_category, err_kind, err_message, any(is_system) AS sys1,
        sum(row_version) AS v1, countIf(deleted = 0) AS n1,
        countIf(outcome = 'Completed' AND deleted = 0) AS nc1, countIf(outcome = 'Failed' AND deleted = 0) AS nf1,
        countIf(outcome = 'Cancelled' AND deleted = 0) AS nx1,
        sumIf(duration_ms, outcome IN ('Completed', 'Failed') AND deleted = 0) AS s1,
        sumMapIf([duration_bin], [toUInt64(1)], outcome IN ('Completed', 'Failed') AND deleted = 0) AS h1
    FROM (
        SELECT hour_ms, activity_name, orchestration_name, is_system, outcome, duration_ms, duration_bin,
            err_category, err_kind, err_message, deleted, row_version
        FROM {{.DB}}.report_activity_facts_v3 FINAL{{if .Cells}}
        WHERE (hour_ms, activity_name, orchestration_name) IN _cells{{end}})
    GROUP BY hour_ms, activity_name, orchestration_name, err_category, err_kind, err_message)
GROUP BY hour_ms, activity_name, orchestration_name{{template "recount_settings"}}
