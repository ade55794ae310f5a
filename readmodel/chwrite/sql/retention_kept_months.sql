{{/* The months (YYYYMM) before @month of .Table (history_v3 or notices,
partitioned by timestamp_ms) that hold a row of an instance the retention
keeps: one with a row in the instances table seen at or after @cutoff (any
version: a newer one was seen at least as late). Such a month is not
dropped. */}}
SELECT DISTINCT toUInt32(toYYYYMM(toDateTime(intDiv(timestamp_ms, 1000)))) AS m FROM {{.DB}}.{{.Table}}
WHERE m < @month AND instance_id IN (SELECT instance_id FROM {{.DB}}.instances WHERE last_seen_ms >= @cutoff)
