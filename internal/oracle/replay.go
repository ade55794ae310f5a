package oracle

import (
	"sort"
	"strings"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
)

// instance is one replayed instance.
type instance struct {
	id         string
	executions []*execution // ascending by execution id
	// pruned holds the executions an ExecutionsPruned notice removed from
	// the listings and the history (they still count everywhere else).
	pruned  map[uint64]bool
	summary api.InstanceSummary
	// durationMs is the performance-metrics duration (Completed/Failed only).
	durationMs    int64
	hasDurationMs bool
}

// execution is one replayed execution.
type execution struct {
	id       uint64
	instance string
	events   []*events.Event // ascending by event id, one copy each

	// started is the execution's OrchestrationStarted (the one with the lowest
	// event id should there be several), nil until seen.
	started *events.Event
	// decider is the lifecycle event with the highest event id, nil if none.
	decider *events.Event

	status      string
	startedAt   int64
	completedAt *int64
	lastEventAt int64
	minTS       int64
	output      *string
	err         *api.Error

	activities []activity
	// outcome maps a scheduling event id (activity, timer, subscription,
	// sub-orchestration) to its outcome event: the matching one with the
	// lowest event id (docs/semantics.md 4, 5).
	outcome map[uint64]*events.Event
}

// activity is one ActivityScheduled with its outcome.
type activity struct {
	eventID       uint64 // the ActivityScheduled event's id
	name          string
	orchestration string // the name of the execution that scheduled it
	system        bool
	scheduledAt   int64
	outcome       string     // "", Completed, Failed, Cancelled
	durationMs    int64      // Completed and Failed only
	err           *api.Error // Failed only: the ActivityFailed details
}

const (
	outcomePending   = ""
	outcomeCompleted = "Completed"
	outcomeFailed    = "Failed"
	outcomeCancelled = "Cancelled"
)

// outcomeTarget says, for each outcome event type, which type it must point
// at (same execution) to count.
var outcomeTarget = map[string]string{
	events.TypeActivityCompleted:                     events.TypeActivityScheduled,
	events.TypeActivityFailed:                        events.TypeActivityScheduled,
	events.TypeActivityCancelRequested:               events.TypeActivityScheduled,
	events.TypeTimerFired:                            events.TypeTimerCreated,
	events.TypeExternalSubscribedCancelled:           events.TypeExternalSubscribed,
	events.TypeExternalSubscribedPersistentCancelled: events.TypeExternalSubscribedPersistent,
	events.TypeSubOrchestrationCompleted:             events.TypeSubOrchestrationScheduled,
	events.TypeSubOrchestrationFailed:                events.TypeSubOrchestrationScheduled,
	events.TypeSubOrchestrationCancelRequested:       events.TypeSubOrchestrationScheduled,
}

func ts(e *events.Event) int64 { return int64(e.TimestampMs) }

// replayInstance sorts and de-duplicates one instance's events, then derives
// its executions and summary.
func replayInstance(id string, list []*events.Event) *instance {
	// Stable sort keeps the first copy of a duplicate first.
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].ExecutionID != list[j].ExecutionID {
			return list[i].ExecutionID < list[j].ExecutionID
		}
		return list[i].EventID < list[j].EventID
	})
	in := &instance{id: id}
	var cur *execution
	for i, e := range list {
		if i > 0 && e.ExecutionID == list[i-1].ExecutionID && e.EventID == list[i-1].EventID {
			continue // a duplicate: the first copy was kept
		}
		if cur == nil || cur.id != e.ExecutionID {
			cur = &execution{id: e.ExecutionID, instance: id}
			in.executions = append(in.executions, cur)
		}
		cur.events = append(cur.events, e)
	}
	for _, x := range in.executions {
		x.replay()
	}
	in.summarize()
	return in
}

