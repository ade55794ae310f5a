{{/* /v1/problems' slower_than_usual (scanData): the live Running instances
created before @now − the p99 of their orchestration's durations (the
population of stats_performance.sql without since: Completed and Failed
with a duration), the first @limit by updated_at desc, then instance_id.
An orchestration without such durations has no row on the right, so its
instances are never listed. ALL, not ANY: the right side has one row per
name, and on current releases (26.5) ANY INNER JOIN also keeps one row per key of
the left side. Each shard reads its key range; percentiles
merge exactly (quantilesExactState/-Merge). */}}
SELECT instance_id, row_version, created_at_ms FROM (
	SELECT instance_id, row_version, created_at_ms, updated_at_ms, orchestration_name FROM (
	{{- range $i, $s := .Shards}}
	{{- if $i}}
	UNION ALL{{end}}
	SELECT instance_id, row_version, created_at_ms, updated_at_ms, orchestration_name FROM (
		SELECT instance_id, row_version, status, orchestration_name, created_at_ms, updated_at_ms, deleted
		FROM {{$.DB}}.instances FINAL {{template "shard_where" $s}})
	WHERE deleted = 0 AND status = 'Running'{{template "retained" $}}
	{{- end}})) AS running
ALL INNER JOIN (
	SELECT orchestration_name, arrayElement(quantilesExactMerge({{template "quantile_levels"}})(qs), 3) AS p99 FROM (
	{{- range $i, $s := .Shards}}
	{{- if $i}}
	UNION ALL{{end}}
	SELECT orchestration_name, quantilesExactState({{template "quantile_levels"}})(assumeNotNull(duration_ms)) AS qs FROM (
		SELECT status, orchestration_name, duration_ms, deleted{{if $.Retain}}, updated_at_ms{{end}} FROM {{$.DB}}.instances FINAL {{template "shard_where" $s}})
	WHERE deleted = 0 AND status IN ('Completed', 'Failed') AND isNotNull(duration_ms){{template "retained" $}}
	GROUP BY orchestration_name
	{{- end}})
	GROUP BY orchestration_name) AS usual USING (orchestration_name)
WHERE created_at_ms < @now - p99
ORDER BY updated_at_ms DESC, instance_id ASC
LIMIT @limit
