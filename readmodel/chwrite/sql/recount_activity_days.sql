{{/* Activity hour cells into day cells (.Cells as in recount_instance_days;
error lists concatenated). */}}
INSERT INTO {{.DB}}.report_activity_cells ({{template "activity_cell_cols"}})
SELECT 86400000, intDiv(bucket_ms, 86400000) * 86400000 AS day_ms, activity_name, orchestration_name, any(is_system),
    sum(v), sum(started), sum(completed), sum(failed), sum(cancelled), sum(sum_duration_ms),
    tupleElement(sumMap(duration_bins, duration_counts) AS h, 1), tupleElement(h, 2),
    arrayMap(e -> tupleElement(e, 1), arraySort(groupArrayArray(
        arrayMap((c, k, m, n) -> tuple(c, k, m, n), err_category, err_kind, err_message, err_count))) AS errs),
    arrayMap(e -> tupleElement(e, 2), errs), arrayMap(e -> tupleElement(e, 3), errs), arrayMap(e -> tupleElement(e, 4), errs)
FROM (
    SELECT bucket_ms, activity_name, orchestration_name, is_system, v, started, completed, failed, cancelled,
        sum_duration_ms, duration_bins, duration_counts, err_category, err_kind, err_message, err_count
    FROM {{.DB}}.report_activity_cells FINAL
    WHERE grain_ms = 3600000{{if .Cells}} AND (grain_ms, bucket_ms, activity_name, orchestration_name) IN _cells{{end}})
GROUP BY day_ms, activity_name, orchestration_name{{template "recount_settings"}}
