{{/* How many mutations of the instances and executions tables are not
done yet. */}}
SELECT count() FROM system.mutations
WHERE database = @db AND table IN ('instances', 'executions') AND is_done = 0
