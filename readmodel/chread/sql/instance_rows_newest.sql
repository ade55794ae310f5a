{{/* The newest full rows of _ids (picks whose version a merge replaced). */}}
SELECT {{template "instance_cols"}} FROM {{.DB}}.instances
WHERE instance_id IN (SELECT id FROM _ids)
ORDER BY instance_id, row_version DESC
LIMIT 1 BY instance_id
