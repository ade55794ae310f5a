{{/* Activity statistics (stats.go, ActivityStats) from the activity stats
pre-aggregate (migration 0004): the value -> count pairs of every recounted
cell not in _dirty, plus the facts (newest version, live) of the cells in
_dirty and of the hour holding @since when .Edge (then only those scheduled
at or after @since). Cells from @whole_from on when .Since. Percentiles:
the value at index ⌊q·n⌋ of the sorted durations: the first of the
(duration, count) pairs, sorted, whose cumulative count exceeds ⌊q·n⌋
(intDiv in integers, no float rounding). */}}
SELECT name, sched, done, failed, cancelled, total, tns,
    [tupleElement(arrayFirst((p, c) -> c > intDiv(tns * 50, 100), ps, cs), 1),
     tupleElement(arrayFirst((p, c) -> c > intDiv(tns * 95, 100), ps, cs), 1),
     tupleElement(arrayFirst((p, c) -> c > intDiv(tns * 99, 100), ps, cs), 1)]
FROM (
    SELECT name, sum(c) AS sched, sumIf(c, outc = 'Completed') AS done, sumIf(c, outc = 'Failed') AS failed,
        sumIf(c, outc = 'Cancelled') AS cancelled, sumIf(d * toInt64(c), tm = 1) AS total, sumIf(c, tm = 1) AS tns,
        arraySort(groupArrayIf(tuple(d, c), tm = 1)) AS ps, arrayCumSum(arrayMap(p -> tupleElement(p, 2), ps)) AS cs
    FROM (
        SELECT name, orch, sys, outc, tm, d, c
        FROM (
            SELECT hour_ms, activity_name AS name, orchestration_name AS a_orch, is_system AS a_sys, outcome AS a_outc,
                timed AS a_tm, duration_ms AS a_d, n AS a_c
            FROM {{.DB}}.activity_stats_cells FINAL
            WHERE 1{{if .Since}} AND hour_ms >= @whole_from{{end}}{{if .Dirty}} AND (hour_ms, activity_name) NOT IN _dirty{{end}})
        ARRAY JOIN a_orch AS orch, a_sys AS sys, a_outc AS outc, a_tm AS tm, a_d AS d, a_c AS c
        {{- if or .Dirty .Edge}}
        UNION ALL
        SELECT name, orch, sys, outc, tm, d, toUInt64(1) AS c
        FROM (
            SELECT activity_name AS name, orchestration_name AS orch, is_system AS sys, outcome AS outc, timed AS tm,
                duration_ms AS d, scheduled_at_ms, deleted
            FROM {{.DB}}.activity_stats_facts FINAL
            WHERE {{if .Dirty}}(hour_ms, activity_name) IN _dirty{{if .Edge}} OR {{end}}{{end}}{{if .Edge}}hour_ms = @edge{{end}})
        WHERE deleted = 0{{if .Since}} AND scheduled_at_ms >= @since{{end}}
        {{- end}})
    WHERE 1{{if .Orchestration}} AND orch = @orchestration{{end}}{{if not .IncludeSystem}} AND sys = 0{{end}}
    GROUP BY name)
ORDER BY name
