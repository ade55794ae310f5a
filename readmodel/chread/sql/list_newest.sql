{{/* The newest version (row_version, created_at) of each id of _ids whose
newest row passes the outer filters (listData). The innermost query renames
the columns so that the aggregates can take their names (ClickHouse resolves
an alias before a column); the filters stay outside the aggregation. The
Nullable columns are aggregated inside a one-element tuple: argMax skips a
NULL argument, and would answer an older version's value where the newest
row's is NULL; a tuple is never NULL, so tuple(x).1 is the newest row's x. */}}
SELECT instance_id, row_version, created_at_ms FROM (
	SELECT instance_id, max(rv) AS row_version, argMax(c, rv) AS created_at_ms,
		argMax(s, rv) AS status, argMax(o, rv) AS orchestration_name, argMax(d, rv) AS deleted,
		argMax(v, rv) AS orchestration_version, argMax(u, rv) AS updated_at_ms
		{{- if or .Parent .RootOnly}}, argMax(tuple(p), rv).1 AS parent_instance{{end}}
		{{- if .CustomStatus}}, argMax(tuple(cs), rv).1 AS custom_status{{end}}
		{{- if or .ErrorKind .ErrorCategory}}, argMax(tuple(er), rv).1 AS error{{end}}
	FROM (SELECT instance_id, row_version AS rv, created_at_ms AS c, status AS s, orchestration_name AS o, deleted AS d,
			orchestration_version AS v, updated_at_ms AS u
			{{- if or .Parent .RootOnly}}, parent_instance AS p{{end}}
			{{- if .CustomStatus}}, custom_status AS cs{{end}}
			{{- if or .ErrorKind .ErrorCategory}}, error AS er{{end}}
		FROM {{.DB}}.instances WHERE instance_id IN (SELECT id FROM _ids))
	GROUP BY instance_id)
WHERE 1{{template "list_outer" .}}
