{{/* The partitions of table @table of database @db that hold data now
(active parts). */}}
SELECT DISTINCT partition FROM system.parts WHERE database = @db AND table = @table AND active
