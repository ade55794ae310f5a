// Package api holds the JSON objects of the query API contract
// (../shared/contract/API.md). The query service, the Go client and the test
// oracle all speak these types, so field names live in exactly one place.
package api

import (
	"encoding/json"

	"github.com/duroscope/duroscope/events"
)

// Status values.
const (
	StatusRunning        = "Running"
	StatusCompleted      = "Completed"
	StatusFailed         = "Failed"
	StatusContinuedAsNew = "ContinuedAsNew"
	StatusNotFound       = "NotFound"
	// StatusDeleted is the status of a change event (InstanceChange) for an
	// instance Duroxide deleted (an InstanceDeleted notice).
	StatusDeleted = "Deleted"
)

// Error is the projected ErrorDetails.
type Error = events.ErrorDetails

// Time is a timestamp in epoch milliseconds rendered as
// YYYY-MM-DDTHH:MM:SS.mmmZ (UTC, exactly three fraction digits).
type Time int64

type InstanceSummary struct {
	InstanceID         string  `json:"instance_id"`
	OrchestrationName  string  `json:"orchestration_name"`
	Version            string  `json:"version"`
	Status             string  `json:"status"`
	CreatedAt          Time    `json:"created_at"`
	UpdatedAt          Time    `json:"updated_at"`
	ExecutionCount     uint64  `json:"execution_count"`
	CurrentExecutionID uint64  `json:"current_execution_id"`
	ParentInstance     *string `json:"parent_instance"`
	ParentID           *uint64 `json:"parent_id"`
	Output             *string `json:"output"`
	Error              *Error  `json:"error"`
	CustomStatus       *string `json:"custom_status"`
}

type ExecutionSummary struct {
	ExecutionID uint64  `json:"execution_id"`
	Status      string  `json:"status"`
	StartedAt   Time    `json:"started_at"`
	CompletedAt *Time   `json:"completed_at"`
	EventCount  uint64  `json:"event_count"`
	DurationMs  *int64  `json:"duration_ms"`
	Output      *string `json:"output"`
	Error       *Error  `json:"error"`
}

type PendingActivity struct {
	CorrelationID uint64  `json:"correlation_id"`
	Name          string  `json:"name"`
	Input         string  `json:"input"`
	Tag           *string `json:"tag"`
	ScheduledAt   Time    `json:"scheduled_at"`
}

type PendingTimer struct {
	CorrelationID uint64 `json:"correlation_id"`
	DelayMs       int64  `json:"delay_ms"`
	ScheduledAt   Time   `json:"scheduled_at"`
	FireAt        Time   `json:"fire_at"`
}

type PendingEvent struct {
	CorrelationID uint64 `json:"correlation_id"`
	Name          string `json:"name"`
	Persistent    bool   `json:"persistent"`
	SubscribedAt  Time   `json:"subscribed_at"`
}

type PendingSubOrchestration struct {
	CorrelationID uint64 `json:"correlation_id"`
	Name          string `json:"name"`
	Instance      string `json:"instance"`
	ScheduledAt   Time   `json:"scheduled_at"`
}

type ExecutionDetails struct {
	ExecutionID              uint64                    `json:"execution_id"`
	Status                   string                    `json:"status"`
	LastEventAt              Time                      `json:"last_event_at"`
	PendingActivities        []PendingActivity         `json:"pending_activities"`
	PendingTimers            []PendingTimer            `json:"pending_timers"`
	PendingEvents            []PendingEvent            `json:"pending_events"`
	PendingSubOrchestrations []PendingSubOrchestration `json:"pending_sub_orchestrations"`
}

type InstanceDetails struct {
	Summary          InstanceSummary    `json:"summary"`
	Executions       []ExecutionSummary `json:"executions"`
	CurrentExecution *ExecutionDetails  `json:"current_execution"`
}

type InstanceList struct {
	Instances     []InstanceSummary `json:"instances"`
	NextPageToken *string           `json:"next_page_token"`
}

// InstanceCount answers GET /v1/instances/count: how many instances pass
// the list's filters; with group_by, also per key (a status, an
// orchestration name or an orchestration version), ordered by key.
type InstanceCount struct {
	Count  int64        `json:"count"`
	Groups []CountGroup `json:"groups,omitempty"`
}

// CountGroup is one key of a grouped count.
type CountGroup struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

type ExecutionList struct {
	Executions []ExecutionSummary `json:"executions"`
}

type History struct {
	Events []json.RawMessage `json:"events"`
	// NextPageToken is set when a limit cut the page short: page_token for
	// the rest.
	NextPageToken *string `json:"next_page_token,omitempty"`
}

