{{/* The stored events of the instances @ids (a parenthesized list), every
copy: the caller keeps one per (execution_id, event_id, timestamp_ms). */}}
SELECT instance_id, execution_id, event_id, timestamp_ms, payload FROM {{.DB}}.history_v3 WHERE instance_id IN @ids
