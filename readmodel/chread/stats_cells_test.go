package chread

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/reportcells"
)

// statsWorkload is a gen workload over three days with deletions (a share
// reuse of them reusing their id, events re-published after their
// deletion) and prunes, plus the contract's fixtures, as the messages a
// projector would receive.
func statsWorkload(t testing.TB, instances int, reuse float64) ([]events.Event, []events.Notice) {
	t.Helper()
	var (
		evs []events.Event
		ns  []events.Notice
	)
	// Its own id prefix: an id of the fixtures and of gen in one history
	// would be two different copies of one event (docs/deletions.md, Limit).
	hists := gen.Histories(gen.Config{Seed: 23, IDPrefix: "stats-", Instances: instances, SpreadMs: 3 * 86400000,
		RunningFraction: 0.15, UnknownTypeFraction: 0.02})
	for m := range gen.WithNotices(hists, gen.NoticeOptions{Seed: 5, DeleteFraction: 0.2, ReuseFraction: reuse,
		RedeliverFraction: 0.3, PruneFraction: 0.5, DelayMs: 30 * 60000}) {
		switch {
		case m.Event != nil:
			evs = append(evs, *m.Event)
		case m.Notice != nil:
			ns = append(ns, *m.Notice)
		}
	}
	if len(ns) == 0 {
		t.Fatal("the workload has no notices")
	}
	fx, _ := qLoadFixtures(t)
	return append(evs, fx...), ns
}

// statsQueries are the activity stats filters compared with the oracle:
// none, an orchestration, system calls, since on an hour boundary and
// inside an hour (the edge hour read from the facts), and a since before
// every activity and after all of them.
func statsQueries(from int64) []query.ActivityFilter {
	hour := reportcells.StatsHour(from) + 30*reportcells.GrainHourMs
	return []query.ActivityFilter{
		{},
		{IncludeSystem: true},
		{Orchestration: "ProcessOrder"},
		{Orchestration: "ProcessOrder", IncludeSystem: true, Since: qPtr(hour)},
		{Since: qPtr(hour)},
		{Since: qPtr(hour + 1234567)},
		{IncludeSystem: true, Since: qPtr(hour + 2*reportcells.GrainDayMs - 1)},
		{Since: qPtr(from - 1)},
		{Since: qPtr(from + 10*reportcells.GrainDayMs)},
	}
}

// compareStats checks every statsQueries answer against the oracle.
func compareStats(t *testing.T, what string, r *Reader, o *oracle.Oracle, from int64) {
	t.Helper()
	for _, f := range statsQueries(from) {
		got, err := r.ActivityStats(context.Background(), f)
		if err != nil {
			t.Fatalf("%s: ActivityStats(%+v): %v", what, f, err)
		}
		var orch *string
		if f.Orchestration != "" {
			orch = &f.Orchestration
		}
		want := o.ActivityStats(orch, f.Since, f.IncludeSystem)
		if len(want.Activities) == 0 && f.Since == nil {
			t.Fatalf("%s: the oracle has no activities for %+v: the test compares nothing", what, f)
		}
		qSameJSON(t, fmt.Sprintf("%s: activity stats %+v", what, f), got, want)
	}
}

