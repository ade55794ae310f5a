{{/* The activity facts of every activity in the version-1 tables, keyed by
the orchestration name of the OrchestrationStarted of the execution that
scheduled it (as backfill_instance_facts.sql). */}}
INSERT INTO {{.DB}}.report_activity_facts (hour_ms, activity_name, orchestration_name, instance_id, execution_id, event_id,
    is_system, scheduled_at_ms, outcome, duration_ms, duration_bin, err_category, err_kind, err_message, row_version)
SELECT intDiv(scheduled_at_ms, 3600000) * 3600000, activity_name, s_name, instance_id, execution_id, event_id,
    is_system, scheduled_at_ms, outcome, d,
    toInt32(if(d < 0, -1, 1) * if(x < 64, x, 64 + (e - 6) * 32 + (bitShiftRight(x, e - 5) - 32))),
    ecat, ekind, emsg, row_version
FROM (
    SELECT instance_id, execution_id, event_id, activity_name, s_name, is_system, scheduled_at_ms, outcome, d, x,
        toInt64(arraySum(arrayMap(i -> toUInt64(bitShiftRight(x, i + 1) > 0), range(62)))) AS e,
        ecat, ekind, emsg, row_version
    FROM (
        SELECT instance_id, execution_id, event_id, activity_name, is_system, scheduled_at_ms, outcome,
            ifNull(duration_ms, 0) AS d,
            toInt64(least(abs(ifNull(duration_ms, 0)), 4611686018427387903)) AS x,
            visitParamExtractString(ifNull(error, ''), 'category') AS ecat,
            visitParamExtractString(ifNull(error, ''), 'kind') AS ekind,
            substringUTF8(visitParamExtractString(ifNull(error, ''), 'message'), 1, 1024) AS emsg,
            row_version
        FROM {{.DB}}.activities FINAL) AS f
    ALL INNER JOIN (
        SELECT instance_id, execution_id,
            tupleElement(min(tuple(toInt64(timestamp_ms), visitParamExtractString(payload, 'name'))), 2) AS s_name
        FROM {{.DB}}.history
        WHERE event_id = 1 AND event_type = 'OrchestrationStarted'
        GROUP BY instance_id, execution_id) AS s
    USING (instance_id, execution_id))
WHERE scheduled_at_ms >= 0
