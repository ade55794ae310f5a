{{/* The top of the raw table (list_top.go): every stored version that
passes the filters, in the list order (listData). */}}
SELECT instance_id, created_at_ms FROM {{.DB}}.instances
WHERE 1{{template "list_inner" .}}{{template "list_outer" .}}
ORDER BY created_at_ms DESC, instance_id ASC
LIMIT @top