// dirtyCells is the number of activity stats cells the reader takes from
// the facts now.
func (d *qDB) dirtyCells(t testing.TB) int {
	t.Helper()
	tab, err := d.r.dirtyStatsCells(context.Background(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tab == nil {
		return 0
	}
	return tab.Block().Rows()
}

// TestActivityStatsExactWhileCellsLag projects a three-day workload with
// deletions, reused ids and prunes out of order in batches, recounting the
// activity stats cells of only some batches (as the projector's recounter
// lags behind its writes), and compares every filter with the replay
// oracle of the events so far: while some cells are stale (their facts
// answer), after every cell is recounted (the cells answer), and after a
// late event lands in an old hour without a recount. Wrong cells, a stale
// cell taken as current, or a since edge counted twice all change an
// answer.
func TestActivityStatsExactWhileCellsLag(t *testing.T) {
	d := qTestDB(t, nil)
	ctx := context.Background()
	// No reused ids: a reused id's events projected before its deletion
	// notice are one history with two copies of each event, whose stale
	// facts only the notice retires (docs/activity-stats.md, Limits); the
	// states between batches would then differ from the oracle's.
	evs, ns := statsWorkload(t, 500, 0)
	from := int64(slices.MinFunc(evs, func(a, b events.Event) int { return cmp.Compare(a.TimestampMs, b.TimestampMs) }).TimestampMs)

	type msg struct {
		e *events.Event
		n *events.Notice
	}
	var order []msg
	for i := range evs {
		order = append(order, msg{e: &evs[i]})
	}
	for i := range ns {
		order = append(order, msg{n: &ns[i]})
	}
	rng := rand.New(rand.NewPCG(7, 1))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	// The last event of the shuffled order is held back: it arrives late,
	// after every cell was recounted.
	late := -1
	for i := len(order) - 1; i >= 0; i-- {
		if order[i].e != nil && order[i].e.Type == events.TypeActivityCompleted {
			late = i
			break
		}
	}
	lateMsg := order[late]
	order = slices.Delete(order, late, late+1)

	seenE, seenN := map[string][]events.Event{}, map[string][]events.Notice{}
	var soFarE []events.Event
	var soFarN []events.Notice
	derive := func(ids map[string]bool) []projection.Rows {
		var rows []projection.Rows
		for id := range ids {
			r, err := projection.Derive(seenE[id], seenN[id]...)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, r)
		}
		return rows
	}
	add := func(m msg, touched map[string]bool) {
		if m.e != nil {
			seenE[m.e.InstanceID] = append(seenE[m.e.InstanceID], *m.e)
			soFarE = append(soFarE, *m.e)
			touched[m.e.InstanceID] = true
		} else {
			seenN[m.n.InstanceID] = append(seenN[m.n.InstanceID], *m.n)
			soFarN = append(soFarN, *m.n)
			touched[m.n.InstanceID] = true
		}
	}
	const batches = 10
	size := (len(order) + batches - 1) / batches
	for b, lo := 0, 0; lo < len(order); b, lo = b+1, lo+size {
		touched := map[string]bool{}
		for _, m := range order[lo:min(lo+size, len(order))] {
			add(m, touched)
		}
		rows := derive(touched)
		if b%3 == 2 {
			// This batch's cells are not recounted (yet).
			if _, err := d.w.WriteRows(ctx, rows); err != nil {
				t.Fatal(err)
			}
		} else {
			d.write(t, rows...)
		}
		if b == 5 {
			compareStats(t, fmt.Sprintf("after batch %d", b), d.r, oracle.New(soFarE, soFarN...), from)
		}
	}
	if n := d.dirtyCells(t); n == 0 {
		t.Fatal("no stale activity stats cell after writes without recounts: the test would not exercise the facts path")
	}
	all := oracle.New(soFarE, soFarN...)
	compareStats(t, "some cells stale", d.r, all, from)

	if err := d.w.RecountActivityStatsAll(ctx); err != nil {
		t.Fatal(err)
	}
	if n := d.dirtyCells(t); n != 0 {
		t.Fatalf("%d stale activity stats cells after recounting all", n)
	}
	compareStats(t, "every cell recounted", d.r, all, from)

	// The late completion lands in the hour its activity was scheduled in,
	// long before the newest hour; its cell is not recounted.
	touched := map[string]bool{}
	add(lateMsg, touched)
	if _, err := d.w.WriteRows(ctx, derive(touched)); err != nil {
		t.Fatal(err)
	}
	if n := d.dirtyCells(t); n == 0 {
		t.Fatal("the late event left no stale cell")
	}
	withLate := oracle.New(soFarE, soFarN...)
	compareStats(t, "late event, cell stale", d.r, withLate, from)
	if err := d.w.RecountActivityStatsAll(ctx); err != nil {
		t.Fatal(err)
	}
	compareStats(t, "late event, cell recounted", d.r, withLate, from)
}

// TestActivityStatsCellsExactUnderRedelivery writes the same derivations
// again and older ones after newer ones, with merges of the activity stats
// tables stopped (every copy stays in its part), recounting every time: the
// cells must not change, and the answers must stay the oracle's from the
// cells alone.
func TestActivityStatsCellsExactUnderRedelivery(t *testing.T) {
	d := qTestDB(t, nil)
	for _, tb := range []string{"activity_stats_facts", "activity_stats_cells", "activity_stats_touches", "activity_stats_recounts"} {
		d.exec(t, "SYSTEM STOP MERGES {db}."+tb)
	}
	evs, ns := statsWorkload(t, 300, 0.4)
	from := int64(slices.MinFunc(evs, func(a, b events.Event) int { return cmp.Compare(a.TimestampMs, b.TimestampMs) }).TimestampMs)
	byE, byN := map[string][]events.Event{}, map[string][]events.Notice{}
	for _, e := range evs {
		byE[e.InstanceID] = append(byE[e.InstanceID], e)
	}
	for _, n := range ns {
		byN[n.InstanceID] = append(byN[n.InstanceID], n)
	}
	var older, full []projection.Rows
	for id, h := range byE {
		r, err := projection.Derive(h, byN[id]...)
		if err != nil {
			t.Fatal(err)
		}
		full = append(full, r)
		// An older derivation: half the events, none of the notices (the
		// instance before its deletion was known).
		o, err := projection.Derive(h[:(len(h)+1)/2])
		if err != nil {
			t.Fatal(err)
		}
		older = append(older, o)
	}
	d.write(t, full...)
	before := d.statsCellsDigest(t)
	d.write(t, full...)
	d.write(t, older...)
	d.write(t, full[:len(full)/3]...)
	if after := d.statsCellsDigest(t); after != before {
		t.Fatalf("activity stats cells changed under re-delivery:\nbefore %s\nafter  %s", before, after)
	}
	ctx := context.Background()
	if err := d.w.RecountActivityStatsAll(ctx); err != nil {
		t.Fatal(err)
	}
	if n := d.dirtyCells(t); n != 0 {
		t.Fatalf("%d stale activity stats cells after recounting all", n)
	}
	compareStats(t, "re-delivered", d.r, oracle.New(evs, ns...), from)
	got, err := d.r.ActivityStats(ctx, query.ActivityFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var deleted int
	for _, n := range ns {
		if n.Type == events.TypeInstanceDeleted {
			deleted++
		}
	}
	if deleted == 0 || len(got.Activities) == 0 {
		t.Fatalf("%d deletions, %d activity names: the test compares nothing", deleted, len(got.Activities))
	}
}

// statsCellsDigest is the deduplicated content of activity_stats_cells.
func (d *qDB) statsCellsDigest(t testing.TB) string {
	t.Helper()
	var n uint64
	var sum string
	err := d.conn.QueryRow(context.Background(), d.sql(
		`SELECT count(), hex(cityHash64(toString(groupArray(cityHash64(toString(tuple(*))))))) FROM (
			SELECT * FROM {db}.activity_stats_cells FINAL ORDER BY hour_ms, activity_name)`)).Scan(&n, &sum)
	if err != nil {
		t.Fatalf("digest activity_stats_cells: %v", err)
	}
	return fmt.Sprintf("%d cells %s", n, sum)
}
