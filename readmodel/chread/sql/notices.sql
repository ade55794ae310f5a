{{/* The source notices of one instance (docs/deletions.md). */}}
SELECT notice_type, timestamp_ms, execution_ids FROM {{.DB}}.notices WHERE instance_id = @id
