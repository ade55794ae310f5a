package projection

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
)

// TestLastSeenOnlyGrows: LastSeenMs is the latest timestamp of the events
// and notices given, and a derivation from more of them (a higher Version)
// never has a lower one — what lets the retention drop whole months of the
// instance tables (migration 0005). Derive and DeriveAll agree.
func TestLastSeenOnlyGrows(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	n := 0
	for h := range gen.Histories(gen.Config{Seed: 7, Instances: 40, RunningFraction: 0.3}) {
		id := h[0].InstanceID
		one := slices.DeleteFunc(slices.Clone(h), func(e events.Event) bool { return e.InstanceID != id })
		last := one[len(one)-1].TimestampMs
		notices := []events.Notice{events.ExecutionsPruned(id, []uint64{1}, last+500), events.InstanceDeleted(id, last+1000)}
		rng.Shuffle(len(one), func(i, j int) { one[i], one[j] = one[j], one[i] })
		var prev Rows
		for k := 1; k <= len(one)+len(notices); k++ {
			evs := one[:min(k, len(one))]
			ns := notices[:max(0, k-len(one))]
			r, err := Derive(evs, ns...)
			if err != nil {
				t.Fatal(err)
			}
			want := int64(0)
			for _, e := range evs {
				want = max(want, int64(e.TimestampMs))
			}
			for _, x := range ns {
				want = max(want, int64(x.TimestampMs))
			}
			if r.LastSeenMs != want {
				t.Fatalf("%s, %d events, %d notices: LastSeenMs %d, want %d", id, len(evs), len(ns), r.LastSeenMs, want)
			}
			if r.Version > prev.Version && r.LastSeenMs < prev.LastSeenMs {
				t.Fatalf("%s: version %d -> %d but LastSeenMs %d -> %d", id, prev.Version, r.Version, prev.LastSeenMs, r.LastSeenMs)
			}
			all, err := DeriveAll(evs, ns...)
			if err != nil || len(all) != 1 || all[0].LastSeenMs != r.LastSeenMs {
				t.Fatalf("%s: DeriveAll LastSeenMs %v (%v), Derive %d", id, all, err, r.LastSeenMs)
			}
			prev = r
		}
		n++
	}
	if n == 0 {
		t.Fatal("no histories")
	}
}
