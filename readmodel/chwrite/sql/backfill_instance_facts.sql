{{/* The instance facts of every instance in the version-1 tables. The
group dimensions and the bucket come from the stored OrchestrationStarted
events (event 1), exactly what the writer keys them by (facts.go);
duration_bin is reportcells.DurationBin written in SQL (TestDurationBinSQL),
err_message the first 1024 characters (maxReportMessageChars). The join is
ALL INNER JOIN with aliased subqueries: the right side is one row per key,
and on servers since 19.14 ANY INNER JOIN would also keep one row per key of
the left side, and current servers require the aliases (ALIAS_REQUIRED,
issue 10). */}}
INSERT INTO {{.DB}}.report_instance_facts (hour_ms, orchestration_name, orchestration_version, instance_id, created_at_ms,
    status, duration_ms, duration_bin, err_category, err_kind, err_message, row_version)
SELECT intDiv(created_at_ms, 3600000) * 3600000, s_name, s_version, instance_id, created_at_ms,
    status, d, toInt32(if(d < 0, -1, 1) * if(x < 64, x, 64 + (e - 6) * 32 + (bitShiftRight(x, e - 5) - 32))),
    ecat, ekind, emsg, row_version
FROM (
    SELECT instance_id, created_at_ms, s_name, s_version, status, d, x,
        toInt64(arraySum(arrayMap(i -> toUInt64(bitShiftRight(x, i + 1) > 0), range(62)))) AS e,
        ecat, ekind, emsg, row_version
    FROM (
        SELECT instance_id, status, ifNull(duration_ms, 0) AS d,
            toInt64(least(abs(ifNull(duration_ms, 0)), 4611686018427387903)) AS x,
            visitParamExtractString(ifNull(error, ''), 'category') AS ecat,
            visitParamExtractString(ifNull(error, ''), 'kind') AS ekind,
            substringUTF8(visitParamExtractString(ifNull(error, ''), 'message'), 1, 1024) AS emsg,
            row_version
        FROM {{.DB}}.instances FINAL) AS f
    ALL INNER JOIN (
        SELECT instance_id, tupleElement(s, 1) AS created_at_ms, tupleElement(s, 2) AS s_name, tupleElement(s, 3) AS s_version
        FROM (
            SELECT instance_id, min(tuple(toInt64(timestamp_ms), visitParamExtractString(payload, 'name'),
                visitParamExtractString(payload, 'version'))) AS s
            FROM {{.DB}}.history
            WHERE execution_id = 1 AND event_id = 1 AND event_type = 'OrchestrationStarted'
            GROUP BY instance_id)) AS s
    USING instance_id)
WHERE created_at_ms >= 0
