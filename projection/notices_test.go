package projection

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/duroscope/duroscope/events"
)

func deleted(ts uint64) events.Notice { return events.InstanceDeleted(testInstance, ts) }
func pruned(ts uint64, ids ...uint64) events.Notice {
	return events.ExecutionsPruned(testInstance, ids, ts)
}

func mustDeriveN(t testing.TB, h []events.Event, ns []events.Notice) Rows {
	t.Helper()
	r, err := Derive(h, ns...)
	if err != nil {
		t.Fatalf("Derive: %v", err)
	}
	return r
}

// finished is a completed instance with one activity and a timer.
func finished(base uint64, orch string) []events.Event {
	return []events.Event{
		ev(1, 1, base+1, tS, name(orch), version("1")),
		ev(1, 2, base+2, tA, name("Charge")),
		ev(1, 3, base+3, events.TypeActivityCompleted, src(2)),
		ev(1, 4, base+4, events.TypeTimerCreated, fireAt(base+100)),
		ev(1, 5, base+5, events.TypeTimerFired, src(4)),
		ev(1, 6, base+6, events.TypeOrchestrationCompleted, output("done")),
	}
}

func TestDeletedInstanceIsTombstonedAndKeptForReports(t *testing.T) {
	h := finished(100, "Order")
	r := mustDeriveN(t, h, []events.Notice{deleted(200), deleted(200)})
	if !r.Instance.Deleted || r.Instance.InstanceID != testInstance {
		t.Fatalf("instance row = %+v, want a tombstone", r.Instance)
	}
	if r.Version != 7 { // 6 events + 1 distinct notice
		t.Fatalf("version %d, want 7", r.Version)
	}
	want := []ExecutionRow{{InstanceID: testInstance, ExecutionID: 1, Deleted: true}}
	if !reflect.DeepEqual(r.Executions, want) {
		t.Fatalf("executions %+v, want %+v", r.Executions, want)
	}
	if len(r.Activities) != 1 || !r.Activities[0].Deleted || len(r.Work) != 2 || !r.Work[0].Deleted || !r.Work[1].Deleted {
		t.Fatalf("activities %+v work %+v, want tombstones", r.Activities, r.Work)
	}
	plain := mustDerive(t, h)
	if len(r.Past) != 1 {
		t.Fatalf("past incarnations %d, want 1", len(r.Past))
	}
	p := r.Past[0]
	if p.DeletedAtMs != 200 || !reflect.DeepEqual(p.Instance, plain.Instance) ||
		!reflect.DeepEqual(p.Starts, plain.Starts) || !reflect.DeepEqual(p.Activities, plain.Activities) {
		t.Fatalf("past incarnation %+v, want the rows of the history alone %+v", p, plain)
	}
	if len(r.Starts) != 0 || r.StaleReportActivities != nil {
		t.Fatalf("live starts %v stale %v, want none", r.Starts, r.StaleReportActivities)
	}
}

// An event at the deletion's timestamp is deleted; one after it is a new
// incarnation.
func TestDeletionBoundaryIsInclusive(t *testing.T) {
	h := []events.Event{ev(1, 1, 10, tS, name("A")), ev(1, 2, 20, tA, name("x"))}
	if r := mustDeriveN(t, h, []events.Notice{deleted(20)}); !r.Instance.Deleted {
		t.Fatalf("event at the deletion's timestamp survived: %+v", r.Instance)
	}
	r := mustDeriveN(t, h, []events.Notice{deleted(19)})
	if r.Instance.Deleted || r.Instance.EventCount != 1 || len(r.Past) != 1 {
		t.Fatalf("live %+v past %d, want the event at 20 live and the one at 10 past", r.Instance, len(r.Past))
	}
}

