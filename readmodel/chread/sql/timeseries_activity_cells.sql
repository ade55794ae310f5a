{{/* Activity hour or day cells (@grain_ms) of [@from, @to), in (bucket,
activity) order; merged in Go. */}}
SELECT {{template "bucket" "bucket_ms"}} AS b, activity_name,
		started, completed, failed, cancelled, sum_duration_ms, duration_bins, duration_counts
	FROM (
		SELECT bucket_ms, activity_name, is_system, started, completed, failed, cancelled,
			sum_duration_ms, duration_bins, duration_counts
		FROM {{.DB}}.report_activity_cells FINAL
		WHERE grain_ms = @grain_ms AND bucket_ms >= @from AND bucket_ms < @to
			{{- template "activity_key_filters" .}})
	{{- if not .IncludeSystem}}
	WHERE is_system = 0{{end}}
	ORDER BY b, activity_name
