package projection

import (
	"cmp"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/duroscope/duroscope/events"
)

// Notices (docs/deletions.md). Per instance id, D is the set of
// InstanceDeleted timestamps. The deletions cut the id's events into
// incarnations: an event belongs to the first deletion at or after its
// timestamp_ms, or to the live incarnation when it is after max(D). Events
// are the same event when they share (incarnation, execution_id, event_id).
// ExecutionsPruned notices after max(D) prune executions of the live
// incarnation; earlier ones concern a deleted incarnation and change
// nothing.

// noticeSet is the distinct notices of one instance.
type noticeSet struct {
	deletions []uint64        // distinct InstanceDeleted timestamps, ascending
	count     int             // distinct notices
	pruned    map[uint64]bool // executions of the live incarnation pruned
}

// noticeIdentity is what makes two notices the same notice: their type,
// timestamp and (for prunes) set of executions.
func noticeIdentity(n events.Notice) string {
	var b strings.Builder
	b.WriteString(n.Type)
	b.WriteByte('/')
	b.WriteString(strconv.FormatUint(n.TimestampMs, 10))
	if n.Type == events.TypeExecutionsPruned {
		ids := slices.Clone(n.ExecutionIDs)
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			b.WriteByte('/')
			b.WriteString(strconv.FormatUint(id, 10))
		}
	}
	return b.String()
}

func collectNotices(ns []events.Notice) noticeSet {
	var set noticeSet
	seen := make(map[string]bool, len(ns))
	var prunes []events.Notice
	for _, n := range ns {
		k := noticeIdentity(n)
		if seen[k] {
			continue
		}
		seen[k] = true
		set.count++
		switch n.Type {
		case events.TypeInstanceDeleted:
			set.deletions = append(set.deletions, n.TimestampMs)
		case events.TypeExecutionsPruned:
			prunes = append(prunes, n)
		}
	}
	slices.Sort(set.deletions)
	set.pruned = map[uint64]bool{}
	for _, p := range prunes {
		if len(set.deletions) > 0 && p.TimestampMs <= set.deletions[len(set.deletions)-1] {
			continue // a deleted incarnation's executions: nothing left to prune
		}
		for _, id := range p.ExecutionIDs {
			set.pruned[id] = true
		}
	}
	return set
}

// incarnationOf is the index of the incarnation of an event at ts: i for
// the one ended by deletions[i], len(deletions) for the live one.
func incarnationOf(deletions []uint64, ts uint64) int {
	return sort.Search(len(deletions), func(i int) bool { return deletions[i] >= ts })
}

// workKey is the key of a pending_work row.
type workKey struct {
	exec uint64
	kind string
	corr uint64
}

// actKey is the key of an activities row.
type actKey struct{ exec, event uint64 }

// factKey is the key of an activity report fact (docs/reports.md).
type factKey struct {
	activity, orchestration string
	scheduled               int64
	exec, event             uint64
}

// workKind is the pending_work kind a scheduling event type produces, ""
// for the other types.
func workKind(typ string) string {
	switch typ {
	case events.TypeActivityScheduled:
		return KindActivity
	case events.TypeTimerCreated:
		return KindTimer
	case events.TypeExternalSubscribed, events.TypeExternalSubscribedPersistent:
		return KindEvent
	case events.TypeSubOrchestrationScheduled:
		return KindSubOrchestration
	}
	return ""
}

