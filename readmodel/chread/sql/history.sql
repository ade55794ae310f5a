{{/* .Execution: one execution (@execution_id) instead of all. */}}
SELECT payload FROM {{.DB}}.history
WHERE instance_id = @id{{if .Execution}} AND execution_id = @execution_id{{end}}
ORDER BY execution_id, event_id
LIMIT 1 BY execution_id, event_id
