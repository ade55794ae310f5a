{{/* Whether the newest version of one instance's row is a tombstone
(deleted, docs/deletions.md); no row: no instance. */}}
SELECT deleted FROM {{.DB}}.instances WHERE instance_id = @id ORDER BY row_version DESC LIMIT 1
