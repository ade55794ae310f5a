{{/* The newest version of each execution of one instance, tombstones
(pruned executions, those of deleted incarnations: docs/deletions.md)
dropped after deduplicating. */}}
SELECT execution_id, t.1, t.2, t.3, t.4, t.5, t.6, t.7, t.8 FROM (
	SELECT execution_id,
		argMax(tuple(status, started_at_ms, completed_at_ms, last_event_at_ms, event_count,
			duration_ms, output, error, deleted), row_version) AS t
	FROM {{.DB}}.executions
	WHERE instance_id = @id
	GROUP BY execution_id)
WHERE t.9 = 0
ORDER BY execution_id
