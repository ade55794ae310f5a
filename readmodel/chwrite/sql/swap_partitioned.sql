{{/* Migration 0005's swap (PartitionTables): the partitioned copy takes the
table's name, the old table is kept as <name>_unpartitioned. */}}
RENAME TABLE {{.DB}}.{{.Table}} TO {{.DB}}.{{.Table}}_unpartitioned, {{.DB}}.{{.Table}}_p TO {{.DB}}.{{.Table}}
