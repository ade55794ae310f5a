{{/* The first phase of a list page from a FINAL scan (listData): only the
columns the active filters need, each shard keeping its own first
offset+limit+1 rows in the list order; the outer query orders their union
and cuts the page. */}}
SELECT instance_id, row_version, created_at_ms FROM (
{{- range $i, $s := .Shards}}
{{- if $i}}
UNION ALL{{end}}
SELECT instance_id, row_version, created_at_ms FROM (
	SELECT instance_id, row_version, created_at_ms, deleted
		{{- if $.Statuses}}, status{{end}}
		{{- if $.Orchestration}}, orchestration_name{{end}}
		{{- if or $.Parent $.RootOnly}}, parent_instance{{end}}{{template "list_more_cols" $}}
	FROM {{$.DB}}.instances FINAL
	WHERE {{template "shard_cond" $s}}{{template "list_inner" $}})
WHERE 1{{template "list_outer" $}}
ORDER BY created_at_ms DESC, instance_id ASC
LIMIT @need
{{- end}})
ORDER BY created_at_ms DESC, instance_id ASC
LIMIT @offset, @limit
