{{/* One page of GET /v1/stats/performance/instances (drilldown.go): the
instances stats_performance.sql measures (Completed and Failed of
@orchestration, with a duration; .Since: created at or after @since) whose
duration is at least @min_duration (.Min), by duration desc, then instance_id;
.After: strictly after (@after_duration, @after_id). Each shard keeps its
own first @limit; the outer query orders their union and cuts the page. */}}
SELECT instance_id, row_version, d FROM (
{{- range $i, $s := .Shards}}
{{- if $i}}
UNION ALL{{end}}
SELECT instance_id, row_version, assumeNotNull(duration_ms) AS d FROM (
	SELECT instance_id, row_version, status, orchestration_name, created_at_ms, duration_ms, deleted{{if $.Retain}}, updated_at_ms{{end}}
	FROM {{$.DB}}.instances FINAL {{template "shard_where" $s}})
WHERE deleted = 0{{template "retained" $}} AND orchestration_name = @orchestration AND status IN ('Completed', 'Failed') AND isNotNull(duration_ms)
	{{- if $.Min}} AND d >= @min_duration{{end}}
	{{- if $.Since}} AND created_at_ms >= @since{{end}}
	{{- if $.After}} AND (d < @after_duration OR (d = @after_duration AND instance_id > @after_id)){{end}}
ORDER BY d DESC, instance_id ASC
LIMIT @limit
{{- end}})
ORDER BY d DESC, instance_id ASC
LIMIT @limit
