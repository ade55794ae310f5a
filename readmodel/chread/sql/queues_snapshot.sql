{{/* The newest queue-depth snapshot: highest timestamp_ms, ties broken by
the largest values (docs/semantics.md rule 11). */}}
SELECT orchestrator_queue, worker_queue FROM {{.DB}}.queue_snapshots
WHERE timestamp_ms = (SELECT max(timestamp_ms) FROM {{.DB}}.queue_snapshots)
ORDER BY orchestrator_queue DESC, worker_queue DESC, timer_queue DESC
LIMIT 1
