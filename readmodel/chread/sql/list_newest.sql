{{/* The newest version (row_version, created_at) of each id of _ids whose
newest row passes the outer filters (listData). The innermost query renames
the columns so that the aggregates can take their names (ClickHouse resolves
an alias before a column); the filters stay outside the aggregation. */}}
SELECT instance_id, row_version, created_at_ms FROM (
	SELECT instance_id, max(rv) AS row_version, argMax(c, rv) AS created_at_ms,
		argMax(s, rv) AS status, argMax(o, rv) AS orchestration_name, argMax(d, rv) AS deleted
	FROM (SELECT instance_id, row_version AS rv, created_at_ms AS c, status AS s, orchestration_name AS o, deleted AS d
		FROM {{.DB}}.instances WHERE instance_id IN (SELECT id FROM _ids))
	GROUP BY instance_id)
WHERE 1{{template "list_outer" .}}
