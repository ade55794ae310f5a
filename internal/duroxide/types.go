package duroxide

// Instance kinds of the scenario (Scenario.ByKind keys, ScenarioInstance.Kind)
// and of the load (LoadResult.ByKind keys).
const (
	KindActivities      = "activities"       // Completed: activity, utcNow/newGuid, retried activity, caught failure, timer, custom status x3
	KindRetryExhausted  = "retry_exhausted"  // Failed: every retry attempt failed, uncaught
	KindTimer           = "timer"            // Completed after a timer
	KindEvent           = "event"            // Completed after an external event raised through the client
	KindFanOut          = "fan_out"          // Completed: a join of activities
	KindParent          = "parent"           // Completed: one child completed, one child failed and caught
	KindParentFailed    = "parent_failed"    // Failed: its child's failure is not caught
	KindChildCompleted  = "child_completed"  // Completed sub-orchestration (has a parent)
	KindChildFailed     = "child_failed"     // Failed sub-orchestration (has a parent)
	KindContinueAsNew   = "continue_as_new"  // Completed after continue-as-new: executions 1..4
	KindPruned          = "pruned"           // like continue_as_new, pruned to its last execution (4)
	KindFailed          = "failed"           // Failed: uncaught orchestration error
	KindNondeterminism  = "nondeterministic" // Failed: its replay diverged (a Configuration/Nondeterminism error)
	KindDetachedSpawner = "detached_spawner" // Completed: started a detached orchestration
	KindDetached        = "detached"         // Completed: the detached (root) orchestration
	KindRunningEvent    = "running_event"    // Running: waits for an event that never comes
	KindRunningTimer    = "running_timer"    // Running: waits on a one-hour timer
	KindEarlyEvent      = "early_event"      // Running: its event was raised before it subscribed (recorded, never delivered)
	KindCancelled       = "cancelled"        // Failed: cancelled through the client while waiting for an event
	KindReused          = "reused"           // Completed: an id reused after its deletion (second life)
)

// Scenario is the driver's scenario summary.
type Scenario struct {
	Prefix string `json:"prefix"`
	// Store is "sqlite" or "postgres".
	Store string `json:"store"`
	// Instances are the instances present at the end, with what Duroxide
	// must answer for them.
	Instances []ScenarioInstance `json:"instances"`
	// ByKind lists Instances' ids by kind.
	ByKind map[string][]string `json:"byKind"`
	// Deleted are the instances deleted during the run (a reused id is also
	// in Instances: its second life).
	Deleted []DeletedInstance `json:"deleted"`
	// Reused are the ids started again after their deletion.
	Reused []string `json:"reused"`
	// Deletes and Prunes are Duroxide's answers to the operations done.
	Deletes []DeleteOutcome `json:"deletes"`
	Prunes  []PruneOutcome  `json:"prunes"`
	// Refusals are the operations Duroxide refused, as expected.
	Refusals []Refusal `json:"refusals"`
	// Abandoned are the earlier attempts given up because Duroxide failed
	// an orchestration on "database is locked" (SQLite only; the driver's
	// scenario.js). Their instances stay in the store, outside the plan.
	Abandoned []AbandonedAttempt `json:"abandoned"`
	ElapsedMs int64              `json:"elapsedMs"`
}

// AbandonedAttempt is a run of the scenario given up on a lock failure:
// the prefix it used, the failure, and every id it may have created.
type AbandonedAttempt struct {
	Prefix      string   `json:"prefix"`
	Error       string   `json:"error"`
	InstanceIDs []string `json:"instanceIds"`
}

// AbandonedIDs lists the ids of every abandoned attempt.
func (s *Scenario) AbandonedIDs() []string {
	var ids []string
	for _, a := range s.Abandoned {
		ids = append(ids, a.InstanceIDs...)
	}
	return ids
}

// ScenarioInstance is one instance present at the end of the scenario.
type ScenarioInstance struct {
	InstanceID    string `json:"instanceId"`
	Kind          string `json:"kind"`
	Orchestration string `json:"orchestration"`
	// ExpectedStatus is Duroxide's status: Running, Completed or Failed.
	ExpectedStatus string `json:"expectedStatus"`
	// ExpectedExecutionIDs are the executions left (listExecutions).
	ExpectedExecutionIDs []int64 `json:"expectedExecutionIds"`
	// ParentInstanceID is set for sub-orchestrations.
	ParentInstanceID string `json:"parentInstanceId,omitempty"`
}

// DeletedInstance is an instance the scenario deleted; How is "cascade"
// (deleted with its root), "force" (deleted while Running) or "plain".
type DeletedInstance struct {
	InstanceID string `json:"instanceId"`
	Kind       string `json:"kind"`
	How        string `json:"how"`
}

