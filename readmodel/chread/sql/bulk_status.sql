{{/* The newest status of each id of _ids and whether it is a tombstone
(docs/deletions.md), and its updated_at (the retention). */}}
SELECT instance_id, t.1, t.2, t.3 FROM (
	SELECT instance_id, argMax(tuple(status, deleted, updated_at_ms), row_version) AS t FROM {{.DB}}.instances
	WHERE instance_id IN (SELECT id FROM _ids)
	GROUP BY instance_id)
