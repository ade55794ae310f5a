{{/* The newest version of each id of _ids and its problem category
(problems_top.go); tombstones and instances in no category are left out.
The innermost query renames the columns so that the aggregates can take
their names. */}}
SELECT instance_id, row_version, created_at_ms, updated_at_ms, cat FROM (
	SELECT instance_id, row_version, created_at_ms, updated_at_ms, deleted, {{template "problem_cat" .}} AS cat FROM (
		SELECT instance_id, max(rv) AS row_version, argMax(c, rv) AS created_at_ms, argMax(u, rv) AS updated_at_ms,
			argMax(s, rv) AS status, argMax(d, rv) AS deleted
		FROM (SELECT instance_id, row_version AS rv, created_at_ms AS c, updated_at_ms AS u, status AS s, deleted AS d
			FROM {{.DB}}.instances WHERE instance_id IN (SELECT id FROM _ids))
		GROUP BY instance_id))
WHERE deleted = 0 AND cat > 0
