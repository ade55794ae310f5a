{{/* The stored notices of the instances @ids (a parenthesized list), one
copy each (a notice is its own key). */}}
SELECT DISTINCT instance_id, notice_type, timestamp_ms, execution_ids FROM {{.DB}}.notices WHERE instance_id IN @ids
