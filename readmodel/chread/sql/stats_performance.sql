{{/* Durations of the Completed and Failed instances of @orchestration
(scanData; .Since: created at or after @since). An empty shard reports
min = max = 0: only shards with rows count. */}}
SELECT sum(n), sum(total), minIf(lo, n > 0), maxIf(hi, n > 0),
		quantilesExactMerge({{template "quantile_levels"}})(qs)
FROM (
{{- range $i, $s := .Shards}}
{{- if $i}}
UNION ALL{{end}}
SELECT count() AS n, sum(d) AS total, min(d) AS lo, max(d) AS hi,
		quantilesExactState({{template "quantile_levels"}})(d) AS qs FROM (
		SELECT assumeNotNull(duration_ms) AS d FROM (
			SELECT status, orchestration_name, created_at_ms, duration_ms, deleted{{if $.Retain}}, updated_at_ms{{end}} FROM {{$.DB}}.instances FINAL {{template "shard_where" $s}})
		WHERE deleted = 0{{template "retained" $}} AND orchestration_name = @orchestration AND status IN ('Completed', 'Failed') AND isNotNull(duration_ms)
			{{- if $.Since}} AND created_at_ms >= @since{{end}})
{{- end}})
