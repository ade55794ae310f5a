{{/* Every stored instance id, without FINAL or DISTINCT (an id may come
more than once). */}}
SELECT instance_id FROM {{.DB}}.instances
