{{/* The events of one instance's live incarnation (after @deleted_through,
the latest InstanceDeleted: docs/deletions.md), one copy per key, without
the pruned executions (@pruned). .Execution: one execution (@execution_id)
instead of all; .After: only those after (@after_x, @after_e); .Limit: at
most @limit of them. */}}
SELECT execution_id, event_id, payload FROM {{.DB}}.history_v3
WHERE instance_id = @id AND timestamp_ms > @deleted_through
	{{- if .Execution}} AND execution_id = @execution_id{{end}}
	{{- if .Pruned}} AND execution_id NOT IN @pruned{{end}}
	{{- if .After}} AND (execution_id > @after_x OR (execution_id = @after_x AND event_id > @after_e)){{end}}
ORDER BY execution_id, event_id
LIMIT 1 BY execution_id, event_id
{{- if .Limit}}
LIMIT @limit{{end}}
