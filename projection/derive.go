package projection

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/duroscope/duroscope/events"
)

// Execution and instance statuses (the same strings as the query API's).
const (
	StatusRunning        = "Running"
	StatusCompleted      = "Completed"
	StatusFailed         = "Failed"
	StatusContinuedAsNew = "ContinuedAsNew"
)

// subPrefix marks a sub-orchestration instance id that Duroxide generated
// relative to its parent ("sub::N" is the child "<parent>::sub::N").
const subPrefix = "sub::"

// Derive computes every read-model row of one instance from its history and
// its source notices (EVENTS.md "Source notices"; docs/deletions.md).
//
// history and notices are sets: any order, any duplicates. Events with the
// same (incarnation, execution_id, event_id) are one event; when copies
// differ, the one that sorts first by content is kept, so the result never
// depends on delivery order. Rows.Version is the number of distinct events
// plus the number of distinct notices, which only grows as more of either
// arrives: the read model's ReplacingMergeTree keeps the rows of the most
// complete derivation.
//
// The rules are EVENTS.md "Derived semantics" and docs/semantics.md. The
// error is for an instance with neither events nor notices, or input that
// mixes instances.
//
// Rows alias strings and *events.ErrorDetails of history; neither argument
// is modified.
func Derive(history []events.Event, notices ...events.Notice) (Rows, error) {
	var id string
	switch {
	case len(history) > 0:
		id = history[0].InstanceID
	case len(notices) > 0:
		id = notices[0].InstanceID
	default:
		return Rows{}, errors.New("projection: derive: empty history and no notices (need at least one event or notice)")
	}
	for i := range history {
		if history[i].InstanceID != id {
			return Rows{}, fmt.Errorf("projection: derive: history mixes instances %q and %q (pass one instance, or use DeriveAll)",
				id, history[i].InstanceID)
		}
	}
	for i := range notices {
		if notices[i].InstanceID != id {
			return Rows{}, fmt.Errorf("projection: derive: notices of instance %q given with instance %q (pass one instance, or use DeriveAll)",
				notices[i].InstanceID, id)
		}
	}
	s := make([]slot, len(history))
	for i := range history {
		s[i] = slot{e: &history[i], out: -1}
	}
	seen := lastSeen(s, notices)
	if len(notices) > 0 {
		r := deriveWithNotices(id, s, notices)
		r.LastSeenMs = seen
		return r, nil
	}
	if !strictlySorted(s) {
		slices.SortFunc(s, compareSlots)
		s = dedupSorted(s)
	}
	r := derive(s)
	r.LastSeenMs = seen
	return r, nil
}

// lastSeen is the latest timestamp of the events of s and of ns
// (Rows.LastSeenMs).
func lastSeen(s []slot, ns []events.Notice) int64 {
	var m uint64
	for _, x := range s {
		m = max(m, x.e.TimestampMs)
	}
	for _, n := range ns {
		m = max(m, n.TimestampMs)
	}
	return int64(m)
}

// DeriveAll derives the rows of every instance in a mixed batch of events
// and notices, sorted by instance id; each instance's rows are exactly what
// Derive gives for its events and notices. An empty batch gives no rows.
// The error is nil today (a non-empty group cannot fail); it is in the
// signature so that validation can be added without changing callers.
func DeriveAll(evts []events.Event, notices ...events.Notice) ([]Rows, error) {
	if len(evts) == 0 && len(notices) == 0 {
		return nil, nil
	}
	// Group by hashing instead of sorting the whole batch by instance id:
	// string comparisons in an n·log n sort cost more than one map lookup
	// per event, and each instance's events are then sorted on their own.
	group := make([]int32, len(evts))
	index := make(map[string]int32)
	var ids []string
	var count []int32
	groupOf := func(id string) int32 {
		g, ok := index[id]
		if !ok {
			g = int32(len(ids))
			index[id] = g
			ids = append(ids, id)
			count = append(count, 0)
		}
		return g
	}
	for i := range evts {
		g := groupOf(evts[i].InstanceID)
		group[i] = g
		count[g]++
	}
	var noticesOf map[int32][]events.Notice
	if len(notices) > 0 {
		noticesOf = make(map[int32][]events.Notice)
		for _, n := range notices {
			g := groupOf(n.InstanceID)
			noticesOf[g] = append(noticesOf[g], n)
		}
	}
	order := make([]int32, len(ids)) // groups by instance id
	for g := range order {
		order[g] = int32(g)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(ids[a], ids[b]) })
	// start[g] is where group g's events begin in s (counting sort).
	start := make([]int32, len(ids))
	var off int32
	for _, g := range order {
		start[g] = off
		off += count[g]
	}
	s := make([]slot, len(evts))
	next := slices.Clone(start)
	for i := range evts {
		g := group[i]
		s[next[g]] = slot{e: &evts[i], out: -1}
		next[g]++
	}
	out := make([]Rows, 0, len(ids))
	for _, g := range order {
		run := s[start[g] : start[g]+count[g]]
		seen := lastSeen(run, noticesOf[g])
		if ns := noticesOf[g]; len(ns) > 0 {
			r := deriveWithNotices(ids[g], run, ns)
			r.LastSeenMs = seen
			out = append(out, r)
			continue
		}
		if !strictlySorted(run) {
			slices.SortFunc(run, compareSlots)
			run = dedupSorted(run)
		}
		r := derive(run)
		r.LastSeenMs = seen
		out = append(out, r)
	}
	return out, nil
}

