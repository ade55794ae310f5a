package projector

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// The drift self-check's comparison (pure): what the read model holds of
// one instance against the rows derived from its stored history.
//
// The read order makes it exact. The projector writes an instance's history
// (and notices) before the rows derived from it, and the check reads the
// rows before the history, so every stored row's version (the number of
// events and notices it was derived from) is at most the derivation's
// version N. Per row key (the instance row; each execution):
//   - a version above N, or version N with a copy other than the derived
//     row, or a live row the derivation has no key for (it writes a
//     tombstone for every key an earlier derivation could have written), or
//     rows of an instance without history: no write of the projector
//     explains it; the instance has drifted;
//   - a version below N, or a live derived row not stored at all: the rows
//     are behind the history, which is normal while the projector writes
//     the batch; it is drift only when it lasts (drift.go);
//   - otherwise (version N, every copy equal; or tombstones on both sides,
//     a missing row counting as one) the row is in step.

// driftVerdict is the comparison's outcome, the worst over the rows.
type driftVerdict int

const (
	inStep  driftVerdict = iota // the read model answers the derivation
	behind                      // older than the history (drift only if it lasts)
	drifted                     // no projector write explains it
)

// driftResult is a verdict and, unless in step, why (the first row found).
type driftResult struct {
	verdict driftVerdict
	why     string
}

// worse keeps the worse of r and o (the first reason of that verdict).
func (r *driftResult) worse(o driftResult) {
	if o.verdict > r.verdict {
		*r = o
	}
}

// compareDrift compares stored (nil: no row of the instance) with derived
// (nil: the instance has neither events nor notices).
func compareDrift(derived *projection.Rows, stored *chwrite.StoredInstance) driftResult {
	if stored == nil {
		stored = &chwrite.StoredInstance{}
	}
	var res driftResult
	if derived == nil {
		if live(stored.Instance, func(r projection.InstanceRow) bool { return r.Deleted }) {
			res.worse(driftResult{drifted, "instance row without history"})
		}
		for _, id := range sortedKeys(stored.Executions) {
			if live(*stored.Executions[id], func(r projection.ExecutionRow) bool { return r.Deleted }) {
				res.worse(driftResult{drifted, fmt.Sprintf("execution %d without history", id)})
			}
		}
		return res
	}
	n := derived.Version
	res.worse(compareKey("instance row", n, derived.Instance, derived.Instance.Deleted, &stored.Instance,
		func(r projection.InstanceRow) bool { return r.Deleted }, instanceDiff))
	want := make(map[uint64]bool, len(derived.Executions))
	for _, e := range derived.Executions {
		want[e.ExecutionID] = true
		res.worse(compareKey(fmt.Sprintf("execution %d", e.ExecutionID), n, e, e.Deleted, stored.Executions[e.ExecutionID],
			func(r projection.ExecutionRow) bool { return r.Deleted }, executionDiff))
	}
	for _, id := range sortedKeys(stored.Executions) {
		if !want[id] && live(*stored.Executions[id], func(r projection.ExecutionRow) bool { return r.Deleted }) {
			res.worse(driftResult{drifted, fmt.Sprintf("execution %d is stored but not in the history", id)})
		}
	}
	return res
}

// compareKey compares the stored copies of one row key with the derived
// row (version n). diff describes how two live rows differ ("" if equal).
func compareKey[T any](what string, n uint64, derived T, derivedDeleted bool, stored *chwrite.Stored[T],
	deleted func(T) bool, diff func(stored, derived T) string) driftResult {
	if stored == nil || len(stored.Copies) == 0 {
		if derivedDeleted {
			return driftResult{}
		}
		return driftResult{behind, what + " missing"}
	}
	switch {
	case stored.Version > n:
		return driftResult{drifted, fmt.Sprintf("%s at version %d, above the %d events and notices of the history", what, stored.Version, n)}
	case stored.Version < n:
		return driftResult{behind, fmt.Sprintf("%s at version %d, the history has %d", what, stored.Version, n)}
	}
	for _, c := range stored.Copies {
		var d string
		switch {
		case deleted(c) && derivedDeleted:
		case deleted(c):
			d = "stored deleted, derived live"
		case derivedDeleted:
			d = "stored live, derived deleted"
		default:
			d = diff(c, derived)
		}
		if d != "" {
			return driftResult{drifted, fmt.Sprintf("%s at version %d: %s", what, n, d)}
		}
	}
	return driftResult{}
}

