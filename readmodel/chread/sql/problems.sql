{{/* Every instance categorized (1 long-running, 2 stuck, 3 recent failure;
the categories exclude each other), the first @limit of each category
(scanData). Each shard keeps the first @limit of each category of its key
range; the outer query keeps the first @limit of each of all of them. */}}
SELECT instance_id, row_version, created_at_ms, cat FROM (
{{- range $i, $s := .Shards}}
{{- if $i}}
UNION ALL{{end}}
SELECT instance_id, row_version, created_at_ms, updated_at_ms,
		multiIf(status = 'Running' AND created_at_ms < @long_running_before, 1,
			status = 'Running' AND updated_at_ms < @stuck_before, 2,
			status = 'Failed' AND updated_at_ms >= @recent_failure_since, 3, 0) AS cat
	FROM (SELECT instance_id, row_version, status, created_at_ms, updated_at_ms, deleted FROM {{$.DB}}.instances FINAL {{template "shard_where" $s}})
	WHERE cat > 0 AND deleted = 0{{template "retained" $}}
	ORDER BY cat, updated_at_ms DESC, instance_id ASC
	LIMIT @limit BY cat
{{- end}})
ORDER BY cat, updated_at_ms DESC, instance_id ASC
LIMIT @limit BY cat