// slot is one event of the sorted, de-duplicated history. out is the index
// (within the event's execution) of the event that resolves it: for a
// scheduling event (activity, timer, subscription, sub-orchestration) its
// outcome or cancellation with the lowest event id; -1 while unresolved.
type slot struct {
	e   *events.Event
	out int32
}

// strictlySorted reports whether s is ascending by (execution, event) with no
// two events sharing a key: the usual in-order delivery, which needs no sort.
func strictlySorted(s []slot) bool {
	for i := 1; i < len(s); i++ {
		a, b := s[i-1].e, s[i].e
		if a.ExecutionID > b.ExecutionID || (a.ExecutionID == b.ExecutionID && a.EventID >= b.EventID) {
			return false
		}
	}
	return true
}

// compareSlots orders by (execution, event) and, for copies of one event, by
// content, so that the copy kept by dedupSorted is the same whatever the
// delivery order.
func compareSlots(a, b slot) int {
	if c := cmp.Compare(a.e.ExecutionID, b.e.ExecutionID); c != 0 {
		return c
	}
	if c := cmp.Compare(a.e.EventID, b.e.EventID); c != 0 {
		return c
	}
	return compareContent(a.e, b.e)
}

// dedupSorted keeps the first copy of every (execution, event) key of a
// sorted slice, in place.
func dedupSorted(s []slot) []slot {
	if len(s) < 2 {
		return s
	}
	w := 1
	for i := 1; i < len(s); i++ {
		p, e := s[w-1].e, s[i].e
		if e.ExecutionID == p.ExecutionID && e.EventID == p.EventID {
			continue
		}
		s[w] = s[i]
		w++
	}
	return s[:w]
}

// compareContent orders two copies of the same event by every field the
// projection reads. Copies equal in all of them derive identical rows, so
// which of those is kept does not matter; fields the projection ignores
// (Raw, DuroxideVersion, KeyValue fields) are deliberately not compared.
func compareContent(a, b *events.Event) int {
	if c := strings.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	if c := cmp.Compare(a.TimestampMs, b.TimestampMs); c != 0 {
		return c
	}
	if c := compareOptUint(a.SourceEventID, b.SourceEventID); c != 0 {
		return c
	}
	for _, p := range [...][2]string{
		{a.Name, b.Name}, {a.Version, b.Version}, {a.Input, b.Input},
		{a.Output, b.Output}, {a.Instance, b.Instance},
	} {
		if c := strings.Compare(p[0], p[1]); c != 0 {
			return c
		}
	}
	for _, p := range [...][2]events.OptString{
		{a.ParentInstance, b.ParentInstance}, {a.InitialCustomStatus, b.InitialCustomStatus},
		{a.Status, b.Status}, {a.Tag, b.Tag},
	} {
		if c := compareOptString(p[0], p[1]); c != 0 {
			return c
		}
	}
	if c := compareOptUint(a.ParentID, b.ParentID); c != 0 {
		return c
	}
	if c := cmp.Compare(a.FireAtMs, b.FireAtMs); c != 0 {
		return c
	}
	return compareDetails(a.Details, b.Details)
}

