{{/* Every stored copy of the instance rows of @ids (a parenthesized list),
every version: the caller keeps the newest version's copies, which are the
rows a reader's argMax / FINAL may answer. */}}
SELECT instance_id, row_version, deleted, orchestration_name, orchestration_version, status,
	created_at_ms, updated_at_ms, execution_count, current_execution_id, parent_instance, parent_id,
	output, error, custom_status, duration_ms, pending_activities, pending_timers, pending_events,
	pending_sub_orchestrations, event_count
FROM {{.DB}}.instances WHERE instance_id IN @ids