// deriveWithNotices derives the rows of instance id from its events s (any
// order, duplicates allowed; s is reordered in place) and its notices ns
// (non-empty).
func deriveWithNotices(id string, s []slot, ns []events.Notice) Rows {
	set := collectNotices(ns)
	dels := set.deletions

	// Split the events into incarnations, then sort and deduplicate each.
	inc := make([][]slot, len(dels)+1)
	if len(dels) == 0 {
		inc[0] = s
	} else {
		for _, x := range s {
			k := incarnationOf(dels, x.e.TimestampMs)
			inc[k] = append(inc[k], x)
		}
	}
	distinct := 0
	for k := range inc {
		if !strictlySorted(inc[k]) {
			slices.SortFunc(inc[k], compareSlots)
			inc[k] = dedupSorted(inc[k])
		}
		distinct += len(inc[k])
	}
	version := uint64(distinct + set.count)

	live := inc[len(dels)]
	var r Rows
	if len(live) > 0 {
		r = derive(live)
	} else {
		r.Instance = InstanceRow{InstanceID: id, Deleted: true}
	}
	r.Version = version

	// Every key any event could have produced in a derivation of a subset.
	execs := map[uint64]bool{}
	acts := map[actKey]bool{}
	work := map[workKey]bool{}
	for k := range inc {
		for _, x := range inc[k] {
			e := x.e
			execs[e.ExecutionID] = true
			kind := workKind(e.Type)
			if kind == "" {
				continue
			}
			work[workKey{e.ExecutionID, kind, e.EventID}] = true
			if e.Type == events.TypeActivityScheduled {
				acts[actKey{e.ExecutionID, e.EventID}] = true
			}
		}
	}

	liveActivities := slices.Clone(r.Activities)
	// The live incarnation's rows stay, but pruned executions; every other
	// key gets a tombstone.
	kept := r.Executions[:0]
	for _, x := range r.Executions {
		if !set.pruned[x.ExecutionID] {
			kept = append(kept, x)
			delete(execs, x.ExecutionID)
		}
	}
	r.Executions = kept
	for _, a := range r.Activities {
		delete(acts, actKey{a.ExecutionID, a.EventID})
	}
	for _, w := range r.Work {
		delete(work, workKey{w.ExecutionID, w.Kind, w.CorrelationID})
	}
	for _, x := range slices.Sorted(maps.Keys(execs)) {
		r.Executions = append(r.Executions, ExecutionRow{InstanceID: id, ExecutionID: x, Deleted: true})
	}
	slices.SortFunc(r.Executions, func(a, b ExecutionRow) int { return cmp.Compare(a.ExecutionID, b.ExecutionID) })
	for _, k := range slices.SortedFunc(maps.Keys(acts), func(a, b actKey) int {
		return cmp.Or(cmp.Compare(a.exec, b.exec), cmp.Compare(a.event, b.event))
	}) {
		r.Activities = append(r.Activities, ActivityRow{InstanceID: id, ExecutionID: k.exec, EventID: k.event, Deleted: true})
	}
	for _, k := range slices.SortedFunc(maps.Keys(work), func(a, b workKey) int {
		return cmp.Or(cmp.Compare(a.exec, b.exec), strings.Compare(a.kind, b.kind), cmp.Compare(a.corr, b.corr))
	}) {
		r.Work = append(r.Work, WorkRow{InstanceID: id, ExecutionID: k.exec, Kind: k.kind, CorrelationID: k.corr, Deleted: true})
	}

	// The deleted incarnations, for the reports.
	views := make([]incView, 0, len(inc))
	for k := range dels {
		if len(inc[k]) == 0 {
			continue
		}
		p := derive(inc[k])
		r.Past = append(r.Past, Incarnation{DeletedAtMs: int64(dels[k]), Instance: p.Instance, Starts: p.Starts, Activities: p.Activities})
		views = append(views, incView{p.Starts, p.Activities})
	}
	if len(live) > 0 {
		views = append(views, incView{r.Starts, liveActivities})
	}
	r.StaleReportActivities = staleReportActivities(id, views)
	return r
}

// incView is what one incarnation gives the reports.
type incView struct {
	starts     []StartRow
	activities []ActivityRow
}

// staleReportActivities lists the activity report facts a derivation of a
// subset could have written and no incarnation writes now. Before the
// InstanceDeleted that separates two incarnations is known, their events
// are one history: an activity of one may be paired with the other's
// OrchestrationStarted (event 1) of the same execution, and its fact keyed
// by that orchestration name.
func staleReportActivities(id string, views []incView) []ActivityRow {
	if len(views) < 2 {
		return nil
	}
	names := map[uint64][]string{} // execution → every start name of any incarnation
	for _, v := range views {
		for _, s := range v.starts {
			if !slices.Contains(names[s.ExecutionID], s.OrchestrationName) {
				names[s.ExecutionID] = append(names[s.ExecutionID], s.OrchestrationName)
			}
		}
	}
	final := map[factKey]bool{}
	for _, v := range views {
		for _, a := range v.activities {
			if orch, ok := startName(v.starts, a.ExecutionID); ok {
				final[factKey{a.ActivityName, orch, a.ScheduledAtMs, a.ExecutionID, a.EventID}] = true
			}
		}
	}
	var stale []ActivityRow
	seen := map[factKey]bool{}
	for _, v := range views {
		for _, a := range v.activities {
			for _, orch := range names[a.ExecutionID] {
				k := factKey{a.ActivityName, orch, a.ScheduledAtMs, a.ExecutionID, a.EventID}
				if final[k] || seen[k] {
					continue
				}
				seen[k] = true
				stale = append(stale, ActivityRow{InstanceID: id, ExecutionID: a.ExecutionID, EventID: a.EventID,
					ActivityName: a.ActivityName, OrchestrationName: orch, ScheduledAtMs: a.ScheduledAtMs, Deleted: true})
			}
		}
	}
	slices.SortFunc(stale, func(a, b ActivityRow) int {
		return cmp.Or(cmp.Compare(a.ExecutionID, b.ExecutionID), cmp.Compare(a.EventID, b.EventID),
			cmp.Compare(a.ScheduledAtMs, b.ScheduledAtMs), strings.Compare(a.ActivityName, b.ActivityName),
			strings.Compare(a.OrchestrationName, b.OrchestrationName))
	})
	return stale
}

// startName is the orchestration name of execution exec's
// OrchestrationStarted (event 1) in starts (one incarnation's), if any: what
// the reports key that execution's activities by.
func startName(starts []StartRow, exec uint64) (string, bool) {
	for _, s := range starts {
		if s.ExecutionID == exec {
			return s.OrchestrationName, true
		}
	}
	return "", false
}
