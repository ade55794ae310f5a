{{/* Minute buckets of activities from the facts (exact percentiles): the
hours from @from_hour, activities scheduled in [@from, @to). */}}
SELECT {{template "bucket" "scheduled_at_ms"}} AS b, activity_name,
		count(), countIf(outcome = 'Completed'), countIf(outcome = 'Failed'), countIf(outcome = 'Cancelled'),
		sumIf(duration_ms, outcome IN ('Completed', 'Failed')),
		quantilesExactIf({{template "quantile_levels"}})(duration_ms, outcome IN ('Completed', 'Failed'))
	FROM (
		SELECT scheduled_at_ms, activity_name, orchestration_name, is_system, outcome, duration_ms, deleted
		FROM {{.DB}}.report_activity_facts_v3 FINAL
		WHERE hour_ms >= @from_hour AND hour_ms < @to
			{{- template "activity_key_filters" .}})
	WHERE scheduled_at_ms >= @from AND scheduled_at_ms < @to AND deleted = 0
		{{- if not .IncludeSystem}} AND is_system = 0{{end}}
	GROUP BY b, activity_name ORDER BY b, activity_name
