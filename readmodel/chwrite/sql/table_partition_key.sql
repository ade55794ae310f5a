{{/* The partition key of table @table of database @db ('' = unpartitioned;
no row = no such table). */}}
SELECT partition_key FROM system.tables WHERE database = @db AND name = @table
