{{/* The pending counters of Running instances (scanData). */}}
SELECT sum(a), sum(t), sum(e), sum(s) FROM (
{{- range $i, $s := .Shards}}
{{- if $i}}
UNION ALL{{end}}
SELECT sum(pending_activities) AS a, sum(pending_timers) AS t, sum(pending_events) AS e,
		sum(pending_sub_orchestrations) AS s
	FROM (SELECT status, pending_activities, pending_timers, pending_events, pending_sub_orchestrations, deleted{{if $.Retain}}, updated_at_ms{{end}}
		FROM {{$.DB}}.instances FINAL {{template "shard_where" $s}})
	WHERE status = 'Running' AND deleted = 0{{template "retained" $}}
{{- end}})
