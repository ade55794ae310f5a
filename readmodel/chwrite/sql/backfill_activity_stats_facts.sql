{{/* Migration 0004's backfill (Writer.BackfillActivityStats): the live
activities (newest version per key, deleted = 0 after deduplicating) as
activity stats facts, at their versions, as facts.go's statsFacts writes
them. The hour is floored toward minus infinity (StatsHour). */}}
INSERT INTO {{.DB}}.activity_stats_facts (hour_ms, activity_name, instance_id, execution_id, event_id, scheduled_at_ms,
    orchestration_name, is_system, outcome, timed, duration_ms, deleted, row_version)
SELECT scheduled_at_ms - ((scheduled_at_ms % 3600000) + 3600000) % 3600000, activity_name, instance_id, execution_id, event_id,
    scheduled_at_ms, orchestration_name, is_system, outcome, t, if(t, ifNull(duration_ms, 0), 0), 0, row_version
FROM (
    SELECT instance_id, execution_id, event_id, activity_name, orchestration_name, is_system, scheduled_at_ms, outcome,
        duration_ms, outcome IN ('Completed', 'Failed') AND isNotNull(duration_ms) AS t, deleted, row_version
    FROM {{.DB}}.activities FINAL)
WHERE deleted = 0