// DeleteOutcome is one deleteInstance call of the scenario.
type DeleteOutcome struct {
	InstanceID string       `json:"instanceId"`
	Force      bool         `json:"force"`
	Result     DeleteResult `json:"result"`
}

// PruneOutcome is one pruneExecutions call of the scenario.
type PruneOutcome struct {
	InstanceID string      `json:"instanceId"`
	KeepLast   int         `json:"keepLast"`
	Result     PruneResult `json:"result"`
}

// Refusal is an operation Duroxide refused, with its error text.
type Refusal struct {
	Op         string `json:"op"`
	InstanceID string `json:"instanceId"`
	Error      string `json:"error"`
}

// LoadResult is the driver's load summary.
type LoadResult struct {
	Prefix  string `json:"prefix"`
	Store   string `json:"store"`
	Started int    `json:"started"`
	// ByKind counts the started instances by kind.
	ByKind      map[string]int `json:"byKind"`
	Completed   int            `json:"completed"`
	Failed      int            `json:"failed"`
	LeftRunning int            `json:"leftRunning"`
	// Unfinished are instances still Running when the drain ended.
	Unfinished []string `json:"unfinished"`
	// Unexpected are instances that ended with another status than planned.
	Unexpected []struct {
		InstanceID string `json:"instanceId"`
		Status     string `json:"status"`
		Want       string `json:"want"`
		Error      string `json:"error"`
	} `json:"unexpected"`
	// InfrastructureFailed are instances Duroxide itself failed with an
	// "infrastructure:" error (on SQLite, "database is locked" under
	// contention); they do not fail the run.
	InfrastructureFailed []struct {
		InstanceID string `json:"instanceId"`
		Error      string `json:"error"`
	} `json:"infrastructureFailed"`
	// ClientErrors are the client calls that failed (after the driver's
	// retries on "database is locked"); only LoadOptions.CountErrors
	// reports them, otherwise the first one fails the run.
	ClientErrors []struct {
		Op         string `json:"op"`
		InstanceID string `json:"instanceId"`
		Error      string `json:"error"`
	} `json:"clientErrors"`
	// Deleted counts deleted instances, Pruned deleted executions.
	Deleted         int     `json:"deleted"`
	Pruned          int     `json:"pruned"`
	StartSeconds    float64 `json:"startSeconds"`
	StartRatePerSec float64 `json:"startRatePerSec"`
	ElapsedMs       int64   `json:"elapsedMs"`
}

// Answers are Duroxide's own client answers (see the package comment for
// their meaning).
type Answers struct {
	Instances []InstanceAnswers `json:"instances"`
	// AllInstances is listAllInstances.
	AllInstances []string `json:"allInstances"`
	// ByStatus is listInstancesByStatus for Running, Completed, Failed and
	// ContinuedAsNew.
	ByStatus      map[string][]string `json:"byStatus"`
	SystemMetrics SystemMetrics       `json:"systemMetrics"`
	QueueDepths   QueueDepths         `json:"queueDepths"`
}

// Instance returns the answers for id, or nil when they were not asked for.
func (a *Answers) Instance(id string) *InstanceAnswers {
	for i := range a.Instances {
		if a.Instances[i].InstanceID == id {
			return &a.Instances[i]
		}
	}
	return nil
}

// InstanceAnswers are the answers about one instance. When Found is false
// only Status (NotFound) is set.
type InstanceAnswers struct {
	InstanceID string              `json:"instanceId"`
	Found      bool                `json:"found"`
	Status     OrchestrationStatus `json:"status"`
	Info       *InstanceInfo       `json:"info,omitempty"`
	Executions []ExecutionAnswers  `json:"executions,omitempty"`
	Tree       *InstanceTree       `json:"tree,omitempty"`
	Stats      *OrchestrationStats `json:"stats,omitempty"`
}

// OrchestrationStatus is getStatus.
type OrchestrationStatus struct {
	// Status is NotFound, Running, Completed or Failed.
	Status string  `json:"status"`
	Output *string `json:"output"`
	// Error is the failure's display message (Failed only).
	Error               *string `json:"error"`
	CustomStatus        *string `json:"customStatus"`
	CustomStatusVersion int64   `json:"customStatusVersion"`
}

