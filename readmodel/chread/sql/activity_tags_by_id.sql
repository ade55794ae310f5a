{{/* The distinct activity tags of each id of _ids: the newest version of
each activity work item (any execution, pruned ones included) that carries
a tag and is not a tombstone of a deleted incarnation, as the activity_tag
list filter counts them (fragments.sql). */}}
SELECT instance_id, arraySort(groupUniqArray(assumeNotNull(t.1))) FROM (
	SELECT instance_id, argMax(tuple(tag, deleted), row_version) AS t
	FROM {{.DB}}.pending_work
	WHERE kind = 'activity' AND instance_id IN (SELECT id FROM _ids)
	GROUP BY instance_id, execution_id, correlation_id)
WHERE isNotNull(t.1) AND t.2 = 0
GROUP BY instance_id
