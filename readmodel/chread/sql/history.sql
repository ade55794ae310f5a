{{/* The events of one instance's live incarnation (after @deleted_through,
the latest InstanceDeleted: docs/deletions.md), one copy per key, with
their execution (the caller drops pruned executions). .Execution: one
execution (@execution_id) instead of all. */}}
SELECT execution_id, payload FROM {{.DB}}.history_v3
WHERE instance_id = @id AND timestamp_ms > @deleted_through{{if .Execution}} AND execution_id = @execution_id{{end}}
ORDER BY execution_id, event_id
LIMIT 1 BY execution_id, event_id
