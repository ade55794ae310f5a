{{/* The stored events of the instances @ids (a parenthesized list). */}}
SELECT instance_id, execution_id, event_id, payload FROM {{.DB}}.history WHERE instance_id IN @ids