type BulkStatusRequest struct {
	InstanceIDs []string `json:"instance_ids"`
}

type InstanceStatus struct {
	InstanceID string `json:"instance_id"`
	Status     string `json:"status"`
}

type BulkStatusResponse struct {
	Statuses []InstanceStatus `json:"statuses"`
}

type OrchestrationStats struct {
	TotalCount     uint64 `json:"total_count"`
	RunningCount   uint64 `json:"running_count"`
	CompletedCount uint64 `json:"completed_count"`
	FailedCount    uint64 `json:"failed_count"`
	ContinuedCount uint64 `json:"continued_count"`
}

type ActivityStats struct {
	ActivityName   string  `json:"activity_name"`
	TotalScheduled uint64  `json:"total_scheduled"`
	TotalCompleted uint64  `json:"total_completed"`
	TotalFailed    uint64  `json:"total_failed"`
	TotalCancelled uint64  `json:"total_cancelled"`
	AvgDurationMs  int64   `json:"avg_duration_ms"`
	P50DurationMs  int64   `json:"p50_duration_ms"`
	P95DurationMs  int64   `json:"p95_duration_ms"`
	P99DurationMs  int64   `json:"p99_duration_ms"`
	FailureRate    float64 `json:"failure_rate"`
}

type ActivityStatsList struct {
	Activities []ActivityStats `json:"activities"`
}

type PerformanceMetrics struct {
	Count         uint64 `json:"count"`
	AvgDurationMs int64  `json:"avg_duration_ms"`
	MinDurationMs int64  `json:"min_duration_ms"`
	MaxDurationMs int64  `json:"max_duration_ms"`
	P50DurationMs int64  `json:"p50_duration_ms"`
	P95DurationMs int64  `json:"p95_duration_ms"`
	P99DurationMs int64  `json:"p99_duration_ms"`
}

type SystemHealth struct {
	TotalInstances       uint64 `json:"total_instances"`
	RunningInstances     uint64 `json:"running_instances"`
	CompletedInstances   uint64 `json:"completed_instances"`
	FailedInstances      uint64 `json:"failed_instances"`
	LongRunningInstances uint64 `json:"long_running_instances"`
	RecentFailures       uint64 `json:"recent_failures"`
	HealthScore          int64  `json:"health_score"`
}

type ProblematicInstances struct {
	LongRunning      []InstanceSummary `json:"long_running"`
	PotentiallyStuck []InstanceSummary `json:"potentially_stuck"`
	RecentFailures   []InstanceSummary `json:"recent_failures"`
	// SlowerThanUsual (an addition): Running instances older than their
	// orchestration's p99 duration (api/drilldown.go).
	SlowerThanUsual []InstanceSummary `json:"slower_than_usual"`
}

type QueueMetrics struct {
	PendingActivities        uint64 `json:"pending_activities"`
	PendingTimers            uint64 `json:"pending_timers"`
	PendingEvents            uint64 `json:"pending_events"`
	PendingSubOrchestrations uint64 `json:"pending_sub_orchestrations"`
	OrchestratorQueueDepth   uint64 `json:"orchestrator_queue_depth"`
	ActivityQueueDepth       uint64 `json:"activity_queue_depth"`
}

type Watermark struct {
	Stream           string `json:"stream"`
	StreamLastSeq    uint64 `json:"stream_last_seq"`
	LagEvents        uint64 `json:"lag_events"`
	ProjectedThrough *Time  `json:"projected_through"`
}

// ErrorBody is the contract's error envelope.
type ErrorBody struct {
	Error ErrorInfo `json:"error"`
}

type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes.
const (
	CodeInvalidArgument = "invalid_argument"
	CodeUnauthenticated = "unauthenticated"
	CodeNotFound        = "not_found"
	CodeTooLarge        = "too_large"
	CodeUnavailable     = "unavailable"
	CodeInternal        = "internal"
)

// InstanceChange is one event of GET /v1/instances/changes (API.md
// "Additions"): the instance's answer changed, and the change is queryable.
// Seq is the stream sequence of the instance's latest change covered (also
// the event's SSE id, for Last-Event-ID).
type InstanceChange struct {
	InstanceID string `json:"instance_id"`
	Status     string `json:"status"`
	UpdatedAt  Time   `json:"updated_at"`
	Seq        uint64 `json:"seq"`
}

// ChangesReset is the data of the `reset` event of GET
// /v1/instances/changes: changes were missed (the Last-Event-ID is older
// than the service remembers, or from another stream); reload the list.
type ChangesReset struct {
	Reason string `json:"reason"`
}
