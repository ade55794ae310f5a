package api

// The percentile drill-downs (API.md "Additions"): what lies at or above a
// duration shown by /v1/stats/performance or /v1/stats/activities, slowest
// first.

// SlowInstance is an instance of GET /v1/stats/performance/instances: its
// summary and the duration /v1/stats/performance counts for it.
type SlowInstance struct {
	InstanceSummary
	DurationMs int64 `json:"duration_ms"`
}

// SlowInstanceList answers GET /v1/stats/performance/instances: ordered by
// duration_ms desc, then instance_id asc; next_page_token is null exactly
// when no instance follows the page.
type SlowInstanceList struct {
	Instances     []SlowInstance `json:"instances"`
	NextPageToken *string        `json:"next_page_token"`
}

// ActivityCall is one timed activity (Completed or Failed) of GET
// /v1/stats/activities/calls: the call /v1/stats/activities counts in its
// durations. CorrelationID is the ActivityScheduled event's event_id.
type ActivityCall struct {
	InstanceID        string `json:"instance_id"`
	ExecutionID       uint64 `json:"execution_id"`
	CorrelationID     uint64 `json:"correlation_id"`
	ActivityName      string `json:"activity_name"`
	OrchestrationName string `json:"orchestration_name"`
	ScheduledAt       Time   `json:"scheduled_at"`
	Outcome           string `json:"outcome"`
	DurationMs        int64  `json:"duration_ms"`
}

// ActivityCallList answers GET /v1/stats/activities/calls: ordered by
// duration_ms desc, then instance_id, execution_id, correlation_id asc;
// next_page_token is null exactly when no call follows the page.
type ActivityCallList struct {
	Calls         []ActivityCall `json:"calls"`
	NextPageToken *string        `json:"next_page_token"`
}
