{{/* Activity statistics (scanData and the filters of activityStatsData).
Each shard aggregates its key range, exact quantiles as -State; the outer
query merges them (-Merge of an exact quantile is exact). */}}
SELECT name, sum(c), sum(done), sum(failed), sum(cancelled), sum(total), sum(timedN),
		quantilesExactIfMerge({{template "quantile_levels"}})(qs)
FROM (
{{- range $i, $s := .Shards}}
{{- if $i}}
UNION ALL{{end}}
SELECT activity_name AS name, count() AS c,
		countIf(outcome = 'Completed') AS done, countIf(outcome = 'Failed') AS failed, countIf(outcome = 'Cancelled') AS cancelled,
		sumIf(d, timed) AS total, countIf(timed) AS timedN,
		quantilesExactIfState({{template "quantile_levels"}})(d, timed) AS qs
	FROM (
		SELECT activity_name, orchestration_name, outcome, ifNull(duration_ms, 0) AS d,
			outcome IN ('Completed', 'Failed') AND isNotNull(duration_ms) AS timed,
			is_system, scheduled_at_ms, deleted
		FROM {{$.DB}}.activities FINAL {{template "shard_where" $s}})
	WHERE deleted = 0
		{{- if $.Orchestration}} AND orchestration_name = @orchestration{{end}}
		{{- if $.Since}} AND scheduled_at_ms >= @since{{end}}
		{{- if not $.IncludeSystem}} AND is_system = 0{{end}}
	GROUP BY name
{{- end}})
GROUP BY name
ORDER BY name