// An id reused after its deletion: the new incarnation is live, the old
// one is past, and the same (execution, event) keys count twice.
func TestReusedIDIsANewIncarnation(t *testing.T) {
	old := finished(100, "Order")
	reused := []events.Event{
		ev(1, 1, 301, tS, name("Other"), version("2")),
		ev(1, 2, 302, events.TypeTimerCreated, fireAt(900)),
	}
	h := append(slices.Clone(old), reused...)
	h = append(h, old[1]) // re-delivered after its deletion
	r := mustDeriveN(t, h, []events.Notice{deleted(200)})
	want := mustDerive(t, reused)
	if r.Version != 6+2+1 {
		t.Fatalf("version %d, want 9", r.Version)
	}
	want.Instance.EventCount = 2
	if r.Instance.Deleted || !reflect.DeepEqual(r.Instance, want.Instance) {
		t.Fatalf("live instance %+v, want %+v", r.Instance, want.Instance)
	}
	// Execution 1 is live (reused); the activity (1,2) and the timer work
	// (1,4) of the old incarnation are not reused: tombstones.
	if len(r.Executions) != 1 || r.Executions[0].Deleted {
		t.Fatalf("executions %+v", r.Executions)
	}
	wantActs := []ActivityRow{{InstanceID: testInstance, ExecutionID: 1, EventID: 2, Deleted: true}}
	if !reflect.DeepEqual(r.Activities, wantActs) {
		t.Fatalf("activities %+v, want %+v", r.Activities, wantActs)
	}
	var live, dead []uint64
	for _, w := range r.Work {
		if w.Deleted {
			dead = append(dead, w.CorrelationID)
		} else {
			live = append(live, w.CorrelationID)
		}
	}
	if !slices.Equal(live, []uint64{2}) || !slices.Equal(dead, []uint64{2, 4}) {
		t.Fatalf("work live %v (want [2]) tombstones %v (want activity 2 and timer 4)", live, dead)
	}
	if len(r.Past) != 1 || r.Past[0].Instance.OrchestrationName != "Order" || r.Past[0].Instance.Status != StatusCompleted {
		t.Fatalf("past %+v", r.Past)
	}
	// Before the deletion was known, the old activity (1,2) could have been
	// keyed by the new incarnation's orchestration name.
	stale := []ActivityRow{{InstanceID: testInstance, ExecutionID: 1, EventID: 2, ActivityName: "Charge",
		OrchestrationName: "Other", ScheduledAtMs: 102, Deleted: true}}
	if !reflect.DeepEqual(r.StaleReportActivities, stale) {
		t.Fatalf("stale report activities %+v, want %+v", r.StaleReportActivities, stale)
	}
}

func TestPrunedExecutionsLeaveOnlyTheListing(t *testing.T) {
	h := []events.Event{
		ev(1, 1, 10, tS, name("Poll")), ev(1, 2, 11, tA, name("Fetch")), ev(1, 3, 12, events.TypeActivityCompleted, src(2)),
		ev(1, 4, 13, events.TypeOrchestrationContinuedAsNew),
		ev(2, 1, 20, tS, name("Poll")), ev(2, 2, 21, events.TypeOrchestrationContinuedAsNew),
		ev(3, 1, 30, tS, name("Poll")), ev(3, 2, 31, tA, name("Fetch")),
	}
	plain := mustDerive(t, h)
	r := mustDeriveN(t, h, []events.Notice{pruned(40, 2, 1), pruned(40, 1, 2)})
	if r.Version != plain.Version+1 {
		t.Fatalf("version %d, want %d (one distinct notice)", r.Version, plain.Version+1)
	}
	plain.Instance.Deleted = false
	if !reflect.DeepEqual(r.Instance, plain.Instance) || !reflect.DeepEqual(r.Activities, plain.Activities) ||
		!reflect.DeepEqual(r.Work, plain.Work) {
		t.Fatalf("prune changed the summary, activities or work:\n%+v\n%+v", r, plain)
	}
	want := []ExecutionRow{{InstanceID: testInstance, ExecutionID: 1, Deleted: true},
		{InstanceID: testInstance, ExecutionID: 2, Deleted: true}, plain.Executions[2]}
	if !reflect.DeepEqual(r.Executions, want) {
		t.Fatalf("executions %+v, want %+v", r.Executions, want)
	}
	// A prune at or before the latest deletion concerns a deleted
	// incarnation: the live one keeps its executions.
	r = mustDeriveN(t, h[4:], []events.Notice{pruned(5, 2), deleted(5)})
	if len(r.Executions) != 2 || r.Executions[0].Deleted || r.Executions[1].Deleted {
		t.Fatalf("an old prune removed live executions: %+v", r.Executions)
	}
}

func TestNoticesOnlyGiveATombstone(t *testing.T) {
	r := mustDeriveN(t, nil, []events.Notice{deleted(5), pruned(6, 1)})
	if !r.Instance.Deleted || r.Version != 2 || len(r.Executions)+len(r.Activities)+len(r.Work)+len(r.Past) != 0 {
		t.Fatalf("rows %+v, want only an instance tombstone at version 2", r)
	}
	if _, err := Derive(nil, events.InstanceDeleted("a", 1), events.InstanceDeleted("b", 1)); err == nil {
		t.Fatal("notices of two instances accepted")
	}
	if _, err := Derive([]events.Event{ev(1, 1, 1, tS)}, events.InstanceDeleted("b", 1)); err == nil {
		t.Fatal("a notice of another instance accepted")
	}
}

// incarnationsCase is a random id's lifetime: incarnations separated by
// deletions, maybe deleted at the end, with prunes, and noise deletions at
// random times.
type incarnationsCase struct {
	events  []events.Event
	notices []events.Notice
}

