{{/* Migration 0003: the version-2 instance facts into the version-3 table. */}}
INSERT INTO {{.DB}}.report_instance_facts_v3 (hour_ms, orchestration_name, orchestration_version, instance_id, created_at_ms,
    status, duration_ms, duration_bin, err_category, err_kind, err_message, row_version)
SELECT hour_ms, orchestration_name, orchestration_version, instance_id, created_at_ms,
    status, duration_ms, duration_bin, err_category, err_kind, err_message, row_version
FROM {{.DB}}.report_instance_facts
