{{/* Instance hour cells into day cells; .Cells: only the hour cells in
_cells (every hour of each day cell touched), else all. The error lists of
the hours are concatenated, not merged: an error may appear once per hour,
and readers sum the counts of equal errors anyway (ARRAY JOIN, GROUP BY),
which a merge here would cost a second pass (a JOIN) for. */}}
INSERT INTO {{.DB}}.report_instance_cells ({{template "instance_cell_cols"}})
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
    FROM {{.DB}}.report_instance_cells FINAL
    WHERE grain_ms = 3600000{{if .Cells}} AND (grain_ms, bucket_ms, orchestration_name, orchestration_version) IN _cells{{end}})
GROUP BY day_ms, orchestration_name, orchestration_version{{template "recount_settings"}}
