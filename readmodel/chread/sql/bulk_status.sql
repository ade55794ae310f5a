{{/* The newest status of each id of _ids and whether it is a tombstone
(docs/deletions.md). */}}
SELECT instance_id, t.1, t.2 FROM (
	SELECT instance_id, argMax(tuple(status, deleted), row_version) AS t FROM {{.DB}}.instances
	WHERE instance_id IN (SELECT id FROM _ids)
	GROUP BY instance_id)
