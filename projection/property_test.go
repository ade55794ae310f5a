package projection

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/duroscope/duroscope/events"
)

// byInstance splits events by instance, keeping their order.
func byInstance(evts []events.Event) map[string][]events.Event {
	m := map[string][]events.Event{}
	for _, e := range evts {
		m[e.InstanceID] = append(m[e.InstanceID], e)
	}
	return m
}

// generatedHistories is the seeded corpus of random histories.
func generatedHistories(n int) [][]events.Event {
	r := rand.New(rand.NewPCG(20251126, 1))
	out := make([][]events.Event, n)
	for i := range out {
		size := 3 + r.IntN(120)
		if i%25 == 0 {
			size = 400
		}
		out[i] = genHistory(r, fmt.Sprintf("gen-%d", i), size)
	}
	return out
}

// randomSubset keeps each event with probability 1/2 (at least one).
func randomSubset(r *rand.Rand, h []events.Event) []events.Event {
	var s []events.Event
	for _, e := range h {
		if r.IntN(2) == 0 {
			s = append(s, e)
		}
	}
	if len(s) == 0 {
		s = append(s, h[r.IntN(len(h))])
	}
	return s
}

func requireSame(t *testing.T, what string, got, want Rows) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	switch {
	case !reflect.DeepEqual(got.Instance, want.Instance):
		t.Fatalf("%s: instance row differs:\n got %+v\nwant %+v", what, got.Instance, want.Instance)
	case !reflect.DeepEqual(got.Executions, want.Executions):
		t.Fatalf("%s: execution rows differ:\n got %+v\nwant %+v", what, got.Executions, want.Executions)
	case !reflect.DeepEqual(got.Activities, want.Activities):
		t.Fatalf("%s: activity rows differ:\n got %+v\nwant %+v", what, got.Activities, want.Activities)
	case !reflect.DeepEqual(got.Work, want.Work):
		t.Fatalf("%s: work rows differ:\n got %+v\nwant %+v", what, got.Work, want.Work)
	default:
		t.Fatalf("%s: rows differ (version %d vs %d)", what, got.Version, want.Version)
	}
}

// checkPermutations: every permutation of h with duplicates, and every
// permutation of random subsets of h, derives the same rows as in-order
// delivery of the same set; a proper subset has a smaller version.
func checkPermutations(t *testing.T, r *rand.Rand, h []events.Event, perms, subsets int) {
	t.Helper()
	want := mustDerive(t, h)
	for i := range perms {
		requireSame(t, fmt.Sprintf("permutation %d", i), mustDerive(t, shuffledWithDuplicates(r, h)), want)
	}
	for i := range subsets {
		sub := randomSubset(r, h)
		subWant := mustDerive(t, sub)
		for j := range 3 {
			requireSame(t, fmt.Sprintf("subset %d permutation %d", i, j), mustDerive(t, shuffledWithDuplicates(r, sub)), subWant)
		}
		if len(sub) < len(h) && subWant.Version >= want.Version {
			t.Fatalf("subset of %d events has version %d, the full %d-event history %d", len(sub), subWant.Version, len(h), want.Version)
		}
	}
}

func TestPermutationInvarianceFixtures(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	fx := loadFixtures(t)
	for _, file := range slices.Sorted(maps.Keys(fx)) { // sorted: the same random stream every run
		insts := byInstance(fx[file])
		for _, id := range slices.Sorted(maps.Keys(insts)) {
			t.Run(file+"/"+id, func(t *testing.T) {
				checkPermutations(t, r, insts[id], 300, 40)
			})
		}
	}
}

func TestPermutationInvarianceGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for i, h := range generatedHistories(400) {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkPermutations(t, r, h, 8, 3)
		})
	}
}