// live reports whether s holds a live (not tombstone) copy.
func live[T any](s chwrite.Stored[T], deleted func(T) bool) bool {
	return slices.ContainsFunc(s.Copies, func(r T) bool { return !deleted(r) })
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// fieldDiffs collects the fields in which a stored row differs from the
// derived one.
type fieldDiffs []string

func (d *fieldDiffs) check(name string, stored, derived any) {
	if stored != derived {
		*d = append(*d, fmt.Sprintf("%s stored %v, derived %v", name, stored, derived))
	}
}

func (d fieldDiffs) String() string { return strings.Join(d, "; ") }

func instanceDiff(s, r projection.InstanceRow) string {
	var d fieldDiffs
	d.check("orchestration_name", s.OrchestrationName, r.OrchestrationName)
	d.check("orchestration_version", s.OrchestrationVersion, r.OrchestrationVersion)
	d.check("status", s.Status, r.Status)
	d.check("created_at_ms", s.CreatedAtMs, r.CreatedAtMs)
	d.check("updated_at_ms", s.UpdatedAtMs, r.UpdatedAtMs)
	d.check("execution_count", s.ExecutionCount, r.ExecutionCount)
	d.check("current_execution_id", s.CurrentExecutionID, r.CurrentExecutionID)
	d.check("parent_instance", optString(s.ParentInstance), optString(r.ParentInstance))
	d.check("parent_id", optUint(s.ParentID), optUint(r.ParentID))
	d.check("output", optString(s.Output), optString(r.Output))
	d.check("error", errorText(s.Error), errorText(r.Error))
	d.check("custom_status", optString(s.CustomStatus), optString(r.CustomStatus))
	d.check("duration_ms", optInt(s.DurationMs), optInt(r.DurationMs))
	d.check("pending_activities", s.PendingActivities, r.PendingActivities)
	d.check("pending_timers", s.PendingTimers, r.PendingTimers)
	d.check("pending_events", s.PendingEvents, r.PendingEvents)
	d.check("pending_sub_orchestrations", s.PendingSubOrchestrations, r.PendingSubOrchestrations)
	d.check("event_count", s.EventCount, r.EventCount)
	return d.String()
}

func executionDiff(s, r projection.ExecutionRow) string {
	var d fieldDiffs
	d.check("orchestration_name", s.OrchestrationName, r.OrchestrationName)
	d.check("status", s.Status, r.Status)
	d.check("started_at_ms", s.StartedAtMs, r.StartedAtMs)
	d.check("completed_at_ms", optInt(s.CompletedAtMs), optInt(r.CompletedAtMs))
	d.check("last_event_at_ms", s.LastEventAtMs, r.LastEventAtMs)
	d.check("event_count", s.EventCount, r.EventCount)
	d.check("duration_ms", optInt(s.DurationMs), optInt(r.DurationMs))
	d.check("output", optString(s.Output), optString(r.Output))
	d.check("error", errorText(s.Error), errorText(r.Error))
	return d.String()
}

// optString, optUint, optInt and errorText render optional values for
// comparison and for the log ("null" when absent).
func optString(v events.OptString) string {
	if !v.Valid {
		return "null"
	}
	return fmt.Sprintf("%q", v.Value)
}

func optUint(v events.OptUint) string {
	if !v.Valid {
		return "null"
	}
	return fmt.Sprint(v.Value)
}

func optInt(v projection.OptInt) string {
	if !v.Valid {
		return "null"
	}
	return fmt.Sprint(v.Value)
}

// errorText is the error as the read model answers it: chwrite stores it
// as JSON, which replaces invalid UTF-8, and readers decode that; so the
// derived error is rendered after the same round trip.
func errorText(e *events.ErrorDetails) string {
	if e == nil {
		return "null"
	}
	b, _ := json.Marshal(e) // four plain fields: cannot fail
	var back events.ErrorDetails
	_ = json.Unmarshal(b, &back) // Marshal's own output: cannot fail
	b, _ = json.Marshal(back)
	return string(b)
}
