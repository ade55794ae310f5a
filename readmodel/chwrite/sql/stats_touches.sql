{{/* The touches of the activity stats cells (stats.go), of the cells of the
external table _cells (hour_ms, activity_name) when .Cells. */}}
SELECT hour_ms, activity_name, sum(touches)
FROM {{.DB}}.activity_stats_touches{{if .Cells}}
WHERE (hour_ms, activity_name) IN _cells{{end}}
GROUP BY hour_ms, activity_name
