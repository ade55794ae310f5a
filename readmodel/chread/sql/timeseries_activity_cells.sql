{{/* Activity hour or day cells (@grain_ms) of [@from, @to), in (bucket,
activity) order; merged in Go. A cell whose facts are all tombstones
(docs/deletions.md) has no activity: left out, like one that never had. */}}
SELECT {{template "bucket" "bucket_ms"}} AS b, activity_name,
		started, completed, failed, cancelled, sum_duration_ms, duration_bins, duration_counts
	FROM (
		SELECT bucket_ms, activity_name, is_system, started, completed, failed, cancelled,
			sum_duration_ms, duration_bins, duration_counts
		FROM {{.DB}}.report_activity_cells FINAL
		WHERE grain_ms = @grain_ms AND bucket_ms >= @from AND bucket_ms < @to
			{{- template "activity_key_filters" .}})
	WHERE started > 0{{if not .IncludeSystem}} AND is_system = 0{{end}}
	ORDER BY b, activity_name
