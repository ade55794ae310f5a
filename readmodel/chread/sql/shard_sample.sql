{{/* One instance id in @modulus (by hash), to cut shards at. */}}
SELECT DISTINCT instance_id FROM {{.DB}}.instances WHERE cityHash64(instance_id) % @modulus = 0
