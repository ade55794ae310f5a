{{/* A copy left by migration 0005 run again after its swap (PartitionTables). */}}
DROP TABLE IF EXISTS {{.DB}}.{{.Table}}_p
