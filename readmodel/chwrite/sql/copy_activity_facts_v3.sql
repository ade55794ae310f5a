{{/* Migration 0003: the version-2 activity facts into the version-3 table
(none is a tombstone). */}}
INSERT INTO {{.DB}}.report_activity_facts_v3 (hour_ms, activity_name, orchestration_name, instance_id, execution_id, event_id,
    is_system, scheduled_at_ms, outcome, duration_ms, duration_bin, err_category, err_kind, err_message, row_version)
SELECT hour_ms, activity_name, orchestration_name, instance_id, execution_id, event_id,
    is_system, scheduled_at_ms, outcome, duration_ms, duration_bin, err_category, err_kind, err_message, row_version
FROM {{.DB}}.report_activity_facts
