{{/* The live instances whose parent_instance is one of _ids: the newest
version of every row that ever named such a parent, then only those whose
newest version still names one and is not a tombstone (dedupe, then filter:
docs/deletions.md). argMax, not ORDER BY ... LIMIT 1, for the reason
instance.sql gives. */}}
SELECT instance_id, t.1, t.2, t.3, t.4, t.5, t.6, t.7, t.8, t.9, t.10, t.11, t.12 FROM (
	SELECT instance_id,
		argMax(tuple(orchestration_name, orchestration_version, status, created_at_ms, updated_at_ms,
			execution_count, current_execution_id, parent_instance, parent_id, output, error, custom_status,
			deleted), row_version) AS t
	FROM {{.DB}}.instances
	WHERE instance_id IN (SELECT instance_id FROM {{.DB}}.instances WHERE parent_instance IN (SELECT id FROM _ids))
	GROUP BY instance_id)
WHERE t.13 = 0 AND t.8 IN (SELECT id FROM _ids)
