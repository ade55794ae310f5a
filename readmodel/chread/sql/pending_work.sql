{{/* The work items of one execution, deduplicated by key, keeping those
whose newest version is pending and not a tombstone (docs/deletions.md).
(A pending=1 row superseded by a newer pending=0 row must not show;
filtering pending before deduplicating would show it.) Only keys with some
pending version are aggregated: a key whose newest version is pending has
one, and an execution of 100,000 finished items reads their key columns,
not their inputs. */}}
SELECT kind, correlation_id, t.2, t.3, t.4, t.5, t.6, t.7, t.8, t.9 FROM (
	SELECT kind, correlation_id,
		argMax(tuple(pending, name, input, tag, child_instance, persistent,
			scheduled_at_ms, fire_at_ms, delay_ms, deleted), row_version) AS t
	FROM {{.DB}}.pending_work
	PREWHERE instance_id = @id AND execution_id = @execution_id
		AND (kind, correlation_id) IN (SELECT kind, correlation_id FROM {{.DB}}.pending_work
			WHERE instance_id = @id AND execution_id = @execution_id AND pending = 1)
	GROUP BY kind, correlation_id)
WHERE t.1 = 1 AND t.10 = 0
ORDER BY correlation_id, kind
