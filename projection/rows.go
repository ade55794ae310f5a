// Package projection turns the history of one instance into read-model rows.
// It is pure: no I/O, no clock. Derive is a function of the *set* of events
// (order and duplicates do not matter), which is what makes re-delivery and
// out-of-order delivery converge (see README "Exactly-once effect").
package projection

import "github.com/duroscope/duroscope/events"

// Outcomes of a work item.
const (
	OutcomePending   = "Pending"
	OutcomeCompleted = "Completed"
	OutcomeFailed    = "Failed"
	OutcomeCancelled = "Cancelled"
)

// Kinds of pending work.
const (
	KindActivity         = "activity"
	KindTimer            = "timer"
	KindEvent            = "event"
	KindSubOrchestration = "sub_orchestration"
)

// OptInt is an int64 that may be null.
type OptInt struct {
	Value int64
	Valid bool
}

// InstanceRow is one row of the instances table.
type InstanceRow struct {
	InstanceID               string
	OrchestrationName        string
	OrchestrationVersion     string
	Status                   string // Running | Completed | Failed
	CreatedAtMs              int64
	UpdatedAtMs              int64
	ExecutionCount           uint64
	CurrentExecutionID       uint64
	ParentInstance           events.OptString
	ParentID                 events.OptUint
	Output                   events.OptString
	Error                    *events.ErrorDetails
	CustomStatus             events.OptString
	DurationMs               OptInt // Completed and Failed only
	PendingActivities        uint32
	PendingTimers            uint32
	PendingEvents            uint32 // persistent subscriptions included
	PendingSubOrchestrations uint32
	EventCount               uint64
}

// ExecutionRow is one row of the executions table.
type ExecutionRow struct {
	InstanceID        string
	ExecutionID       uint64
	OrchestrationName string
	Status            string // Running | Completed | Failed | ContinuedAsNew
	StartedAtMs       int64
	CompletedAtMs     OptInt
	LastEventAtMs     int64
	EventCount        uint64
	DurationMs        OptInt
	Output            events.OptString
	Error             *events.ErrorDetails
}

// ActivityRow is one scheduled activity.
type ActivityRow struct {
	InstanceID        string
	ExecutionID       uint64
	EventID           uint64 // the ActivityScheduled event id (correlation id)
	ActivityName      string
	OrchestrationName string // name of the execution that scheduled it
	IsSystem          bool
	ScheduledAtMs     int64
	Outcome           string // Pending | Completed | Failed | Cancelled
	OutcomeAtMs       OptInt
	DurationMs        OptInt // Completed and Failed only
	Error             *events.ErrorDetails
}

// WorkRow is one work item (activity, timer, external subscription,
// sub-orchestration) of any execution. Pending is true only for items that
// are pending work now (latest execution of a Running instance). Rows that are
// no longer pending are still written, with Pending=false, so that a newer
// derivation replaces an older pending row.
type WorkRow struct {
	InstanceID    string
	ExecutionID   uint64
	Kind          string // activity | timer | event | sub_orchestration
	CorrelationID uint64
	Pending       bool
	Name          string
	Input         string
	Tag           events.OptString
	ChildInstance string // sub-orchestrations: the child's full id
	Persistent    bool   // events
	ScheduledAtMs int64
	FireAtMs      int64 // timers
	DelayMs       int64 // timers
}

// Rows is everything derived from one instance's history.
type Rows struct {
	// Version is the number of distinct events the rows were derived from;
	// it is the ReplacingMergeTree version of every row below.
	Version    uint64
	Instance   InstanceRow
	Executions []ExecutionRow
	Activities []ActivityRow
	Work       []WorkRow
	// Starts lists the executions that have their OrchestrationStarted as
	// event 1 (the contract's position), ascending by execution id. Reports
	// key instances and activities by these events: a Started at event 1 is
	// never displaced by a later-arriving event, so what is keyed by it
	// cannot move (docs/reports.md).
	Starts []StartRow
}

// StartRow is the OrchestrationStarted (event 1) of one execution.
type StartRow struct {
	ExecutionID          uint64
	OrchestrationName    string
	OrchestrationVersion string
	TimestampMs          int64
}
