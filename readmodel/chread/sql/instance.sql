{{/* The newest version of one instance's row; the caller drops a
tombstone (deleted, docs/deletions.md). */}}
SELECT {{template "instance_cols"}}, deleted
FROM {{.DB}}.instances
WHERE instance_id = @id
ORDER BY row_version DESC
LIMIT 1
