SELECT {{template "instance_cols"}}
FROM {{.DB}}.instances
WHERE instance_id = @id
ORDER BY row_version DESC
LIMIT 1
