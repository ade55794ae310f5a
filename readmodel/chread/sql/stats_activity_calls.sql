{{/* One page of GET /v1/stats/activities/calls (drilldown.go): the live
timed facts (Completed and Failed, with a duration) of @activity, the
population stats_activities.sql measures, with its filters (.Since:
scheduled at or after @since, read from the hour holding it, @edge, on;
.Orchestration; not .IncludeSystem: no system calls), whose duration is at
least @min_duration (.Min), by duration desc, then instance_id, execution_id,
event_id; .After: strictly after the cursor. activity_name and hour_ms are
key columns (every version of a fact has the same), so they may restrict
the FINAL read; every other filter runs after its deduplication. */}}
SELECT instance_id, execution_id, event_id, orchestration_name, scheduled_at_ms, outcome, duration_ms FROM (
	SELECT instance_id, execution_id, event_id, orchestration_name, is_system, scheduled_at_ms, outcome, timed,
		duration_ms, deleted
	FROM {{.DB}}.activity_stats_facts FINAL
	WHERE activity_name = @activity{{if .Since}} AND hour_ms >= @edge{{end}})
WHERE deleted = 0 AND timed = 1
	{{- if .Min}} AND duration_ms >= @min_duration{{end}}
	{{- if .Since}} AND scheduled_at_ms >= @since{{end}}
	{{- if .Orchestration}} AND orchestration_name = @orchestration{{end}}
	{{- if not .IncludeSystem}} AND is_system = 0{{end}}
	{{- if .After}}
	AND (duration_ms < @after_duration OR (duration_ms = @after_duration AND (instance_id > @after_id
		OR (instance_id = @after_id AND (execution_id > @after_execution
		OR (execution_id = @after_execution AND event_id > @after_event))))))
	{{- end}}
ORDER BY duration_ms DESC, instance_id ASC, execution_id ASC, event_id ASC
LIMIT @limit