func genIncarnations(r *rand.Rand, id string) incarnationsCase {
	var c incarnationsCase
	next := uint64(0) // every event of the next incarnation is after this
	n := 1 + r.IntN(3)
	for k := range n {
		h := genHistory(r, id, 5+r.IntN(40))
		first := h[0].TimestampMs
		for _, e := range h {
			first = min(first, e.TimestampMs)
		}
		var last uint64
		for i := range h {
			h[i].TimestampMs += next - min(first, next)
			last = max(last, h[i].TimestampMs)
		}
		c.events = append(c.events, h...)
		if r.IntN(2) == 0 { // prune some executions of this incarnation
			c.notices = append(c.notices, events.ExecutionsPruned(id, []uint64{1, uint64(1 + r.IntN(3))}, last+uint64(r.IntN(5))))
		}
		if k < n-1 || r.IntN(2) == 0 {
			d := last + 10 + uint64(r.IntN(10))
			c.notices = append(c.notices, events.InstanceDeleted(id, d))
			next = d + 1 + uint64(r.IntN(3))*1000
		}
	}
	if r.IntN(4) == 0 { // a deletion in the middle of a history
		e := c.events[r.IntN(len(c.events))]
		c.notices = append(c.notices, events.InstanceDeleted(id, e.TimestampMs))
	}
	return c
}

func shuffledNotices(r *rand.Rand, ns []events.Notice) []events.Notice {
	out := slices.Clone(ns)
	for range r.IntN(len(ns) + 1) {
		out = append(out, ns[r.IntN(len(ns))])
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// keysOf lists every key rows write (live or tombstone), per table.
func keysOf(rows Rows) map[string]bool {
	k := map[string]bool{"instance": true}
	for _, x := range rows.Executions {
		k[fmt.Sprint("x", x.ExecutionID)] = true
	}
	for _, a := range rows.Activities {
		k[fmt.Sprint("a", a.ExecutionID, "/", a.EventID)] = true
	}
	for _, w := range rows.Work {
		k[fmt.Sprint("w", w.ExecutionID, "/", w.Kind, "/", w.CorrelationID)] = true
	}
	for f := range factKeysOf(rows) {
		k[f] = true
	}
	for _, a := range rows.StaleReportActivities {
		k[fmt.Sprintf("fa%q/%q/%d/%d/%d", a.ActivityName, a.OrchestrationName, a.ScheduledAtMs, a.ExecutionID, a.EventID)] = true
	}
	return k
}

// factKeysOf lists the report facts the rows give (live and past
// incarnations), keyed as the report tables key them.
func factKeysOf(rows Rows) map[string]bool {
	k := map[string]bool{}
	add := func(starts []StartRow, acts []ActivityRow) {
		if len(starts) > 0 && starts[0].ExecutionID == 1 {
			s := starts[0]
			k[fmt.Sprintf("fi%d/%q/%q", s.TimestampMs, s.OrchestrationName, s.OrchestrationVersion)] = true
		}
		for _, a := range acts {
			if orch, ok := startName(starts, a.ExecutionID); ok && !a.Deleted {
				k[fmt.Sprintf("fa%q/%q/%d/%d/%d", a.ActivityName, orch, a.ScheduledAtMs, a.ExecutionID, a.EventID)] = true
			}
		}
	}
	if !rows.Instance.Deleted {
		add(rows.Starts, rows.Activities)
	}
	for _, p := range rows.Past {
		add(p.Starts, p.Activities)
	}
	return k
}

// liveView is the rows without tombstones and with version 0: what the
// reader shows.
func liveView(rows Rows) Rows {
	v := Rows{Instance: rows.Instance, Starts: rows.Starts, Past: rows.Past}
	if rows.Instance.Deleted {
		v.Instance, v.Starts = InstanceRow{}, nil
	}
	for _, x := range rows.Executions {
		if !x.Deleted {
			v.Executions = append(v.Executions, x)
		}
	}
	for _, a := range rows.Activities {
		if !a.Deleted {
			v.Activities = append(v.Activities, a)
		}
	}
	for _, w := range rows.Work {
		if !w.Deleted {
			v.Work = append(v.Work, w)
		}
	}
	return v
}

// TestNoticesPropertyOrderAndSubsets: over random lifetimes of ids (reused
// ids, deletions of finished and running incarnations, prunes, deletions in
// the middle of a history):
//   - any order and any duplication of events and notices give the same rows;
//   - the live rows are those of the live events alone (pruned executions
//     left out) and every past incarnation is derived like a live one;
//   - a subset never has a higher version, and a strictly lower one when it
//     lacks a notice or an event;
//   - every key a subset's derivation writes is written by the whole set's
//     (live or as a tombstone), report facts included.
func TestNoticesPropertyOrderAndSubsets(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 2))
	for i := range 300 {
		id := fmt.Sprintf("inc-%d", i)
		c := genIncarnations(r, id)
		full := mustDeriveN(t, c.events, c.notices)
		for p := range 3 {
			got := mustDeriveN(t, shuffledWithDuplicates(r, c.events), shuffledNotices(r, c.notices))
			if !reflect.DeepEqual(got, full) {
				t.Fatalf("%s permutation %d: rows differ\n got %+v\nwant %+v", id, p, got, full)
			}
		}
		checkLiveMatchesPlain(t, id, c, full)
		fullKeys := keysOf(full)
		for range 6 {
			sev := randomSubset(r, c.events)
			var sns []events.Notice
			for _, n := range c.notices {
				if r.IntN(2) == 0 {
					sns = append(sns, n)
				}
			}
			sub := mustDeriveN(t, sev, sns)
			if sub.Version > full.Version {
				t.Fatalf("%s: subset version %d > full %d", id, sub.Version, full.Version)
			}
			if (len(sev) < len(c.events) || distinctNotices(sns) < distinctNotices(c.notices)) && sub.Version >= full.Version {
				t.Fatalf("%s: proper subset has version %d, full %d", id, sub.Version, full.Version)
			}
			for k := range keysOf(sub) {
				if !fullKeys[k] {
					for _, n := range c.notices {
						t.Logf("notice %+v", n)
					}
					for _, e := range c.events {
						if e.Type == tS {
							t.Logf("start %d/%d at %d %s %s", e.ExecutionID, e.EventID, e.TimestampMs, e.Name, e.Version)
						}
					}
					t.Fatalf("%s: subset wrote key %s that the full derivation neither writes nor tombstones", id, k)
				}
			}
		}
	}
}

