package gen

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duroscope/duroscope/events"
)

func collect(cfg Config) [][]events.Event {
	var hs [][]events.Event
	for h := range Histories(cfg) {
		hs = append(hs, h)
	}
	return hs
}

func concatRaw(hs [][]events.Event) []byte {
	var b bytes.Buffer
	for _, h := range hs {
		for _, e := range h {
			b.Write(e.Raw)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func TestDeterminism(t *testing.T) {
	cfg := Config{Seed: 42, Instances: 500, SpreadMs: 3600_000, RunningFraction: 0.2, UnknownTypeFraction: 0.05}
	a, b := concatRaw(collect(cfg)), concatRaw(collect(cfg))
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed produced different bytes")
	}
	cfg.Seed = 43
	if c := concatRaw(collect(cfg)); bytes.Equal(a, c) {
		t.Fatal("a different seed produced the same bytes")
	}
	// A larger run only appends instances: the first ones are unchanged.
	cfg.Seed = 42
	small := collect(Config{Seed: 42, Instances: 50, SpreadMs: 50 * 7200, RunningFraction: 0.2})
	large := collect(Config{Seed: 42, Instances: 100, SpreadMs: 100 * 7200, RunningFraction: 0.2})
	first := map[string][]byte{}
	for _, h := range large {
		first[h[0].InstanceID] = concatRaw([][]events.Event{h})
	}
	for _, h := range small {
		if !bytes.Equal(first[h[0].InstanceID], concatRaw([][]events.Event{h})) {
			t.Fatalf("instance %s differs between a 50- and a 100-instance run", h[0].InstanceID)
		}
	}
}

// outcomeOf maps an outcome type to the scheduling type its source_event_id
// must point at.
var outcomeOf = map[string]string{
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

// checkHistory verifies one instance history against the contract and
// Duroxide's rules; it returns the first problem found.
func checkHistory(h []events.Event) error {
	if len(h) == 0 {
		return fmt.Errorf("empty history")
	}
	id := h[0].InstanceID
	type key struct{ exec, ev uint64 }
	byKey := map[key]*events.Event{}
	outcomes := map[key]int{}
	var exec, next uint64
	var lastTs uint64
	terminal := false // the current execution has ended
	for i := range h {
		e := &h[i]
		where := fmt.Sprintf("%s exec %d event %d (%s)", id, e.ExecutionID, e.EventID, e.Type)
		if e.InstanceID != id {
			return fmt.Errorf("%s: instance id differs from the history's %q", where, id)
		}
		// Wire form: decodes, and re-encodes to the very same bytes.
		d, err := events.Decode(e.Raw)
		if err != nil {
			return fmt.Errorf("%s: Decode: %v (%s)", where, err, e.Raw)
		}
		if d.EventKey() != e.EventKey() || d.Type != e.Type || d.Known != e.Known || d.TimestampMs != e.TimestampMs {
			return fmt.Errorf("%s: decodes to a different event: %+v", where, d.EventKey())
		}
		if d.Known {
			if got := events.Marshal(&d); !bytes.Equal(got, e.Raw) {
				return fmt.Errorf("%s: Marshal(Decode(raw)) != raw:\n%s\n%s", where, got, e.Raw)
			}
			if (d.Details == nil) != (e.Details == nil) || d.Details != nil && *d.Details != *e.Details {
				return fmt.Errorf("%s: details project to %+v, generated %+v", where, d.Details, e.Details)
			}
		}
		// Ids: executions 1, 2, ...; events 1, 2, ... in each; Started first.
		switch {
		case e.ExecutionID == exec+1:
			if exec > 0 && !terminal {
				return fmt.Errorf("%s: execution %d did not end before the next began", where, exec)
			}
			if i > 0 && h[i-1].Type != events.TypeOrchestrationContinuedAsNew {
				return fmt.Errorf("%s: a new execution follows %s, not OrchestrationContinuedAsNew", where, h[i-1].Type)
			}
			exec, next, terminal = e.ExecutionID, 1, false
			if e.EventID != 1 || e.Type != events.TypeOrchestrationStarted {
				return fmt.Errorf("%s: an execution must begin with OrchestrationStarted as event 1", where)
			}
		case e.ExecutionID != exec:
			return fmt.Errorf("%s: execution id out of sequence (current %d)", where, exec)
		}
		if e.EventID != next {
			return fmt.Errorf("%s: event id not consecutive (want %d)", where, next)
		}
		next++
		if e.TimestampMs < lastTs {
			return fmt.Errorf("%s: timestamp %d before the previous event's %d", where, e.TimestampMs, lastTs)
		}
		lastTs = e.TimestampMs
		if terminal {
			// Only the cancellation's cleanup may follow a terminal event.
			if e.Type != events.TypeActivityCancelRequested && e.Type != events.TypeSubOrchestrationCancelRequested {
				return fmt.Errorf("%s: event after the execution's terminal event", where)
			}
		}
		switch e.Type {
		case events.TypeOrchestrationCompleted, events.TypeOrchestrationFailed, events.TypeOrchestrationContinuedAsNew:
			terminal = true
		case events.TypeOrchestrationStarted:
			wantParent := ""
			var wantParentID uint64
			if i := strings.LastIndex(id, "::sub::"); i >= 0 && e.ExecutionID == 1 {
				wantParent = id[:i]
				wantParentID, _ = strconv.ParseUint(id[i+len("::sub::"):], 10, 64)
			}
			if e.ParentInstance.Valid != (wantParent != "") || e.ParentInstance.Value != wantParent ||
				e.ParentID.Valid != (wantParent != "") || e.ParentID.Value != wantParentID {
				return fmt.Errorf("%s: parent %v/%v, want %q/%d", where, e.ParentInstance, e.ParentID, wantParent, wantParentID)
			}
		case events.TypeSubOrchestrationScheduled:
			if want := "sub::" + strconv.FormatUint(e.EventID, 10); e.Instance != want {
				return fmt.Errorf("%s: instance %q, want %q", where, e.Instance, want)
			}
		case events.TypeOrchestrationCancelRequested:
			if !slices.ContainsFunc(h[i:], func(x events.Event) bool {
				return x.ExecutionID == e.ExecutionID && x.Type == events.TypeOrchestrationFailed && x.Details.Kind == "Cancelled"
			}) && i != len(h)-1 {
				return fmt.Errorf("%s: cancel request not followed by a Cancelled failure", where)
			}
		}
		if sched, ok := outcomeOf[e.Type]; ok {
			if !e.SourceEventID.Valid {
				return fmt.Errorf("%s: outcome without source_event_id", where)
			}
			k := key{e.ExecutionID, e.SourceEventID.Value}
			s := byKey[k]
			if s == nil || s.Type != sched {
				return fmt.Errorf("%s: source_event_id %d is not a %s of this execution", where, e.SourceEventID.Value, sched)
			}
			if e.TimestampMs < s.TimestampMs {
				return fmt.Errorf("%s: outcome before its scheduling event", where)
			}
			outcomes[k]++
			if outcomes[k] > 1 {
				return fmt.Errorf("%s: second outcome for event %d", where, k.ev)
			}
			if e.Type == events.TypeTimerFired && (e.FireAtMs != s.FireAtMs || e.TimestampMs < e.FireAtMs) {
				return fmt.Errorf("%s: fired at %d for fire_at %d (created with %d)", where, e.TimestampMs, e.FireAtMs, s.FireAtMs)
			}
			if strings.HasPrefix(s.Name, events.SystemCallPrefix) && e.TimestampMs-s.TimestampMs > 2 {
				return fmt.Errorf("%s: system call took %d ms", where, e.TimestampMs-s.TimestampMs)
			}
		} else if e.SourceEventID.Valid {
			return fmt.Errorf("%s: source_event_id set on a non-outcome event", where)
		}
		byKey[key{e.ExecutionID, e.EventID}] = e
	}
	return nil
}

// status is the instance status by EVENTS.md's rule.
func status(h []events.Event) string {
	last := h[len(h)-1].ExecutionID
	st := "Running"
	for _, e := range h {
		if e.ExecutionID != last {
			continue
		}
		switch e.Type {
		case events.TypeOrchestrationCompleted:
			st = "Completed"
		case events.TypeOrchestrationFailed:
			st = "Failed"
		}
	}
	return st
}

func isTopLevel(id string) bool {
	return !strings.Contains(id, "::sub::") && !strings.HasPrefix(id, "audit-")
}

// checkFamilies verifies the links between histories: children and their
// parents' scheduling and outcome events.
func checkFamilies(t *testing.T, hs [][]events.Event) {
	t.Helper()
	byID := map[string][]events.Event{}
	for _, h := range hs {
		if _, dup := byID[h[0].InstanceID]; dup {
			t.Fatalf("instance %s yielded twice", h[0].InstanceID)
		}
		byID[h[0].InstanceID] = h
	}
	for _, h := range hs {
		id := h[0].InstanceID
		if i := strings.LastIndex(id, "::sub::"); i >= 0 {
			parent, ok := byID[id[:i]]
			if !ok {
				t.Fatalf("child %s has no parent history", id)
			}
			n, _ := strconv.ParseUint(id[i+len("::sub::"):], 10, 64)
			var sched *events.Event
			for j := range parent {
				if parent[j].ExecutionID == 1 && parent[j].EventID == n {
					sched = &parent[j]
				}
			}
			if sched == nil || sched.Type != events.TypeSubOrchestrationScheduled {
				t.Fatalf("child %s: parent event %d is not SubOrchestrationScheduled", id, n)
			}
			if h[0].TimestampMs <= sched.TimestampMs || h[0].Name != sched.Name || h[0].Input != sched.Input {
				t.Fatalf("child %s does not match its scheduling event", id)
			}
			for _, pe := range parent {
				if !pe.SourceEventID.Valid || pe.SourceEventID.Value != n || pe.ExecutionID != 1 {
					continue
				}
				last := h[len(h)-1]
				switch pe.Type {
				case events.TypeSubOrchestrationCompleted:
					if status(h) != "Completed" || pe.TimestampMs < last.TimestampMs {
						t.Fatalf("child %s: parent recorded completion, child is %s", id, status(h))
					}
					var out string
					for _, e := range h {
						if e.Type == events.TypeOrchestrationCompleted {
							out = e.Output
						}
					}
					if out != pe.Result {
						t.Fatalf("child %s: output %q, parent's result %q", id, out, pe.Result)
					}
				case events.TypeSubOrchestrationFailed:
					if status(h) != "Failed" || pe.TimestampMs < last.TimestampMs {
						t.Fatalf("child %s: parent recorded failure, child is %s", id, status(h))
					}
				}
			}
		}
		for _, e := range h {
			if e.Type == events.TypeOrchestrationChained {
				if c, ok := byID[e.Instance]; ok && c[0].TimestampMs < e.TimestampMs {
					t.Fatalf("chained %s starts before %s chained it", e.Instance, id)
				}
			}
		}
	}
}

func TestHistoriesConsistent(t *testing.T) {
	for _, cfg := range []Config{
		{Seed: 1, Instances: 3000, SpreadMs: 3600_000, RunningFraction: 0.1, UnknownTypeFraction: 0.02},
		{Seed: 2, Instances: 1000, SpreadMs: 600_000, RunningFraction: 0.5, UnknownTypeFraction: 0.5, CancelFraction: 0.2},
		{Seed: 3, Instances: 500, SpreadMs: 0, CancelFraction: -1, IDPrefix: "run.7 ", FirstIndex: 1000},
	} {
		t.Run(fmt.Sprintf("seed%d", cfg.Seed), func(t *testing.T) {
			hs := collect(cfg)
			var prevStart uint64
			for _, h := range hs {
				if err := checkHistory(h); err != nil {
					t.Fatal(err)
				}
				if h[0].TimestampMs < prevStart {
					t.Fatalf("%s yielded out of start order", h[0].InstanceID)
				}
				prevStart = h[0].TimestampMs
				if isTopLevel(h[0].InstanceID) && !strings.HasPrefix(h[0].InstanceID, cfg.IDPrefix) {
					t.Fatalf("%s lacks the id prefix %q", h[0].InstanceID, cfg.IDPrefix)
				}
			}
			checkFamilies(t, hs)
		})
	}
}

func TestRunningFraction(t *testing.T) {
	for _, frac := range []float64{0, 0.1, 0.3, 1} {
		t.Run(fmt.Sprint(frac), func(t *testing.T) {
			const n = 4000
			hs := collect(Config{Seed: 9, Instances: n, SpreadMs: 3600_000, RunningFraction: frac})
			top, running, childRunning := 0, 0, 0
			for _, h := range hs {
				if !isTopLevel(h[0].InstanceID) {
					if status(h) == "Running" {
						childRunning++
					}
					continue
				}
				top++
				if status(h) == "Running" {
					running++
				}
			}
			if top != n {
				t.Fatalf("%d top-level instances, want %d", top, n)
			}
			got := float64(running) / n
			if math.Abs(got-frac) > 0.025 {
				t.Fatalf("running fraction %.3f, want %.2f±0.025", got, frac)
			}
			if frac == 0 && childRunning > 0 {
				t.Fatalf("%d children running although every parent finished", childRunning)
			}
		})
	}
}

func TestNowCut(t *testing.T) {
	start := DefaultStartMs
	now := start + 600_000
	hs := collect(Config{Seed: 5, Instances: 2000, StartMs: start, SpreadMs: 600_000, NowMs: now, RunningFraction: 0.05})
	running := 0
	for _, h := range hs {
		if err := checkHistory(h); err != nil {
			t.Fatal(err)
		}
		for _, e := range h {
			if int64(e.TimestampMs) > now {
				t.Fatalf("%s: event at %d after NowMs %d", e.InstanceID, e.TimestampMs, now)
			}
		}
		if isTopLevel(h[0].InstanceID) && status(h) == "Running" {
			running++
		}
	}
	checkFamilies(t, hs)
	// Instances started in the last minutes are still going: more running
	// than the 5% asked for.
	if running <= 2000*5/100 {
		t.Fatalf("%d running; the cut at now should leave recent instances running", running)
	}
}

// pendingKinds reports which kinds of pending work a Running history has in
// its latest execution (EVENTS.md's rules, simplified: the generator never
// lets an external event precede its subscription's cancellation).
func pendingKinds(h []events.Event) map[string]bool {
	out := map[string]bool{}
	if status(h) != "Running" {
		return out
	}
	last := h[len(h)-1].ExecutionID
	done := map[uint64]bool{}
	subs := map[string][]uint64{}
	raised := map[string]int{}
	for _, e := range h {
		if e.ExecutionID != last {
			continue
		}
		if e.SourceEventID.Valid {
			done[e.SourceEventID.Value] = true
		}
		switch e.Type {
		case events.TypeExternalSubscribed, events.TypeExternalSubscribedPersistent:
			k := e.Type + e.Name
			subs[k] = append(subs[k], e.EventID)
		case events.TypeExternalEvent:
			raised[events.TypeExternalSubscribed+e.Name]++
		case events.TypeExternalEventPersistent:
			raised[events.TypeExternalSubscribedPersistent+e.Name]++
		}
	}
	for _, e := range h {
		if e.ExecutionID != last || done[e.EventID] {
			continue
		}
		switch e.Type {
		case events.TypeActivityScheduled:
			out["activity"] = true
		case events.TypeTimerCreated:
			out["timer"] = true
		case events.TypeSubOrchestrationScheduled:
			out["sub_orchestration"] = true
		}
	}
	for k, ids := range subs {
		open := 0
		for _, id := range ids {
			if !done[id] {
				open++
			}
		}
		if open > raised[k] {
			out["event"] = true
			if strings.HasPrefix(k, events.TypeExternalSubscribedPersistent) {
				out["persistent_event"] = true
			}
		}
	}
	return out
}

func TestFeatureMix(t *testing.T) {
	const n = 5000
	hs := collect(Config{Seed: 7, Instances: n, SpreadMs: 3600_000, RunningFraction: 0.1, UnknownTypeFraction: 0.02})
	seen := map[string]int{}
	mark := func(f string) { seen[f]++ }
	names := map[string]map[string]bool{}
	total := 0
	for _, h := range hs {
		total += len(h)
		if status(h) == "Running" && isTopLevel(h[0].InstanceID) {
			for k := range pendingKinds(h) {
				mark("pending " + k)
			}
		}
		if h[len(h)-1].ExecutionID > 1 {
			mark("continue-as-new")
		}
		for _, e := range h {
			mark(e.Type)
			switch e.Type {
			case events.TypeOrchestrationStarted:
				if names[e.Name] == nil {
					names[e.Name] = map[string]bool{}
				}
				names[e.Name][e.Version] = true
				if e.ParentInstance.Valid {
					mark("child")
				}
				if e.InitialCustomStatus.Valid {
					mark("initial_custom_status")
				}
				if e.CarryForwardEvents != nil {
					mark("carry_forward_events")
				}
			case events.TypeActivityScheduled:
				if strings.HasPrefix(e.Name, events.SystemCallPrefix) {
					mark("syscall")
				}
				if e.Tag.Valid {
					mark("tag")
				}
				if e.SessionID.Valid {
					mark("session")
				}
			case events.TypeActivityCancelRequested:
				mark("activity cancel " + e.Reason)
			case events.TypeActivityFailed, events.TypeOrchestrationFailed, events.TypeSubOrchestrationFailed:
				mark(e.Type + " " + e.Details.Category + "/" + e.Details.Kind)
			case events.TypeCustomStatusUpdated:
				if !e.Status.Valid {
					mark("null status")
				}
			case events.TypeKeyValueSet:
				if e.LastUpdatedAtMs.Valid {
					mark("last_updated_at_ms")
				}
			}
			if !e.Known {
				mark("unknown type")
			}
		}
	}
	want := []string{
		// every known type
		events.TypeOrchestrationStarted, events.TypeOrchestrationCompleted, events.TypeOrchestrationFailed,
		events.TypeOrchestrationContinuedAsNew, events.TypeOrchestrationCancelRequested, events.TypeOrchestrationChained,
		events.TypeActivityScheduled, events.TypeActivityCompleted, events.TypeActivityFailed, events.TypeActivityCancelRequested,
		events.TypeTimerCreated, events.TypeTimerFired, events.TypeExternalSubscribed, events.TypeExternalEvent,
		events.TypeExternalSubscribedCancelled, events.TypeExternalSubscribedPersistent, events.TypeExternalEventPersistent,
		events.TypeExternalSubscribedPersistentCancelled, events.TypeSubOrchestrationScheduled,
		events.TypeSubOrchestrationCompleted, events.TypeSubOrchestrationFailed, events.TypeSubOrchestrationCancelRequested,
		events.TypeCustomStatusUpdated, events.TypeKeyValueSet, events.TypeKeyValueCleared, events.TypeKeyValuesCleared,
		// features
		"unknown type", "child", "continue-as-new", "initial_custom_status", "carry_forward_events", "syscall",
		"tag", "session", "null status", "last_updated_at_ms",
		"activity cancel dropped_future", "activity cancel orchestration_terminal_failed",
		"ActivityFailed infrastructure/fetch", "ActivityFailed application/ActivityFailed", "ActivityFailed poison/Poison",
		"OrchestrationFailed application/Cancelled", "OrchestrationFailed application/OrchestrationFailed",
		"OrchestrationFailed configuration/Nondeterminism", "SubOrchestrationFailed application/OrchestrationFailed",
		"pending activity", "pending timer", "pending event", "pending persistent_event", "pending sub_orchestration",
	}
	for _, f := range want {
		if seen[f] == 0 {
			t.Errorf("feature %q missing from %d instances", f, n)
		}
	}
	if len(names) < 10 {
		t.Errorf("%d orchestration names, want at least 10", len(names))
	}
	multi := 0
	for _, v := range names {
		if len(v) > 1 {
			multi++
		}
	}
	if multi < 2 {
		t.Errorf("%d orchestrations with several versions, want at least 2", multi)
	}
	if avg := float64(total) / float64(len(hs)); avg < 8 || avg > 40 {
		t.Errorf("%.1f events per history, want 8..40", avg)
	}
	t.Logf("%d histories, %d events, %d names", len(hs), total, len(names))
}

// TestActivityDurations checks that durations follow each activity's
// profile: medians near the configured ones, and a long tail above.
func TestActivityDurations(t *testing.T) {
	hs := collect(Config{Seed: 11, Instances: 3000, SpreadMs: 3600_000})
	durs := map[string][]int64{}
	for _, h := range hs {
		sched := map[[2]uint64]*events.Event{}
		for i := range h {
			e := &h[i]
			switch e.Type {
			case events.TypeActivityScheduled:
				sched[[2]uint64{e.ExecutionID, e.EventID}] = e
			case events.TypeActivityCompleted:
				s := sched[[2]uint64{e.ExecutionID, e.SourceEventID.Value}]
				durs[s.Name] = append(durs[s.Name], int64(e.TimestampMs-s.TimestampMs))
			}
		}
	}
	for _, p := range []*profile{pValidate, pCharge, pShip, pFetchProfile, pWelcome} {
		d := durs[p.name]
		if len(d) < 200 {
			t.Fatalf("%s: only %d completions", p.name, len(d))
		}
		slices.Sort(d)
		median := float64(d[len(d)/2])
		if median < p.medianMs*0.7 || median > p.medianMs*1.4 {
			t.Errorf("%s: median %.0f ms, profile %.0f ms", p.name, median, p.medianMs)
		}
		if p99 := float64(d[len(d)*99/100]); p99 < 2*median {
			t.Errorf("%s: p99 %.0f ms is not a tail above the median %.0f ms", p.name, p99, median)
		}
	}
}

func allEvents(hs [][]events.Event) int {
	n := 0
	for _, h := range hs {
		n += len(h)
	}
	return n
}

func TestInterleave(t *testing.T) {
	cfg := Config{Seed: 3, Instances: 2000, SpreadMs: 600_000, RunningFraction: 0.1}
	total := allEvents(collect(cfg))
	for _, maxOpen := range []int{0, 10} {
		t.Run(fmt.Sprint(maxOpen), func(t *testing.T) {
			seen := map[events.Key]bool{}
			lastPerInstance := map[string]events.Key{}
			var prevTs uint64
			outOfOrder := 0
			for m := range Interleave(Histories(cfg), maxOpen) {
				k := m.Event.EventKey()
				if seen[k] {
					t.Fatalf("%v emitted twice", k)
				}
				seen[k] = true
				if p, ok := lastPerInstance[k.InstanceID]; ok && !p.Less(k) {
					t.Fatalf("%v emitted after %v of the same instance", k, p)
				}
				lastPerInstance[k.InstanceID] = k
				if m.Event.TimestampMs < prevTs {
					outOfOrder++
				}
				prevTs = m.Event.TimestampMs
			}
			if len(seen) != total {
				t.Fatalf("%d events emitted, want %d", len(seen), total)
			}
			if maxOpen == 0 && outOfOrder != 0 {
				t.Fatalf("%d events out of timestamp order with an unbounded merge", outOfOrder)
			}
			if maxOpen == 10 && outOfOrder == 0 {
				t.Fatal("a 10-history bound should force some early publication")
			}
		})
	}
}

func TestShuffle(t *testing.T) {
	hs := collect(Config{Seed: 4, Instances: 300, SpreadMs: 60_000})
	var orig []events.Key
	for m := range Flatten(slices.Values(hs)) {
		orig = append(orig, m.Event.EventKey())
	}
	pos := map[events.Key]int{}
	for i, k := range orig {
		pos[k] = i
	}
	const window = 16
	moved, i := 0, 0
	for m := range Shuffle(Flatten(slices.Values(hs)), window, rand.New(rand.NewPCG(1, 2))) {
		p, ok := pos[m.Event.EventKey()]
		if !ok {
			t.Fatalf("unknown event %v", m.Event.EventKey())
		}
		delete(pos, m.Event.EventKey())
		if d := p - i; d >= window || -d >= window {
			t.Fatalf("event moved by %d positions, window %d", d, window)
		}
		if p != i {
			moved++
		}
		i++
	}
	if len(pos) != 0 || i != len(orig) {
		t.Fatalf("shuffle lost or added events: %d left, %d emitted of %d", len(pos), i, len(orig))
	}
	if moved < len(orig)/2 {
		t.Fatalf("only %d of %d events moved", moved, len(orig))
	}
}

func TestDuplicate(t *testing.T) {
	hs := collect(Config{Seed: 4, Instances: 500, SpreadMs: 60_000})
	n := allEvents(hs)
	originals := map[events.Key]bool{}
	dups := 0
	for m := range Duplicate(Flatten(slices.Values(hs)), 0.1, 50, rand.New(rand.NewPCG(1, 2))) {
		k := m.Event.EventKey()
		want := events.MsgID(k.InstanceID, k.ExecutionID, k.EventID)
		if m.Copy == 0 {
			if originals[k] {
				t.Fatalf("original %v emitted twice", k)
			}
			originals[k] = true
			if m.MsgID() != want {
				t.Fatalf("MsgID %q, want %q", m.MsgID(), want)
			}
			continue
		}
		dups++
		if !originals[k] {
			t.Fatalf("duplicate of %v before its original", k)
		}
		if m.MsgID() != want+"/dup1" {
			t.Fatalf("duplicate MsgID %q, want %q", m.MsgID(), want+"/dup1")
		}
	}
	if len(originals) != n {
		t.Fatalf("%d originals, want %d", len(originals), n)
	}
	if f := float64(dups) / float64(n); f < 0.08 || f > 0.12 {
		t.Fatalf("duplicate fraction %.3f, want about 0.1", f)
	}
}

func TestWriteJSONL(t *testing.T) {
	cfg := Config{Seed: 8, Instances: 100, SpreadMs: 60_000}
	var buf bytes.Buffer
	st, err := WriteJSONL(&buf, Flatten(Histories(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), concatRaw(collect(cfg))) {
		t.Fatal("JSONL output differs from the histories' Raw lines")
	}
	if st.Instances != int64(len(collect(cfg))) || st.Published != int64(bytes.Count(buf.Bytes(), []byte("\n"))) {
		t.Fatalf("stats %+v", st)
	}
}

func TestQueueWalk(t *testing.T) {
	a, b := NewQueueWalk(1), NewQueueWalk(1)
	var moved bool
	prev := a.Next(1)
	if prev != b.Next(1) {
		t.Fatal("same seed, different snapshots")
	}
	for i := int64(2); i < 200; i++ {
		s := a.Next(i)
		if s.TimestampMs != uint64(i) {
			t.Fatalf("timestamp %d, want %d", s.TimestampMs, i)
		}
		if s != prev {
			moved = true
		}
		prev = s
	}
	if !moved {
		t.Fatal("queue depths never change")
	}
}

// BenchmarkHistories measures generation (with marshalling) in events/s.
func BenchmarkHistories(b *testing.B) {
	b.ReportAllocs()
	evts := 0
	for b.Loop() {
		evts = 0
		for h := range Histories(Config{Seed: 1, Instances: 10000, SpreadMs: 3600_000, RunningFraction: 0.1, UnknownTypeFraction: 0.01}) {
			evts += len(h)
		}
	}
	b.ReportMetric(float64(evts)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkInterleave measures the full publish-order pipeline.
func BenchmarkInterleave(b *testing.B) {
	evts := 0
	for b.Loop() {
		evts = 0
		for range Interleave(Histories(Config{Seed: 1, Instances: 10000, SpreadMs: 3600_000, RunningFraction: 0.1}), 0) {
			evts++
		}
	}
	b.ReportMetric(float64(evts)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestCheckHistory makes sure the consistency checker used above accepts the
// contract's own fixtures and rejects broken histories.
func TestCheckHistory(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/contract/fixtures/*.jsonl")
	if len(files) == 0 {
		files, _ = filepath.Glob("/work/shared/contract/fixtures/*.jsonl")
	}
	if len(files) == 0 {
		t.Fatal("contract fixtures not found")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string][]events.Event{}
		var order []string
		for line := range bytes.Lines(data) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			e, err := events.Decode(line)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if byID[e.InstanceID] == nil {
				order = append(order, e.InstanceID)
			}
			byID[e.InstanceID] = append(byID[e.InstanceID], e)
		}
		for _, id := range order {
			if err := checkHistory(byID[id]); err != nil {
				t.Errorf("%s: fixture rejected: %v", filepath.Base(f), err)
			}
		}
	}

	good := collect(Config{Seed: 1, Instances: 200, CancelFraction: -1})
	var base []events.Event
	for _, h := range good {
		if strings.HasPrefix(h[0].InstanceID, "order-") && len(h) > 8 && h[3].Type == events.TypeActivityCompleted {
			base = h
			break
		}
	}
	if base == nil {
		t.Fatal("no order history with a completed first activity")
	}
	if err := checkHistory(base); err != nil {
		t.Fatal(err)
	}
	remarshal := func(e *events.Event) { e.Raw = events.Marshal(e) }
	for _, tc := range []struct {
		name   string
		mutate func(h []events.Event) []events.Event
	}{
		{"gap in event ids", func(h []events.Event) []events.Event { return append(h[:2:2], h[3:]...) }},
		{"wrong source id", func(h []events.Event) []events.Event {
			h[3].SourceEventID.Value = 1
			remarshal(&h[3])
			return h
		}},
		{"time goes back", func(h []events.Event) []events.Event {
			h[4].TimestampMs = h[3].TimestampMs - 1
			remarshal(&h[4])
			return h
		}},
		{"raw differs", func(h []events.Event) []events.Event {
			h[2].Raw = bytes.Replace(h[2].Raw, []byte(`"type"`), []byte(`"extra":1,"type"`), 1)
			return h
		}},
		{"event after completion", func(h []events.Event) []events.Event {
			e := h[2]
			e.EventID = uint64(len(h) + 1)
			e.TimestampMs = h[len(h)-1].TimestampMs
			remarshal(&e)
			return append(h, e)
		}},
		{"parent on a top-level instance", func(h []events.Event) []events.Event {
			h[0].ParentInstance = events.OptString{Value: "x", Valid: true}
			h[0].ParentID = events.OptUint{Value: 2, Valid: true}
			remarshal(&h[0])
			return h
		}},
		{"second outcome", func(h []events.Event) []events.Event {
			e := h[3]
			e.EventID = h[3].EventID + 1
			out := slices.Clone(h[:4])
			out = append(out, e)
			for _, x := range h[4:] {
				x.EventID++
				remarshal(&x)
				out = append(out, x)
			}
			remarshal(&out[4])
			return out
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.mutate(slices.Clone(base))
			if err := checkHistory(h); err == nil {
				t.Fatal("broken history accepted")
			}
		})
	}
}

func TestEndless(t *testing.T) {
	cfg := Config{Seed: 6, Instances: 100, StartMs: DefaultStartMs, SpreadMs: 100_000, RunningFraction: 0.1}
	backfill := map[string]string{}
	for _, h := range collect(cfg) {
		backfill[h[0].InstanceID] = string(concatRaw([][]events.Event{h}))
	}
	const rate = 500.0 // events per second after the backfill
	end := cfg.StartMs + cfg.SpreadMs
	const window = 120_000
	seen := map[string]bool{}
	liveEvents, liveTop := 0, 0
	var prevStart uint64
	for h := range Endless(cfg, rate) {
		id := h[0].InstanceID
		if h[0].TimestampMs < prevStart {
			t.Fatalf("%s yielded out of start order", id)
		}
		prevStart = h[0].TimestampMs
		if seen[id] {
			t.Fatalf("instance %s yielded twice", id)
		}
		seen[id] = true
		if err := checkHistory(h); err != nil {
			t.Fatal(err)
		}
		if want, ok := backfill[id]; ok {
			if want != string(concatRaw([][]events.Event{h})) {
				t.Fatalf("backfill instance %s differs from Histories'", id)
			}
			continue
		}
		start := int64(h[0].TimestampMs)
		if start < end {
			t.Fatalf("new instance %s starts at %d, inside the backfill window ending %d", id, start, end)
		}
		if start >= end+window {
			if isTopLevel(id) {
				break
			}
			continue // a chained instance starting late
		}
		liveEvents += len(h)
		if isTopLevel(id) {
			liveTop++
			n, err := strconv.Atoi(id[strings.LastIndex(id, "-")+1:])
			if err != nil || n <= cfg.Instances {
				t.Fatalf("new instance %s reuses a backfill number", id)
			}
		}
	}
	for id := range backfill {
		// Children come in start order, possibly after the window checked.
		if !seen[id] && isTopLevel(id) {
			t.Fatalf("backfill instance %s missing", id)
		}
	}
	got := float64(liveEvents) / (window / 1000)
	if got < rate*0.7 || got > rate*1.3 {
		t.Fatalf("live pace %.0f events/s (%d instances), want about %.0f", got, liveTop, rate)
	}
}

func TestInterleaveLive(t *testing.T) {
	cfg := Config{Seed: 3, Instances: 2000, SpreadMs: 600_000, RunningFraction: 0.1}
	total := allEvents(collect(cfg))
	var prev events.Key
	var prevTs uint64
	n := 0
	last := map[string]events.Key{}
	for m := range InterleaveLive(Histories(cfg), 10) {
		k := m.Event.EventKey()
		if m.Event.TimestampMs < prevTs {
			t.Fatalf("%v at %d published after %v at %d", k, m.Event.TimestampMs, prev, prevTs)
		}
		prev, prevTs = k, m.Event.TimestampMs
		if p, ok := last[k.InstanceID]; ok && !p.Less(k) {
			t.Fatalf("%v after %v", k, p)
		}
		last[k.InstanceID] = k
		n++
	}
	if n >= total || n == 0 {
		t.Fatalf("%d of %d events published; a 10-history bound must drop some", n, total)
	}
}

func TestWorkersSameOutput(t *testing.T) {
	cfg := Config{Seed: 12, Instances: 1500, SpreadMs: 600_000, RunningFraction: 0.1, UnknownTypeFraction: 0.05}
	want := concatRaw(collect(cfg))
	for _, w := range []int{2, 3} {
		c := cfg
		c.Workers = w
		if got := concatRaw(collect(c)); !bytes.Equal(got, want) {
			t.Fatalf("%d workers produce other bytes than one", w)
		}
	}
	// Endless too, over its first histories.
	take := func(c Config) []byte {
		var hs [][]events.Event
		for h := range Endless(c, 2000) {
			hs = append(hs, h)
			if len(hs) == 3000 {
				break
			}
		}
		return concatRaw(hs)
	}
	c := cfg
	c.Workers = 2
	if !bytes.Equal(take(cfg), take(c)) {
		t.Fatal("Endless differs with 2 workers")
	}
}

func TestWorkersStop(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 5 {
		n := 0
		for range Endless(Config{Seed: 1, Instances: 10, Workers: 3}, 1000) {
			n++
			if n == 500 {
				break
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Fatalf("%d goroutines left running after breaking out (%d before)", g, before)
	}
}

// BenchmarkHistoriesParallel is BenchmarkHistories with two workers.
func BenchmarkHistoriesParallel(b *testing.B) {
	evts := 0
	for b.Loop() {
		evts = 0
		for h := range Histories(Config{Seed: 1, Instances: 10000, SpreadMs: 3600_000, RunningFraction: 0.1, Workers: 2}) {
			evts += len(h)
		}
	}
	b.ReportMetric(float64(evts)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
