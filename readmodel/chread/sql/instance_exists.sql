{{/* Whether the newest version of one instance's row is a tombstone
(deleted, docs/deletions.md), and its updated_at (the retention); no row:
no instance. argMax, not ORDER BY
row_version DESC LIMIT 1, for the reason instance.sql gives. */}}
SELECT t.1, t.2 FROM (SELECT argMax(tuple(deleted, updated_at_ms), row_version) AS t FROM {{.DB}}.instances WHERE instance_id = @id GROUP BY instance_id)
