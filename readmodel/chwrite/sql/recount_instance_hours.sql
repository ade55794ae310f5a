{{/* Instance facts into hour cells; .Cells: only the cells of the external
table _cells (hour_ms, orchestration_name, orchestration_version), else
all. */}}
INSERT INTO {{.DB}}.report_instance_cells ({{template "instance_cell_cols"}})
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
        FROM {{.DB}}.report_instance_facts_v3 FINAL{{if .Cells}}
        WHERE (hour_ms, orchestration_name, orchestration_version) IN _cells{{end}})
    GROUP BY hour_ms, orchestration_name, orchestration_version, err_category, err_kind, err_message)
GROUP BY hour_ms, orchestration_name, orchestration_version{{template "recount_settings"}}
