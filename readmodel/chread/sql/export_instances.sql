{{/* Every instance passing the filters (listData without a cursor), in the
list order, streamed. */}}
SELECT {{template "instance_cols"}} FROM (
	SELECT {{template "instance_cols"}}, deleted FROM {{.DB}}.instances FINAL
	WHERE 1{{template "list_inner" .}})
WHERE 1{{template "list_outer" .}}
ORDER BY created_at_ms DESC, instance_id ASC
