package projector

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// The drift checker's rounds over memStore (run_test.go): which states are
// drift and when. internal/e2e's TestDriftFoundAndRepaired runs it against
// ClickHouse and the real pipeline.

// memDrift is memStore as a DriftStore: its rows are what readers see.
type memDrift struct{ s *memStore }

func (d memDrift) SampleInstanceIDs(_ context.Context, after string, n int) ([]string, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	var ids []string
	for id := range d.s.history {
		ids = append(ids, id)
	}
	for id := range d.s.rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	i, _ := slices.BinarySearch(ids, after)
	if i < len(ids) && ids[i] == after {
		i++
	}
	return ids[i:min(len(ids), i+n)], nil
}

func (d memDrift) StoredInstances(_ context.Context, ids []string) (map[string]*chwrite.StoredInstance, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	out := map[string]*chwrite.StoredInstance{}
	for _, id := range ids {
		if r, ok := d.s.rows[id]; ok {
			out[id] = storedOf(r)
		}
	}
	return out, nil
}

func (d memDrift) DeleteInstances(_ context.Context, ids []string) error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	for _, id := range ids {
		delete(d.s.rows, id)
	}
	return nil
}

func TestDriftCheckerRounds(t *testing.T) {
	var h []events.Event
	for hist := range gen.Histories(gen.Config{Seed: 9, Instances: 50}) {
		if len(hist) >= 8 {
			h = hist
			break
		}
	}
	if h == nil {
		t.Fatal("no generated history of 8 events")
	}
	id := h[0].InstanceID
	s := newMemStore()
	setHistory := func(n int) {
		s.mu.Lock()
		s.history[id] = slices.Clone(h[:n])
		s.mu.Unlock()
	}
	setRows := func(r projection.Rows) {
		s.mu.Lock()
		s.rows[id] = r
		s.mu.Unlock()
	}
	derive := func(n int) projection.Rows {
		r, err := projection.Derive(h[:n])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	const grace = time.Minute
	p := &Projector{
		cfg: Config{Store: s, Drift: memDrift{s}, DriftSample: 10, DriftGrace: grace, Partitions: 1},
		log: zerolog.New(zerolog.NewTestWriter(t)),
	}
	c := newDriftChecker(p)
	t0 := time.Unix(1_000_000, 0)
	round := func(at time.Duration, found, repaired uint64) {
		t.Helper()
		if err := c.round(context.Background(), t0.Add(at)); err != nil {
			t.Fatal(err)
		}
		if f, r := p.stats.DriftFound.Load(), p.stats.DriftRepaired.Load(); f != found || r != repaired {
			t.Fatalf("after the round at %v: found %d, repaired %d; want %d, %d", at, f, r, found, repaired)
		}
	}
	rowsVersion := func() uint64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.rows[id].Version
	}

	// In step.
	setHistory(4)
	setRows(derive(4))
	round(0, 0, 0)
	// The history grows, the rows follow late but within the grace: no drift.
	setHistory(5)
	round(time.Second, 0, 0)
	round(grace-time.Second, 0, 0)
	setRows(derive(5))
	round(grace+time.Second, 0, 0)
	// Rows behind a history that keeps growing: never drift, however long.
	setHistory(6)
	round(2*grace, 0, 0)
	setHistory(7)
	round(3*grace+time.Second, 0, 0)
	round(4*grace, 0, 0) // the same history for less than the grace
	// The same history for the grace, rows still behind: drift, rewritten.
	round(4*grace+2*time.Second, 1, 1)
	if v := rowsVersion(); v != derive(7).Version {
		t.Fatalf("rows at version %d after the repair, want %d", v, derive(7).Version)
	}
	round(5*grace, 1, 1) // checked again: in step
	// A row above the history: drift at once, replaced by the history's.
	bad := derive(7)
	bad.Version += 10
	bad.Instance.Status = "Bogus"
	setRows(bad)
	round(5*grace+time.Second, 2, 2)
	s.mu.Lock()
	got := s.rows[id]
	s.mu.Unlock()
	if got.Version != derive(7).Version || got.Instance.Status == "Bogus" {
		t.Fatalf("after the repair: version %d status %s", got.Version, got.Instance.Status)
	}
	// Rows of an id without history: drift, deleted.
	phantom := derive(7)
	phantom.Instance.InstanceID = "phantom"
	s.mu.Lock()
	s.rows["phantom"] = phantom
	s.mu.Unlock()
	round(5*grace+2*time.Second, 3, 3)
	s.mu.Lock()
	_, left := s.rows["phantom"]
	s.mu.Unlock()
	if left {
		t.Fatal("the phantom's rows were not deleted")
	}
	if n := p.stats.DriftChecked.Load(); n != 12 {
		t.Fatalf("%d instance checks in 11 rounds, the last of two instances; want 12", n)
	}
}
