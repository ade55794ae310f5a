{{/* Minute buckets of instances from the facts (exact percentiles): the
hours from @from_hour, instances created in [@from, @to). */}}
SELECT {{template "bucket" "created_at_ms"}} AS b,
		{{if .ByVersion}}orchestration_version{{else if .ByStatus}}status{{else}}orchestration_name{{end}} AS g,
		count(), countIf(status = 'Running'), countIf(status = 'Completed'), countIf(status = 'Failed'),
		sumIf(duration_ms, status IN ('Completed', 'Failed')),
		quantilesExactIf({{template "quantile_levels"}})(duration_ms, status IN ('Completed', 'Failed'))
	FROM (
		SELECT created_at_ms, orchestration_name, orchestration_version, status, duration_ms
		FROM {{.DB}}.report_instance_facts_v3 FINAL
		WHERE hour_ms >= @from_hour AND hour_ms < @to
			{{- if .Orchestration}} AND orchestration_name = @orchestration{{end}})
	WHERE created_at_ms >= @from AND created_at_ms < @to
		{{- if .Statuses}} AND status IN @statuses{{end}}
	GROUP BY b, g ORDER BY b, g
