{{/* The events of one instance's live incarnation (after @deleted_through,
the latest InstanceDeleted: docs/deletions.md), one copy per key, without
the pruned executions (@pruned). .Execution: one execution (@execution_id)
instead of all; .After: only those after (@after_x, @after_e); .Limit: at
most @limit of them.

A page of a huge history must not read every payload of the instance:
ClickHouse sorts before it limits, so the page's keys are chosen first from
the key columns alone, and PREWHERE reads payloads only in the granules
holding those keys. */}}
{{define "history_cond"}}instance_id = @id AND timestamp_ms > @deleted_through
	{{- if .Execution}} AND execution_id = @execution_id{{end}}
	{{- if .Pruned}} AND execution_id NOT IN @pruned{{end}}
	{{- if .After}} AND (execution_id > @after_x OR (execution_id = @after_x AND event_id > @after_e)){{end}}{{end}}
SELECT execution_id, event_id, payload FROM {{.DB}}.history_v3
PREWHERE {{template "history_cond" .}}
{{- if .Limit}} AND (execution_id, event_id) IN (
	SELECT execution_id, event_id FROM {{.DB}}.history_v3
	WHERE {{template "history_cond" .}}
	ORDER BY execution_id, event_id
	LIMIT 1 BY execution_id, event_id
	LIMIT @limit){{end}}
ORDER BY execution_id, event_id
LIMIT 1 BY execution_id, event_id
