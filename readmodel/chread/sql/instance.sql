{{/* The newest version of one instance's row, restricted by the primary
key; the caller drops a tombstone (deleted, docs/deletions.md). The version
is picked with argMax rather than ORDER BY row_version DESC LIMIT 1: current
servers (seen on 26.5) run that top-1 with a dynamic filter
(use_top_k_dynamic_filtering) that fails with TYPE_MISMATCH ("Cannot convert
string '<id>' to type UInt64 ... __topKFilter(row_version)") once the
instance's versions are in two parts (internal/chcompat's test). */}}
SELECT instance_id, t.1, t.2, t.3, t.4, t.5, t.6, t.7, t.8, t.9, t.10, t.11, t.12, t.13 FROM (
	SELECT instance_id,
		argMax(tuple(orchestration_name, orchestration_version, status, created_at_ms, updated_at_ms,
			execution_count, current_execution_id, parent_instance, parent_id, output, error, custom_status,
			deleted), row_version) AS t
	FROM {{.DB}}.instances
	WHERE instance_id = @id
	GROUP BY instance_id)
