{{/* Instance counts (scanData; .Orchestration: of one orchestration). Each
shard counts its key range; the outer query sums them. */}}
SELECT sum(c), sum(run), sum(done), sum(failed), sum(cont) FROM (
{{- range $i, $s := .Shards}}
{{- if $i}}
UNION ALL{{end}}
SELECT count() AS c, countIf(status = 'Running') AS run, countIf(status = 'Completed') AS done,
		countIf(status = 'Failed') AS failed, countIf(execution_count > 1) AS cont
	FROM (SELECT status, execution_count, orchestration_name, deleted{{if $.Retain}}, updated_at_ms{{end}} FROM {{$.DB}}.instances FINAL {{template "shard_where" $s}})
	WHERE deleted = 0{{template "retained" $}}
	{{- if $.Orchestration}} AND orchestration_name = @orchestration{{end}}
{{- end}})