// InstanceInfo is getInstanceInfo.
type InstanceInfo struct {
	InstanceID           string  `json:"instanceId"`
	OrchestrationName    string  `json:"orchestrationName"`
	OrchestrationVersion string  `json:"orchestrationVersion"`
	CurrentExecutionID   int64   `json:"currentExecutionId"`
	Status               string  `json:"status"`
	Output               *string `json:"output"`
	// CreatedAt and UpdatedAt are Unix ms (0 on SQLite: see the package comment).
	CreatedAt        int64   `json:"createdAt"`
	UpdatedAt        int64   `json:"updatedAt"`
	ParentInstanceID *string `json:"parentInstanceId"`
}

// ExecutionAnswers are getExecutionInfo and readExecutionHistory for one
// execution of listExecutions.
type ExecutionAnswers struct {
	ExecutionID int64         `json:"executionId"`
	Info        ExecutionInfo `json:"info"`
	History     []Event       `json:"history"`
}

// ExecutionInfo is getExecutionInfo.
type ExecutionInfo struct {
	ExecutionID int64 `json:"executionId"`
	// Status is Running, Completed, Failed or ContinuedAsNew.
	Status string  `json:"status"`
	Output *string `json:"output"`
	// StartedAt is Unix ms (0 on SQLite); CompletedAt Unix ms, nil while Running.
	StartedAt   int64  `json:"startedAt"`
	CompletedAt *int64 `json:"completedAt"`
	EventCount  int64  `json:"eventCount"`
}

// Event is one entry of readExecutionHistory.
type Event struct {
	EventID int64 `json:"eventId"`
	// Kind is the event type name (OrchestrationStarted, ...).
	Kind          string `json:"kind"`
	SourceEventID *int64 `json:"sourceEventId"`
	TimestampMs   int64  `json:"timestampMs"`
	// Data is the addon's rendering of the event's payload (see the package
	// comment); nil for kinds it does not render.
	Data *string `json:"data"`
}

// InstanceTree is getInstanceTree: the instance and its descendants.
type InstanceTree struct {
	RootID string   `json:"rootId"`
	AllIDs []string `json:"allIds"`
	Size   int64    `json:"size"`
}

// OrchestrationStats is getOrchestrationStats.
type OrchestrationStats struct {
	HistoryEventCount int64 `json:"historyEventCount"`
	HistorySizeBytes  int64 `json:"historySizeBytes"`
	QueuePendingCount int64 `json:"queuePendingCount"`
	KVUserKeyCount    int64 `json:"kvUserKeyCount"`
	KVTotalValueBytes int64 `json:"kvTotalValueBytes"`
}

// SystemMetrics is getSystemMetrics.
type SystemMetrics struct {
	TotalInstances     int64 `json:"totalInstances"`
	TotalExecutions    int64 `json:"totalExecutions"`
	RunningInstances   int64 `json:"runningInstances"`
	CompletedInstances int64 `json:"completedInstances"`
	FailedInstances    int64 `json:"failedInstances"`
	TotalEvents        int64 `json:"totalEvents"`
}

// QueueDepths is getQueueDepths.
type QueueDepths struct {
	OrchestratorQueue int64 `json:"orchestratorQueue"`
	WorkerQueue       int64 `json:"workerQueue"`
	TimerQueue        int64 `json:"timerQueue"`
}

// DeleteResult is deleteInstance's and deleteInstanceBulk's answer.
type DeleteResult struct {
	InstancesDeleted     int64 `json:"instancesDeleted"`
	ExecutionsDeleted    int64 `json:"executionsDeleted"`
	EventsDeleted        int64 `json:"eventsDeleted"`
	QueueMessagesDeleted int64 `json:"queueMessagesDeleted"`
}

// PruneResult is pruneExecutions' and pruneExecutionsBulk's answer.
type PruneResult struct {
	InstancesProcessed int64 `json:"instancesProcessed"`
	ExecutionsDeleted  int64 `json:"executionsDeleted"`
	EventsDeleted      int64 `json:"eventsDeleted"`
}

// DeleteReport is the delete subcommand's answer: one entry per id, with
// either Result or Error (Duroxide's refusal).
type DeleteReport struct {
	Force   bool `json:"force"`
	Results []struct {
		InstanceID string        `json:"instanceId"`
		Result     *DeleteResult `json:"result"`
		Error      string        `json:"error"`
	} `json:"results"`
	Failed int `json:"failed"`
}

// BulkDeleteReport is the delete-bulk subcommand's answer.
type BulkDeleteReport struct {
	Result DeleteResult `json:"result"`
}

// PruneReport is the prune subcommand's answer.
type PruneReport struct {
	InstanceID string      `json:"instanceId"`
	Result     PruneResult `json:"result"`
}

// BulkPruneReport is the prune-bulk subcommand's answer.
type BulkPruneReport struct {
	Result PruneResult `json:"result"`
}
