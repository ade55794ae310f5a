{{/* Drop one month (.Partition, YYYYMM) of .Table: the retention. */}}
ALTER TABLE {{.DB}}.{{.Table}} DROP PARTITION {{.Partition}}