func distinctNotices(ns []events.Notice) int {
	seen := map[string]bool{}
	for _, n := range ns {
		seen[noticeIdentity(n)] = true
	}
	return len(seen)
}

// checkLiveMatchesPlain derives the incarnations by hand (with the test's
// own split) and compares.
func checkLiveMatchesPlain(t *testing.T, id string, c incarnationsCase, full Rows) {
	t.Helper()
	var maxD uint64
	var dels []uint64
	for _, n := range c.notices {
		if n.Type == events.TypeInstanceDeleted {
			dels = append(dels, n.TimestampMs)
			maxD = max(maxD, n.TimestampMs)
		}
	}
	slices.Sort(dels)
	dels = slices.Compact(dels)
	pruned := map[uint64]bool{}
	for _, n := range c.notices {
		if n.Type == events.TypeExecutionsPruned && (len(dels) == 0 || n.TimestampMs > maxD) {
			for _, x := range n.ExecutionIDs {
				pruned[x] = true
			}
		}
	}
	parts := make([][]events.Event, len(dels)+1)
	for _, e := range c.events {
		k := len(dels)
		for i, d := range dels {
			if e.TimestampMs <= d {
				k = i
				break
			}
		}
		parts[k] = append(parts[k], e)
	}
	got := liveView(full)
	var want Rows
	if live := parts[len(dels)]; len(live) > 0 {
		w := mustDerive(t, live)
		want.Instance, want.Starts, want.Activities, want.Work = w.Instance, w.Starts, w.Activities, w.Work
		for _, x := range w.Executions {
			if !pruned[x.ExecutionID] {
				want.Executions = append(want.Executions, x)
			}
		}
	}
	for k, d := range dels {
		if len(parts[k]) == 0 {
			continue
		}
		w := mustDerive(t, parts[k])
		want.Past = append(want.Past, Incarnation{DeletedAtMs: int64(d), Instance: w.Instance, Starts: w.Starts, Activities: w.Activities})
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: live view differs from the incarnations derived alone\n got %+v\nwant %+v", id, got, want)
	}
}

// DeriveAll with notices is Derive per instance.
func TestDeriveAllWithNotices(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var evs []events.Event
	var ns []events.Notice
	var want []Rows
	for _, id := range []string{"c", "a", "b", "d"} {
		c := genIncarnations(r, id)
		if id == "d" { // notices only
			c.events = nil
			c.notices = []events.Notice{events.InstanceDeleted(id, 9)}
		}
		evs = append(evs, c.events...)
		ns = append(ns, c.notices...)
		if id == "b" { // no notices at all
			ns = ns[:len(ns)-len(c.notices)]
			c.notices = nil
		}
		want = append(want, mustDeriveN(t, c.events, c.notices))
	}
	slices.SortFunc(want, func(a, b Rows) int {
		if a.Instance.InstanceID < b.Instance.InstanceID {
			return -1
		}
		return 1
	})
	r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	got, err := DeriveAll(evs, ns...)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DeriveAll differs from Derive per instance")
	}
}
