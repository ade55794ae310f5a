{{/* The touches of the activity stats cells (stats.go): of the cells of the
external table _cells (hour_ms, activity_name) when .Cells, else of every
cell that has facts (0 for one never touched). */}}
{{- if .Cells}}
SELECT hour_ms, activity_name, sum(touches)
FROM {{.DB}}.activity_stats_touches
WHERE (hour_ms, activity_name) IN _cells
GROUP BY hour_ms, activity_name
{{- else}}
SELECT hour_ms, activity_name, t
FROM (SELECT DISTINCT hour_ms, activity_name FROM {{.DB}}.activity_stats_facts) AS cells
ANY LEFT JOIN (
    SELECT hour_ms, activity_name, sum(touches) AS t
    FROM {{.DB}}.activity_stats_touches
    GROUP BY hour_ms, activity_name) AS touched USING (hour_ms, activity_name)
{{- end}}