// replay derives the execution's status, times, output and work items.
func (x *execution) replay() {
	x.minTS = ts(x.events[0])
	x.lastEventAt = ts(x.events[0])
	for _, e := range x.events {
		x.minTS = min(x.minTS, ts(e))
		x.lastEventAt = max(x.lastEventAt, ts(e))
		if e.Type == events.TypeOrchestrationStarted && x.started == nil {
			x.started = e
		}
		if e.IsLifecycle() {
			x.decider = e // events are ascending: the last one wins
		}
	}

	// Status from the lifecycle event with the highest event id; no lifecycle
	// event yet means Running (docs/semantics.md 2).
	x.status = api.StatusRunning
	if x.started != nil {
		x.startedAt = ts(x.started)
	} else {
		x.startedAt = x.minTS
	}
	if x.decider != nil {
		switch x.decider.Type {
		case events.TypeOrchestrationCompleted:
			x.status = api.StatusCompleted
			out := x.decider.Output
			x.output = &out
		case events.TypeOrchestrationFailed:
			x.status = api.StatusFailed
			x.err = errorOf(x.decider)
		case events.TypeOrchestrationContinuedAsNew:
			x.status = api.StatusContinuedAsNew
		}
		if x.status != api.StatusRunning {
			at := ts(x.decider)
			x.completedAt = &at
		}
	}

	// Outcomes: ascending event ids, so the first match is the lowest.
	x.outcome = map[uint64]*events.Event{}
	for _, e := range x.events {
		want, isOutcome := outcomeTarget[e.Type]
		if !isOutcome || !e.SourceEventID.Valid {
			continue
		}
		target, ok := x.event(e.SourceEventID.Value)
		if !ok || target.Type != want {
			continue
		}
		if _, done := x.outcome[target.EventID]; !done {
			x.outcome[target.EventID] = e
		}
	}

	for _, e := range x.events {
		if e.Type != events.TypeActivityScheduled {
			continue
		}
		a := activity{
			eventID:       e.EventID,
			name:          e.Name,
			orchestration: x.name(),
			system:        strings.HasPrefix(e.Name, events.SystemCallPrefix),
			scheduledAt:   ts(e),
		}
		if out, ok := x.outcome[e.EventID]; ok {
			switch out.Type {
			case events.TypeActivityCompleted:
				a.outcome = outcomeCompleted
			case events.TypeActivityFailed:
				a.outcome = outcomeFailed
				a.err = errorOf(out)
			case events.TypeActivityCancelRequested:
				a.outcome = outcomeCancelled
			}
			if a.outcome != outcomeCancelled {
				a.durationMs = ts(out) - ts(e)
			}
		}
		x.activities = append(x.activities, a)
	}
}

// event finds the execution's event with the given id.
func (x *execution) event(id uint64) (*events.Event, bool) {
	i := sort.Search(len(x.events), func(i int) bool { return x.events[i].EventID >= id })
	if i < len(x.events) && x.events[i].EventID == id {
		return x.events[i], true
	}
	return nil, false
}

// name is the execution's own orchestration name, "" until its
// OrchestrationStarted is seen (docs/semantics.md 3).
func (x *execution) name() string {
	if x.started == nil {
		return ""
	}
	return x.started.Name
}

func errorOf(e *events.Event) *api.Error {
	if e.Details == nil {
		return nil
	}
	d := *e.Details
	return &d
}

func (x *execution) summary() api.ExecutionSummary {
	s := api.ExecutionSummary{
		ExecutionID: x.id,
		Status:      x.status,
		StartedAt:   api.Time(x.startedAt),
		EventCount:  uint64(len(x.events)),
		Output:      x.output,
		Error:       x.err,
	}
	if x.completedAt != nil {
		at := api.Time(*x.completedAt)
		s.CompletedAt = &at
		d := *x.completedAt - x.startedAt
		s.DurationMs = &d
	}
	return s
}

// details is the ExecutionDetails of the execution, with its pending work.
// Only used for the latest execution of a Running instance.
func (x *execution) details() api.ExecutionDetails {
	d := api.ExecutionDetails{
		ExecutionID:              x.id,
		Status:                   x.status,
		LastEventAt:              api.Time(x.lastEventAt),
		PendingActivities:        []api.PendingActivity{},
		PendingTimers:            []api.PendingTimer{},
		PendingEvents:            []api.PendingEvent{},
		PendingSubOrchestrations: []api.PendingSubOrchestration{},
	}
	if x.status != api.StatusRunning {
		// Ended with ContinuedAsNew, the next execution not started yet:
		// nothing is pending.
		return d
	}

	// Subscriptions per (persistent, name) in event id order, not cancelled.
	type subKey struct {
		persistent bool
		name       string
	}
	subs := map[subKey][]*events.Event{}
	raised := map[subKey]int{}

	// x.events is ascending by event id, so every list below comes out
	// ordered by correlation id.
	for _, e := range x.events {
		_, hasOutcome := x.outcome[e.EventID]
		switch e.Type {
		case events.TypeActivityScheduled:
			if !hasOutcome {
				d.PendingActivities = append(d.PendingActivities, api.PendingActivity{
					CorrelationID: e.EventID,
					Name:          e.Name,
					Input:         e.Input,
					Tag:           optString(e.Tag),
					ScheduledAt:   api.Time(ts(e)),
				})
			}
		case events.TypeTimerCreated:
			if !hasOutcome {
				delay := max(int64(e.FireAtMs)-ts(e), 0)
				d.PendingTimers = append(d.PendingTimers, api.PendingTimer{
					CorrelationID: e.EventID,
					DelayMs:       delay,
					ScheduledAt:   api.Time(ts(e)),
					FireAt:        api.Time(int64(e.FireAtMs)),
				})
			}
		case events.TypeSubOrchestrationScheduled:
			if !hasOutcome {
				d.PendingSubOrchestrations = append(d.PendingSubOrchestrations, api.PendingSubOrchestration{
					CorrelationID: e.EventID,
					Name:          e.Name,
					Instance:      childInstanceID(x.instance, e.Instance),
					ScheduledAt:   api.Time(ts(e)),
				})
			}
		case events.TypeExternalSubscribed:
			if !hasOutcome {
				k := subKey{false, e.Name}
				subs[k] = append(subs[k], e)
			}
		case events.TypeExternalSubscribedPersistent:
			if !hasOutcome {
				k := subKey{true, e.Name}
				subs[k] = append(subs[k], e)
			}
		case events.TypeExternalEvent:
			raised[subKey{false, e.Name}]++
		case events.TypeExternalEventPersistent:
			raised[subKey{true, e.Name}]++
		}
	}
	// The first k uncancelled subscriptions of a name are satisfied, k = the
	// number of events of that name and kind, wherever they are.
	for k, list := range subs {
		for i, e := range list {
			if i < raised[k] {
				continue
			}
			d.PendingEvents = append(d.PendingEvents, api.PendingEvent{
				CorrelationID: e.EventID,
				Name:          e.Name,
				Persistent:    k.persistent,
				SubscribedAt:  api.Time(ts(e)),
			})
		}
	}
	sort.Slice(d.PendingEvents, func(i, j int) bool {
		return d.PendingEvents[i].CorrelationID < d.PendingEvents[j].CorrelationID
	})
	return d
}

