{{/* The activity stats cells whose touches exceed what their newest recount
covered (chwrite/stats.go): their facts answer for them
(stats_activities.sql). With .Since only the cells from the hour holding
@since on. */}}
SELECT hour_ms, activity_name
FROM (
    SELECT hour_ms, activity_name, sum(touches) AS t
    FROM {{.DB}}.activity_stats_touches{{if .Since}}
    WHERE hour_ms >= @edge{{end}}
    GROUP BY hour_ms, activity_name) AS touched
ANY LEFT JOIN (
    SELECT hour_ms, activity_name, max(covered) AS c
    FROM {{.DB}}.activity_stats_recounts{{if .Since}}
    WHERE hour_ms >= @edge{{end}}
    GROUP BY hour_ms, activity_name) AS recounted USING (hour_ms, activity_name)
WHERE t > c