// TestVersionMonotone delivers a history in random batches (with
// re-deliveries) and derives the accumulated set after each: the version is
// the number of distinct events, so it grows strictly whenever a batch
// brings a new event and never shrinks; the end result is the in-order one.
func TestVersionMonotone(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for i, h := range generatedHistories(150) {
		full := mustDerive(t, h)
		stream := shuffledWithDuplicates(r, h)
		var acc []events.Event
		distinct := map[events.Key]bool{}
		var prev uint64
		for len(stream) > 0 {
			n := min(1+r.IntN(8), len(stream))
			acc = append(acc, stream[:n]...)
			stream = stream[n:]
			grew := false
			for _, e := range acc[len(acc)-n:] {
				if !distinct[e.EventKey()] {
					distinct[e.EventKey()] = true
					grew = true
				}
			}
			got := mustDerive(t, acc)
			if got.Version != uint64(len(distinct)) {
				t.Fatalf("history %d: version %d, %d distinct events", i, got.Version, len(distinct))
			}
			if grew && got.Version <= prev || got.Version < prev {
				t.Fatalf("history %d: version went from %d to %d (new events: %v)", i, prev, got.Version, grew)
			}
			prev = got.Version
		}
		requireSame(t, fmt.Sprintf("history %d, all batches", i), mustDerive(t, acc), full)
	}
}

// TestGeneratorCoverage makes sure the random histories exercise every rule
// the property tests are meant to cover; a generator that drifted into
// producing only trivial histories would make them pass vacuously.
func TestGeneratorCoverage(t *testing.T) {
	seen := map[string]int{}
	for _, h := range generatedHistories(400) {
		r := mustDerive(t, h)
		in := r.Instance
		seen["instance "+in.Status]++
		if last := r.Executions[len(r.Executions)-1]; last.Status == StatusContinuedAsNew {
			seen["running instance, latest continued as new"]++
		}
		if in.ExecutionCount > 1 {
			seen["continue-as-new"]++
		}
		if in.ParentInstance.Valid {
			seen["parent"]++
		}
		if in.CustomStatus.Valid {
			seen["custom status set"]++
		}
		for _, a := range r.Activities {
			seen["activity "+a.Outcome]++
			if a.IsSystem {
				seen["system call"]++
			}
			if a.DurationMs.Valid && a.DurationMs.Value < 0 {
				seen["negative duration"]++
			}
		}
		for _, w := range r.Work {
			if w.Pending {
				seen["pending "+w.Kind]++
				if w.Persistent {
					seen["pending persistent"]++
				}
				if w.Kind == KindTimer && w.DelayMs == 0 {
					seen["pending timer, delay 0"]++
				}
			}
		}
		byID := map[[2]uint64]events.Event{}
		for _, e := range h {
			byID[[2]uint64{e.ExecutionID, e.EventID}] = e
		}
		subs, sats := 0, 0
		outcomes := map[[2]uint64]int{}
		for _, e := range h {
			if !e.Known {
				seen["unknown type"]++
			}
			if want := outcomeTarget(e.Type); want != "" && e.SourceEventID.Valid {
				key := [2]uint64{e.ExecutionID, e.SourceEventID.Value}
				if s, ok := byID[key]; !ok || s.Type != want {
					seen["outcome with no matching source"]++
				} else if outcomes[key]++; outcomes[key] == 2 {
					seen["several outcomes for one item"]++
				}
			}
			switch e.Type {
			case events.TypeExternalSubscribedCancelled, events.TypeExternalSubscribedPersistentCancelled:
				seen["cancelled subscription"]++
			case events.TypeExternalSubscribed, events.TypeExternalSubscribedPersistent:
				subs++
			case events.TypeExternalEvent, events.TypeExternalEventPersistent:
				sats++
			}
		}
		if subs > 0 && sats > 0 && in.PendingEvents > 0 {
			seen["partly satisfied subscriptions"]++
		}
	}
	for _, k := range []string{
		"instance Running", "instance Completed", "instance Failed", "running instance, latest continued as new",
		"continue-as-new", "parent", "custom status set", "activity Pending", "activity Completed", "activity Failed",
		"activity Cancelled", "system call", "negative duration", "pending activity", "pending timer", "pending event",
		"pending sub_orchestration", "pending persistent", "pending timer, delay 0", "unknown type",
		"outcome with no matching source", "several outcomes for one item",
		"cancelled subscription", "partly satisfied subscriptions",
	} {
		if seen[k] == 0 {
			t.Errorf("generated histories never produce %q", k)
		}
	}
}
