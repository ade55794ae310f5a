{{/* The newest version of the row of each id of _ids, as instance.sql for
one id; the caller drops tombstones (deleted, docs/deletions.md). */}}
SELECT instance_id, t.1, t.2, t.3, t.4, t.5, t.6, t.7, t.8, t.9, t.10, t.11, t.12, t.13 FROM (
	SELECT instance_id,
		argMax(tuple(orchestration_name, orchestration_version, status, created_at_ms, updated_at_ms,
			execution_count, current_execution_id, parent_instance, parent_id, output, error, custom_status,
			deleted), row_version) AS t
	FROM {{.DB}}.instances
	WHERE instance_id IN (SELECT id FROM _ids)
	GROUP BY instance_id)
ORDER BY instance_id
