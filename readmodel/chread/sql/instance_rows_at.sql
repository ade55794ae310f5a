{{/* The full rows of _picks, each at the version the first phase saw. Each
(id, version) may be stored twice until merged; LIMIT 1 BY leaves one. */}}
SELECT {{template "instance_cols"}} FROM {{.DB}}.instances
WHERE (instance_id, row_version) IN (SELECT id, v FROM _picks)
LIMIT 1 BY instance_id
