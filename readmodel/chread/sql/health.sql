{{/* Instance counts by status, long-running (created before
@long_running_before) and recent failures (updated at or after
@recent_failure_since) (scanData). */}}
SELECT sum(c), sum(run), sum(done), sum(failed), sum(long), sum(recent) FROM (
{{- range $i, $s := .Shards}}
{{- if $i}}
UNION ALL{{end}}
SELECT count() AS c, countIf(status = 'Running') AS run, countIf(status = 'Completed') AS done,
		countIf(status = 'Failed') AS failed,
		countIf(status = 'Running' AND created_at_ms < @long_running_before) AS long,
		countIf(status = 'Failed' AND updated_at_ms >= @recent_failure_since) AS recent
	FROM (SELECT status, created_at_ms, updated_at_ms, deleted FROM {{$.DB}}.instances FINAL {{template "shard_where" $s}})
	WHERE deleted = 0{{template "retained" $}}
{{- end}})
