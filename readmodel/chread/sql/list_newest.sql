{{/* The newest version (row_version, created_at) of each id of _ids whose
newest row passes the outer filters (listData; never those on Nullable
columns, which topPicks does not take: argMax skips NULLs). The innermost query renames
the columns so that the aggregates can take their names (ClickHouse resolves
an alias before a column); the filters stay outside the aggregation. */}}
SELECT instance_id, row_version, created_at_ms FROM (
	SELECT instance_id, max(rv) AS row_version, argMax(c, rv) AS created_at_ms,
		argMax(s, rv) AS status, argMax(o, rv) AS orchestration_name, argMax(d, rv) AS deleted,
		argMax(v, rv) AS orchestration_version, argMax(u, rv) AS updated_at_ms
	FROM (SELECT instance_id, row_version AS rv, created_at_ms AS c, status AS s, orchestration_name AS o, deleted AS d,
			orchestration_version AS v, updated_at_ms AS u
		FROM {{.DB}}.instances WHERE instance_id IN (SELECT id FROM _ids))
	GROUP BY instance_id)
WHERE 1{{template "list_outer" .}}
