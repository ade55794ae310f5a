{{/* GET /v1/instances/count (countData): the instances passing the list's
filters, one row per key of .Key ('' without group_by), ordered by key.
Each shard (a key range: 18.16 reads one FINAL on one thread) counts its
own instances; an instance lives in one range, so the sums are exact. */}}
SELECT k, sum(n) FROM (
{{- range $i, $s := .Shards}}
{{- if $i}}
UNION ALL{{end}}
SELECT {{if $.Key}}{{$.Key}}{{else}}''{{end}} AS k, count() AS n FROM (
	SELECT instance_id, deleted, status, orchestration_name, orchestration_version, created_at_ms, parent_instance
		{{- if or $.UpdatedAfter $.UpdatedBefore}}, updated_at_ms{{end}}{{if $.CustomStatus}}, custom_status{{end}}{{if or $.ErrorKind $.ErrorCategory}}, error{{end}}
	FROM {{$.DB}}.instances FINAL
	WHERE {{template "shard_cond" $s}}{{template "list_inner" $}})
WHERE 1{{template "list_outer" $}}
GROUP BY k
{{- end}})
GROUP BY k
ORDER BY k
