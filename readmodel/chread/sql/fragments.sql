{{/* Fragments shared by the statements of this directory. */}}

{{define "instance_cols"}}instance_id, orchestration_name, orchestration_version, status,
	created_at_ms, updated_at_ms, execution_count, current_execution_id,
	parent_instance, parent_id, output, error, custom_status{{end}}

{{/* Percentiles: ClickHouse's quantilesExact sorts the values and takes the
one at index ⌊q·n⌋ (n−1 for q = 1), which is the contract's rule exactly
(TestQuantilesExactFollowsContract). */}}
{{define "quantile_levels"}}0.5, 0.95, 0.99{{end}}

{{/* The key range of one shard of a FINAL scan (shards.go): .Lo and .Hi
name the parameters of its bounds, "" = unbounded. */}}
{{define "shard_cond"}}{{if and .Lo .Hi}}instance_id >= @{{.Lo}} AND instance_id < @{{.Hi}}{{else if .Lo}}instance_id >= @{{.Lo}}{{else if .Hi}}instance_id < @{{.Hi}}{{else}}1{{end}}{{end}}
{{define "shard_where"}}{{if or .Lo .Hi}}WHERE {{template "shard_cond" .}}{{end}}{{end}}

{{/* The retention of a scan (scanData.Retain, retention.go): instances
updated before @retain_from leave the answer. Starts with " AND ". */}}
{{define "retained"}}{{if .Retain}} AND updated_at_ms >= @retain_from{{end}}{{end}}

{{/* The list filters (listData): conditions on the key, safe inside FINAL,
and conditions on every other column, applied after FINAL's deduplication
(tombstones, deleted = 1, are never listed: docs/deletions.md). Each starts
with " AND ". */}}
{{define "list_inner"}}{{if .Prefix}} AND instance_id >= @prefix AND startsWith(instance_id, @prefix){{if .PrefixBound}} AND instance_id < @prefix_bound{{end}}{{end}}{{template "activity_tag_cond" .}}{{end}}
{{/* The activity tag filter: instances with an activity work item (one per
ActivityScheduled of any execution, pruned ones included) whose newest
version carries the tag and is not a tombstone of a deleted incarnation
(docs/deletions.md). Only the instances having some row with the tag are
grouped, so the cost follows the tagged rows, not the table. */}}
{{define "activity_tag_cond"}}{{if .ActivityTag}} AND instance_id IN (SELECT instance_id FROM (
		SELECT instance_id, argMax(tuple(tag, deleted), row_version) AS t
		FROM {{.DB}}.pending_work
		WHERE kind = 'activity' AND instance_id IN (SELECT instance_id FROM {{.DB}}.pending_work WHERE kind = 'activity' AND tag = @activity_tag)
		GROUP BY instance_id, execution_id, correlation_id)
	WHERE t.1 = @activity_tag AND t.2 = 0){{end}}{{end}}
{{define "list_outer"}} AND deleted = 0{{if .Statuses}} AND status IN @statuses{{end}}{{if .Orchestration}} AND orchestration_name = @orchestration{{end}}{{if .CreatedAfter}} AND created_at_ms >= @created_after{{end}}{{if .CreatedBefore}} AND created_at_ms < @created_before{{end}}{{if .Parent}} AND parent_instance = @parent{{end}}{{if .After}} AND (created_at_ms < @after_created OR (created_at_ms = @after_created AND instance_id > @after_id)){{end}}{{template "list_outer_more" .}}{{end}}
{{/* The list's further filters (issue 14): version, updated range, custom
status prefix, error kind and category (from the error column's JSON), roots
only. */}}
{{define "list_outer_more"}}{{if .Version}} AND orchestration_version = @version{{end}}{{if .UpdatedAfter}} AND updated_at_ms >= @updated_after{{end}}{{if .UpdatedBefore}} AND updated_at_ms < @updated_before{{end}}{{if .CustomStatus}} AND isNotNull(custom_status) AND startsWith(assumeNotNull(custom_status), @custom_status_prefix){{end}}{{if .ErrorKind}} AND isNotNull(error) AND visitParamExtractString(assumeNotNull(error), 'kind') = @error_kind{{end}}{{if .ErrorCategory}} AND isNotNull(error) AND visitParamExtractString(assumeNotNull(error), 'category') = @error_category{{end}}{{if .RootOnly}} AND isNull(parent_instance){{end}}{{end}}
{{/* The columns list_outer reads besides status, orchestration_name,
created_at_ms and parent_instance (which the callers select themselves). */}}
{{define "list_more_cols"}}{{if .Version}}, orchestration_version{{end}}{{if or .UpdatedAfter .UpdatedBefore}}, updated_at_ms{{end}}{{if .CustomStatus}}, custom_status{{end}}{{if or .ErrorKind .ErrorCategory}}, error{{end}}{{end}}

{{/* The bucket start of the time column .: bucket_size and bucket_offset
are bound (the offset is 0 but for weeks, which start on Mondays). */}}
{{define "bucket"}}(intDiv({{.}} + @bucket_offset, @bucket_size) * @bucket_size - @bucket_offset){{end}}

{{/* Key filters of the activity report tables (facts and cells): activity
and orchestration name, each starting with " AND ". */}}
{{define "activity_key_filters"}}{{if .Activity}} AND activity_name = @activity{{end}}{{if .Orchestration}} AND orchestration_name = @orchestration{{end}}{{end}}

{{/* The errors report (errorsData): the name column, and the cells of
[@from, @to) (whole hours): whole days from the day cells, the hours before
the first and after the last whole day (@first_day, @last_day) from the hour
cells. */}}
{{define "errors_name"}}{{if .Activities}}activity_name{{else}}orchestration_name{{end}}{{end}}
{{define "errors_range"}}
	{{- if .WholeDays}}((grain_ms = 86400000 AND bucket_ms >= @first_day AND bucket_ms < @last_day)
			OR (grain_ms = 3600000 AND ((bucket_ms >= @from AND bucket_ms < @first_day) OR (bucket_ms >= @last_day AND bucket_ms < @to))))
	{{- else}}(grain_ms = 3600000 AND bucket_ms >= @from AND bucket_ms < @to){{end}}
{{- end}}
{{define "errors_from"}}
	{{- if .Activities}}(SELECT * FROM (SELECT activity_name, failed, err_category, err_kind, err_message, err_count, is_system
		FROM {{.DB}}.report_activity_cells FINAL
		WHERE {{template "errors_range" .}}{{template "activity_key_filters" .}})
		{{- if not .IncludeSystem}} WHERE is_system = 0{{end}})
	{{- else}}(SELECT orchestration_name, failed, err_category, err_kind, err_message, err_count
		FROM {{.DB}}.report_instance_cells FINAL
		WHERE {{template "errors_range" .}}{{if .Orchestration}} AND orchestration_name = @orchestration{{end}})
	{{- end}}
{{- end}}
