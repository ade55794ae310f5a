SELECT instance_id, argMax(status, row_version) FROM {{.DB}}.instances
WHERE instance_id IN (SELECT id FROM _ids)
GROUP BY instance_id
