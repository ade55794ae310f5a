{{/* Whether the newest version of one instance's row is a tombstone
(deleted, docs/deletions.md); no row: no instance. argMax, not ORDER BY
row_version DESC LIMIT 1, for the reason instance.sql gives. */}}
SELECT argMax(deleted, row_version) FROM {{.DB}}.instances WHERE instance_id = @id GROUP BY instance_id