func compareOptUint(a, b events.OptUint) int {
	if a.Valid != b.Valid {
		if !a.Valid {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.Value, b.Value)
}

func compareOptString(a, b events.OptString) int {
	if a.Valid != b.Valid {
		if !a.Valid {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Value, b.Value)
}

func compareDetails(a, b *events.ErrorDetails) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if c := strings.Compare(a.Category, b.Category); c != 0 {
		return c
	}
	if c := strings.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	if c := strings.Compare(a.Message, b.Message); c != 0 {
		return c
	}
	if a.Retryable != b.Retryable {
		if !a.Retryable {
			return -1
		}
		return 1
	}
	return 0
}

// outcomeTarget is the scheduling type an outcome/cancellation event must
// point at (same execution) to count (docs/semantics.md 4); "" for other
// types.
func outcomeTarget(typ string) string {
	switch typ {
	case events.TypeActivityCompleted, events.TypeActivityFailed, events.TypeActivityCancelRequested:
		return events.TypeActivityScheduled
	case events.TypeTimerFired:
		return events.TypeTimerCreated
	case events.TypeExternalSubscribedCancelled:
		return events.TypeExternalSubscribed
	case events.TypeExternalSubscribedPersistentCancelled:
		return events.TypeExternalSubscribedPersistent
	case events.TypeSubOrchestrationCompleted, events.TypeSubOrchestrationFailed, events.TypeSubOrchestrationCancelRequested:
		return events.TypeSubOrchestrationScheduled
	}
	return ""
}

// find returns the index in seg (ascending, distinct event ids) of the event
// with id, or -1. Event ids are normally dense from 1, so the direct probe
// almost always hits and the binary search is the fallback.
func find(seg []slot, id uint64) int {
	if first := seg[0].e.EventID; id >= first {
		if d := id - first; d < uint64(len(seg)) && seg[d].e.EventID == id {
			return int(d)
		}
	}
	lo, hi := 0, len(seg)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if seg[m].e.EventID < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(seg) && seg[lo].e.EventID == id {
		return lo
	}
	return -1
}

// extKey is one external-event channel of an execution: a name and a kind.
type extKey struct {
	name       string
	persistent bool
}

// extCount is, for one channel, the number of events raised (k) and of
// uncancelled subscriptions seen so far in event id order.
type extCount struct {
	raised, seen int
}

// extTable maps channels to counts. An execution rarely uses more than a few
// channels, so they live in a small inline array (no allocation) and only
// spill into a map beyond that.
type extTable struct {
	keys  [8]extKey
	vals  [8]extCount
	n     int
	spill map[extKey]*extCount
}

// get returns the counts of k, adding the channel if it is new.
func (t *extTable) get(k extKey) *extCount {
	for i := range t.n {
		if t.keys[i] == k {
			return &t.vals[i]
		}
	}
	if t.n < len(t.keys) {
		t.keys[t.n] = k
		t.n++
		return &t.vals[t.n-1]
	}
	if t.spill == nil {
		t.spill = make(map[extKey]*extCount)
	}
	c := t.spill[k]
	if c == nil {
		c = new(extCount)
		t.spill[k] = c
	}
	return c
}

func ts(e *events.Event) int64 { return int64(e.TimestampMs) }

// derive computes the rows of one instance from its sorted, de-duplicated,
// non-empty history (all of one instance).
func derive(s []slot) Rows {
	n := len(s)
	first := s[0].e
	var nExec, nAct, nWork int
	for i := range s {
		e := s[i].e
		if i == 0 || e.ExecutionID != s[i-1].e.ExecutionID {
			nExec++
		}
		switch e.Type {
		case events.TypeActivityScheduled:
			nAct++
			nWork++
		case events.TypeTimerCreated, events.TypeExternalSubscribed,
			events.TypeExternalSubscribedPersistent, events.TypeSubOrchestrationScheduled:
			nWork++
		}
	}

	r := Rows{Version: uint64(n)}
	r.Executions = make([]ExecutionRow, 0, nExec)
	if nAct > 0 {
		r.Activities = make([]ActivityRow, 0, nAct)
	}
	if nWork > 0 {
		r.Work = make([]WorkRow, 0, nWork)
	}

	in := &r.Instance
	in.InstanceID = first.InstanceID
	in.EventCount = uint64(n)
	in.ExecutionCount = uint64(nExec)
	minTS, maxTS := ts(first), ts(first)
	var exec1Started *events.Event

	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && s[hi].e.ExecutionID == s[lo].e.ExecutionID {
			hi++
		}
		seg := s[lo:hi]
		latest := hi == n
		lo = hi

		// Pass 1: lifecycle, times, custom status, outcome links, and (latest
		// execution only) the number of external events per channel.
		var started, decider *events.Event
		segMin, segMax := ts(seg[0].e), ts(seg[0].e)
		var ext extTable
		for i := range seg {
			e := seg[i].e
			t := ts(e)
			segMin = min(segMin, t)
			segMax = max(segMax, t)
			switch e.Type {
			case events.TypeOrchestrationStarted:
				if started == nil {
					started = e
				}
				decider = e
				// An absent or null initial_custom_status is not a candidate.
				if e.InitialCustomStatus.Valid {
					in.CustomStatus = e.InitialCustomStatus
				}
			case events.TypeOrchestrationCompleted, events.TypeOrchestrationFailed, events.TypeOrchestrationContinuedAsNew:
				decider = e
			case events.TypeCustomStatusUpdated:
				// A null status is a candidate too: it resets to null. Events
				// are ascending by (execution, event), so the last one wins.
				in.CustomStatus = e.Status
			case events.TypeExternalEvent, events.TypeExternalEventPersistent:
				if latest {
					ext.get(extKey{e.Name, e.Type == events.TypeExternalEventPersistent}).raised++
				}
			default:
				want := outcomeTarget(e.Type)
				if want == "" || !e.SourceEventID.Valid {
					break
				}
				// Ascending event ids: the first outcome linked is the one
				// with the lowest event id.
				if j := find(seg, e.SourceEventID.Value); j >= 0 && seg[j].e.Type == want && seg[j].out < 0 {
					seg[j].out = int32(i)
				}
			}
		}
		minTS = min(minTS, segMin)
		maxTS = max(maxTS, segMax)

		x := ExecutionRow{
			InstanceID:    first.InstanceID,
			ExecutionID:   seg[0].e.ExecutionID,
			Status:        StatusRunning,
			StartedAtMs:   segMin, // until its OrchestrationStarted is seen
			LastEventAtMs: segMax,
			EventCount:    uint64(len(seg)),
		}
		if started != nil {
			if started.EventID == 1 {
				r.Starts = append(r.Starts, StartRow{ExecutionID: x.ExecutionID,
					OrchestrationName: started.Name, OrchestrationVersion: started.Version, TimestampMs: ts(started)})
			}
			x.OrchestrationName = started.Name
			x.StartedAtMs = ts(started)
			in.OrchestrationName = started.Name
			in.OrchestrationVersion = started.Version
			if x.ExecutionID == 1 {
				exec1Started = started
			}
		}
		if decider != nil {
			switch decider.Type {
			case events.TypeOrchestrationCompleted:
				x.Status = StatusCompleted
				x.Output = events.OptString{Value: decider.Output, Valid: true}
			case events.TypeOrchestrationFailed:
				x.Status = StatusFailed
				x.Error = decider.Details
			case events.TypeOrchestrationContinuedAsNew:
				x.Status = StatusContinuedAsNew
			}
			if x.Status != StatusRunning {
				x.CompletedAtMs = OptInt{Value: ts(decider), Valid: true}
				x.DurationMs = OptInt{Value: ts(decider) - x.StartedAtMs, Valid: true}
			}
		}
		r.Executions = append(r.Executions, x)

		// Pass 2: activities and work items. Work exists only in the latest
		// execution of a Running instance, and none once that execution has
		// continued as new.
		live := latest && x.Status == StatusRunning
		for i := range seg {
			e := seg[i].e
			var out *events.Event
			if o := seg[i].out; o >= 0 {
				out = seg[o].e
			}
			switch e.Type {
			case events.TypeActivityScheduled:
				a := ActivityRow{
					InstanceID:        first.InstanceID,
					ExecutionID:       x.ExecutionID,
					EventID:           e.EventID,
					ActivityName:      e.Name,
					OrchestrationName: x.OrchestrationName,
					IsSystem:          strings.HasPrefix(e.Name, events.SystemCallPrefix),
					ScheduledAtMs:     ts(e),
					Outcome:           OutcomePending,
				}
				if out != nil {
					a.OutcomeAtMs = OptInt{Value: ts(out), Valid: true}
					switch out.Type {
					case events.TypeActivityCompleted:
						a.Outcome = OutcomeCompleted
						a.DurationMs = OptInt{Value: ts(out) - ts(e), Valid: true}
					case events.TypeActivityFailed:
						a.Outcome = OutcomeFailed
						a.DurationMs = OptInt{Value: ts(out) - ts(e), Valid: true}
						a.Error = out.Details
					case events.TypeActivityCancelRequested:
						a.Outcome = OutcomeCancelled
					}
				}
				r.Activities = append(r.Activities, a)
				pending := live && out == nil
				if pending {
					in.PendingActivities++
				}
				r.Work = append(r.Work, WorkRow{
					InstanceID:    first.InstanceID,
					ExecutionID:   x.ExecutionID,
					Kind:          KindActivity,
					CorrelationID: e.EventID,
					Pending:       pending,
					Name:          e.Name,
					Input:         e.Input,
					Tag:           e.Tag,
					ScheduledAtMs: ts(e),
				})
			case events.TypeTimerCreated:
				pending := live && out == nil
				if pending {
					in.PendingTimers++
				}
				r.Work = append(r.Work, WorkRow{
					InstanceID:    first.InstanceID,
					ExecutionID:   x.ExecutionID,
					Kind:          KindTimer,
					CorrelationID: e.EventID,
					Pending:       pending,
					ScheduledAtMs: ts(e),
					FireAtMs:      int64(e.FireAtMs),
					DelayMs:       max(int64(e.FireAtMs)-ts(e), 0),
				})
			case events.TypeExternalSubscribed, events.TypeExternalSubscribedPersistent:
				persistent := e.Type == events.TypeExternalSubscribedPersistent
				pending := false
				if live && out == nil {
					// The first k uncancelled subscriptions of a channel are
					// satisfied, k = the events raised on it (any position).
					c := ext.get(extKey{e.Name, persistent})
					pending = c.seen >= c.raised
					c.seen++
				}
				if pending {
					in.PendingEvents++
				}
				r.Work = append(r.Work, WorkRow{
					InstanceID:    first.InstanceID,
					ExecutionID:   x.ExecutionID,
					Kind:          KindEvent,
					CorrelationID: e.EventID,
					Pending:       pending,
					Name:          e.Name,
					Persistent:    persistent,
					ScheduledAtMs: ts(e),
				})
			case events.TypeSubOrchestrationScheduled:
				pending := live && out == nil
				if pending {
					in.PendingSubOrchestrations++
				}
				child := e.Instance
				if strings.HasPrefix(child, subPrefix) {
					child = first.InstanceID + "::" + child
				}
				r.Work = append(r.Work, WorkRow{
					InstanceID:    first.InstanceID,
					ExecutionID:   x.ExecutionID,
					Kind:          KindSubOrchestration,
					CorrelationID: e.EventID,
					Pending:       pending,
					Name:          e.Name,
					Input:         e.Input,
					ChildInstance: child,
					ScheduledAtMs: ts(e),
				})
			}
		}
	}

	last := &r.Executions[len(r.Executions)-1]
	in.CurrentExecutionID = last.ExecutionID
	in.Status = last.Status
	if in.Status == StatusContinuedAsNew {
		in.Status = StatusRunning
	}
	in.Output = last.Output
	in.Error = last.Error
	in.UpdatedAtMs = maxTS
	in.CreatedAtMs = minTS // until execution 1's OrchestrationStarted is seen
	if exec1Started != nil {
		in.CreatedAtMs = ts(exec1Started)
		in.ParentInstance = exec1Started.ParentInstance
		in.ParentID = exec1Started.ParentID
	}
	if in.Status == StatusCompleted || in.Status == StatusFailed {
		in.DurationMs = OptInt{Value: last.CompletedAtMs.Value - in.CreatedAtMs, Valid: true}
	}
	return r
}
