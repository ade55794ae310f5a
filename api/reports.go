package api

// Answers of the report endpoints (GET /v1/reports/*; docs/reports.md).

// Report bucket sizes and groupings.
const (
	BucketMinute = "minute"
	BucketHour   = "hour"
	BucketDay    = "day"
	BucketWeek   = "week"

	GroupByOrchestration = "orchestration"
	GroupByVersion       = "version"
	GroupByStatus        = "status"
	GroupByActivity      = "activity"

	PercentilesExact       = "exact"
	PercentilesApproximate = "approximate"
)

// ReportRow is one (bucket, group) of GET /v1/reports/timeseries. Instance
// reports count the instances created in the bucket (started) by their
// status now; activity reports count the activities scheduled in the bucket
// (started) by their outcome now (running = no outcome yet; cancelled only
// for activities). Durations cover the Completed and Failed ones.
type ReportRow struct {
	BucketStart   Time    `json:"bucket_start"`
	Group         string  `json:"group"`
	Started       uint64  `json:"started"`
	Running       uint64  `json:"running"`
	Completed     uint64  `json:"completed"`
	Failed        uint64  `json:"failed"`
	Cancelled     uint64  `json:"cancelled"`
	FailureRate   float64 `json:"failure_rate"`
	AvgDurationMs int64   `json:"avg_duration_ms"`
	P50DurationMs int64   `json:"p50_duration_ms"`
	P95DurationMs int64   `json:"p95_duration_ms"`
	P99DurationMs int64   `json:"p99_duration_ms"`
}

// Timeseries answers GET /v1/reports/timeseries. From and To are the range
// actually covered: the request's, widened to whole buckets. Percentiles is
// "exact" (the contract's rule) or "approximate", then each percentile is
// within PercentileMaxRelativeError of the exact value (0 when exact).
type Timeseries struct {
	Bucket                     string      `json:"bucket"`
	From                       Time        `json:"from"`
	To                         Time        `json:"to"`
	GroupBy                    string      `json:"group_by"`
	Percentiles                string      `json:"percentiles"`
	PercentileMaxRelativeError float64     `json:"percentile_max_relative_error"`
	Rows                       []ReportRow `json:"rows"`
}

// ErrorCount is one distinct error and how many failures had it.
type ErrorCount struct {
	Category string `json:"category"`
	Kind     string `json:"kind"`
	Message  string `json:"message"`
	Count    uint64 `json:"count"`
}

// ErrorGroup is the failures of one orchestration or activity: their exact
// number and the most frequent errors (count desc, then category, kind,
// message).
type ErrorGroup struct {
	Name   string       `json:"name"`
	Failed uint64       `json:"failed"`
	Errors []ErrorCount `json:"errors"`
}

// ErrorsReport answers GET /v1/reports/errors: failed instances by
// orchestration (bucketed by created_at) and failed activities by activity
// name (bucketed by scheduled time), over From..To (widened to whole hours).
type ErrorsReport struct {
	From           Time         `json:"from"`
	To             Time         `json:"to"`
	Orchestrations []ErrorGroup `json:"orchestrations"`
	Activities     []ErrorGroup `json:"activities"`
}