// childInstanceID is the full id of a sub-orchestration: Duroxide prefixes
// auto-generated ids ("sub::N") with the parent instance; explicit ids are
// used as recorded.
func childInstanceID(parent, recorded string) string {
	if strings.HasPrefix(recorded, "sub::") {
		return parent + "::" + recorded
	}
	return recorded
}

func optString(s events.OptString) *string {
	if !s.Valid {
		return nil
	}
	v := s.Value
	return &v
}

func (in *instance) latest() *execution { return in.executions[len(in.executions)-1] }

func (in *instance) executionSummaries() []api.ExecutionSummary {
	out := make([]api.ExecutionSummary, 0, len(in.executions))
	for _, x := range in.executions {
		if in.pruned[x.id] {
			continue
		}
		out = append(out, x.summary())
	}
	return out
}

// summarize derives the InstanceSummary per EVENTS.md "Instance fields".
func (in *instance) summarize() {
	last := in.latest()
	s := api.InstanceSummary{
		InstanceID:         in.id,
		Status:             last.status,
		ExecutionCount:     uint64(len(in.executions)),
		CurrentExecutionID: last.id,
		Output:             last.output,
		Error:              last.err,
	}
	if s.Status == api.StatusContinuedAsNew {
		s.Status = api.StatusRunning
	}

	// Name and version: the highest execution with an OrchestrationStarted.
	for i := len(in.executions) - 1; i >= 0; i-- {
		if st := in.executions[i].started; st != nil {
			s.OrchestrationName = st.Name
			s.Version = st.Version
			break
		}
	}

	// Parent and created_at: execution 1's OrchestrationStarted; until it is
	// seen, created_at is the smallest timestamp of the instance.
	var first *events.Event
	if in.executions[0].id == 1 {
		first = in.executions[0].started
	}
	minTS, maxTS := in.executions[0].minTS, in.executions[0].lastEventAt
	for _, x := range in.executions {
		minTS = min(minTS, x.minTS)
		maxTS = max(maxTS, x.lastEventAt)
	}
	if first != nil {
		s.CreatedAt = api.Time(ts(first))
		s.ParentInstance = optString(first.ParentInstance)
		if first.ParentID.Valid {
			p := first.ParentID.Value
			s.ParentID = &p
		}
	} else {
		s.CreatedAt = api.Time(minTS)
	}
	s.UpdatedAt = api.Time(maxTS)

	// custom_status: the candidate with the highest (execution, event) key.
	// Scan from the end; the first candidate found wins.
custom:
	for i := len(in.executions) - 1; i >= 0; i-- {
		evs := in.executions[i].events
		for j := len(evs) - 1; j >= 0; j-- {
			e := evs[j]
			switch {
			case e.Type == events.TypeCustomStatusUpdated:
				s.CustomStatus = optString(e.Status) // null status sets null
				break custom
			case e.Type == events.TypeOrchestrationStarted && e.InitialCustomStatus.Valid:
				s.CustomStatus = optString(e.InitialCustomStatus)
				break custom
			}
		}
	}

	in.summary = s
	if s.Status == api.StatusCompleted || s.Status == api.StatusFailed {
		in.durationMs = *last.completedAt - int64(s.CreatedAt)
		in.hasDurationMs = true
	}
}
