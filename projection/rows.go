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
	// Deleted marks a tombstone: the instance has no live event (every
	// event it had is deleted). Only InstanceID is set then.
	Deleted bool
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
	// Deleted marks a tombstone (an execution of a deleted incarnation, or
	// a pruned one): only the key fields are set.
	Deleted bool
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
	// Deleted marks a tombstone (an activity of a deleted incarnation):
	// only the key fields are set, and in Rows.StaleReportActivities also
	// ActivityName, OrchestrationName and ScheduledAtMs (the report fact's key).
	Deleted bool
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
	// Deleted marks a tombstone (work of a deleted incarnation): only the
	// key fields (InstanceID, ExecutionID, Kind, CorrelationID) are set.
	Deleted bool
}

// Rows is everything derived from one instance's history and notices
// (docs/deletions.md). Instance, Executions, Activities, Work and Starts
// describe the live incarnation (the events after the latest
// InstanceDeleted), plus tombstones (Deleted set) for every key that a
// derivation of a subset of the same events and notices could have written
// and that is not live now.
type Rows struct {
	// Version is the number of distinct events (by incarnation, execution
	// and event id) plus the number of distinct notices the rows were
	// derived from; it is the ReplacingMergeTree version of every row below.
	Version uint64
	// LastSeenMs is the latest timestamp_ms of any event or notice the
	// rows were derived from (every incarnation, pruned executions
	// included). It only grows as more events and notices arrive, so a
	// higher Version never has a lower LastSeenMs: the read model
	// partitions the instance tables by it, and the retention drops whole
	// old partitions without ever removing an instance's newest rows
	// (migration 0005).
	LastSeenMs int64
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
	// Past holds the deleted incarnations of the id that have events,
	// oldest first. The management tables do not show them; the reports
	// keep counting what they did.
	Past []Incarnation
	// StaleReportActivities are activity report facts that a derivation
	// of a subset (one that did not know yet where an incarnation ends)
	// could have keyed by another incarnation's orchestration name and
	// that no incarnation has now: tombstones (Deleted set) for the
	// report facts, keyed by (ActivityName, OrchestrationName,
	// ScheduledAtMs, ExecutionID, EventID).
	StaleReportActivities []ActivityRow
}

// Incarnation is one deleted incarnation of an instance id: its events are
// those with timestamp_ms in (previous deletion, DeletedAtMs]. Its rows are
// derived exactly as a live instance's would be; they feed the reports only.
type Incarnation struct {
	DeletedAtMs int64
	Instance    InstanceRow
	Starts      []StartRow
	Activities  []ActivityRow
}

// StartRow is the OrchestrationStarted (event 1) of one execution.
type StartRow struct {
	ExecutionID          uint64
	OrchestrationName    string
	OrchestrationVersion string
	TimestampMs          int64
}
