{{/* The problem category of an instances row (1 long-running, 2 stuck,
3 recent failure, 0 none; they exclude each other), from its own columns;
under a retention (scanData.Retain) a row updated before @retain_from is in
none. */}}
{{define "problem_cat"}}multiIf({{if .Retain}}updated_at_ms < @retain_from, 0,
			{{end}}status = 'Running' AND created_at_ms < @long_running_before, 1,
			status = 'Running' AND updated_at_ms < @stuck_before, 2,
			status = 'Failed' AND updated_at_ms >= @recent_failure_since, 3, 0){{end}}
{{/* The top of the raw table for /v1/problems (problems_top.go): the first
@top stored versions of each category in its order (updated_at desc,
instance_id asc), every version taken as if it were the newest. */}}
SELECT instance_id, updated_at_ms, cat FROM (
	SELECT instance_id, updated_at_ms, {{template "problem_cat" .}} AS cat
	FROM {{.DB}}.instances
	WHERE deleted = 0)
WHERE cat > 0
ORDER BY cat, updated_at_ms DESC, instance_id ASC
LIMIT @top BY cat
