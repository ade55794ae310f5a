{{/* Instance hour or day cells (@grain_ms) of [@from, @to), in (bucket,
group) order; cells of one (bucket, group) are merged in Go
(reports_timeseries.go). .ByVersion / .ByStatus: the group (status rows are
split in Go); else the orchestration name. */}}
SELECT {{template "bucket" "bucket_ms"}} AS b,
		{{if .ByVersion}}orchestration_version{{else if .ByStatus}}''{{else}}orchestration_name{{end}} AS g,
		started, completed, failed, sum_completed_ms, sum_failed_ms,
		completed_bins, completed_counts, failed_bins, failed_counts
	FROM (
		SELECT bucket_ms, orchestration_name, orchestration_version, started, completed, failed,
			sum_completed_ms, sum_failed_ms, completed_bins, completed_counts, failed_bins, failed_counts
		FROM {{.DB}}.report_instance_cells FINAL
		WHERE grain_ms = @grain_ms AND bucket_ms >= @from AND bucket_ms < @to
			{{- if .Orchestration}} AND orchestration_name = @orchestration{{end}})
	ORDER BY b, g
