{{/* Activity stats facts into their cells (stats.go): per (hour, activity
name) the value -> count pairs of the live facts by (orchestration,
is_system, outcome, timed, duration), sorted, and v = the sum of the
row_version of all its facts (tombstones included: their row_version
replaced the live fact's, so v still grows). .Cells restricts the recount
to the cells of the external table _cells (hour_ms, activity_name), a key
prefix of the facts. */}}
INSERT INTO {{.DB}}.activity_stats_cells (hour_ms, activity_name, v, orchestration_name, is_system, outcome, timed, duration_ms, n)
SELECT hour_ms, activity_name, sum(v1),
    arrayMap(g -> tupleElement(g, 1), arraySort(groupArrayIf(tuple(orchestration_name, is_system, outcome, timed, duration_ms, n1), n1 > 0)) AS gs),
    arrayMap(g -> tupleElement(g, 2), gs), arrayMap(g -> tupleElement(g, 3), gs), arrayMap(g -> tupleElement(g, 4), gs),
    arrayMap(g -> tupleElement(g, 5), gs), arrayMap(g -> tupleElement(g, 6), gs)
FROM (
    SELECT hour_ms, activity_name, orchestration_name, is_system, outcome, timed, duration_ms,
        sum(row_version) AS v1, toUInt64(countIf(deleted = 0)) AS n1
    FROM (
        SELECT hour_ms, activity_name, orchestration_name, is_system, outcome, timed, duration_ms, deleted, row_version
        FROM {{.DB}}.activity_stats_facts FINAL{{if .Cells}}
        WHERE (hour_ms, activity_name) IN _cells{{end}})
    GROUP BY hour_ms, activity_name, orchestration_name, is_system, outcome, timed, duration_ms)
GROUP BY hour_ms, activity_name{{template "recount_settings"}}
