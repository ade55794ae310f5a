{{/* Every stored copy of the execution rows of @ids (a parenthesized
list), every version: the caller keeps each execution's newest version. */}}
SELECT instance_id, execution_id, row_version, deleted, orchestration_name, status, started_at_ms,
	completed_at_ms, last_event_at_ms, event_count, duration_ms, output, error
FROM {{.DB}}.executions WHERE instance_id IN @ids
