package chwrite

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/reportcells"
	"github.com/duroscope/duroscope/schema"
)

// reportTables are the report tables: the version-2 facts (migration 0002),
// the version-3 facts the writer writes (0003) and the cells.
var reportTables = []string{"report_instance_facts", "report_activity_facts", "report_instance_facts_v3",
	"report_activity_facts_v3", "report_instance_cells", "report_activity_cells"}

// reportEvents is a gen workload over three days (running instances,
// cancellations, failures, sub-orchestrations, continue-as-new) plus the
// contract's fixtures (edge cases).
func reportEvents(t *testing.T, instances int) []events.Event {
	t.Helper()
	var evs []events.Event
	for h := range gen.Histories(gen.Config{Seed: 11, Instances: instances, SpreadMs: 3 * 86400000,
		RunningFraction: 0.15, UnknownTypeFraction: 0.02}) {
		evs = append(evs, h...)
	}
	fx := loadHistoryFixtures(t)
	return append(evs, fx...)
}

// projectInBatches stores evs the way the projector does, but in a random
// order cut into batches: after each batch every instance it touched is
// re-derived from all of its events so far and written. Instances therefore
// go through partial states (no OrchestrationStarted yet, outcomes before
// their scheduling event, ...) before the last batch completes them.
func projectInBatches(t testing.TB, d *testDB, evs []events.Event, batches int, seed uint64) {
	t.Helper()
	ctx := context.Background()
	order := slices.Clone(evs)
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	seen := map[string][]events.Event{}
	size := (len(order) + batches - 1) / batches
	for lo := 0; lo < len(order); lo += size {
		batch := order[lo:min(lo+size, len(order))]
		hr := make([]HistoryRow, len(batch))
		touched := map[string]bool{}
		for i := range batch {
			hr[i] = HistoryRow{Event: &batch[i], StreamSeq: uint64(lo + i + 1)}
			id := batch[i].InstanceID
			seen[id] = append(seen[id], batch[i])
			touched[id] = true
		}
		if err := d.w.WriteHistory(ctx, hr); err != nil {
			t.Fatalf("WriteHistory: %v", err)
		}
		var rows []projection.Rows
		for id := range touched {
			r, err := projection.Derive(seen[id])
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, r)
		}
		if err := d.w.WriteDerived(ctx, rows); err != nil {
			t.Fatalf("WriteDerived: %v", err)
		}
	}
}

// reportDigest is the deduplicated content of the cell tables.
func (d *testDB) reportDigest(t testing.TB) string {
	t.Helper()
	var out []string
	for _, tb := range []string{"report_instance_cells", "report_activity_cells"} {
		var n uint64
		var sum string
		err := d.conn.QueryRow(context.Background(), strings.ReplaceAll(
			`SELECT count(), hex(cityHash64(toString(groupArray(cityHash64(toString(tuple(*))))))) FROM (
				SELECT * FROM {db}.`+tb+` FINAL ORDER BY grain_ms, bucket_ms, 3, 4)`, "{db}", d.name)).Scan(&n, &sum)
		if err != nil {
			t.Fatalf("digest %s: %v", tb, err)
		}
		out = append(out, fmt.Sprintf("%s: %d rows %s", tb, n, sum))
	}
	return strings.Join(out, "; ")
}

// TestReportBackfillEqualsLive projects a workload with the live writer,
// then empties the report tables and runs migration 0002's Go step
// (BackfillReports) over the version-1 tables (the history copied back into
// the version-1 table), then 0003's (MoveReportsToV3): facts and cells must
// come out the same, so a store upgraded in place answers like one
// projected afresh.
func TestReportBackfillEqualsLive(t *testing.T) {
	d := newTestDB(t)
	evs := reportEvents(t, 300)
	projectInBatches(t, d, evs, 4, 2)
	digest := func() string {
		var out []string
		for _, tb := range []string{"report_instance_facts_v3", "report_activity_facts_v3"} {
			var n uint64
			var sum string
			if err := d.conn.QueryRow(context.Background(), strings.ReplaceAll(`SELECT count(), hex(cityHash64(toString(groupArray(cityHash64(toString(tuple(*))))))) FROM (
				SELECT * FROM {db}.`+tb+` FINAL ORDER BY hour_ms, 2, 3, 4)`, "{db}", d.name)).Scan(&n, &sum); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s: %d rows %s", tb, n, sum))
		}
		return strings.Join(out, "; ") + "; " + d.reportDigest(t)
	}
	live := digest()
	for _, tb := range reportTables {
		d.exec(t, "TRUNCATE TABLE {db}."+tb)
	}
	d.exec(t, "INSERT INTO {db}.history SELECT * FROM {db}.history_v3")
	steps := d.w.SchemaSteps()
	if err := steps[schema.StepReportsBackfill](context.Background()); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	if err := steps[schema.StepReportsV3](context.Background()); err != nil {
		t.Fatalf("move to version 3: %v", err)
	}
	if got := digest(); got != live {
		t.Fatalf("backfill differs from the live writer:\nlive     %s\nbackfill %s", live, got)
	}
}

// binSQL is the backfill's duration_bin expression over a column d.
const binSQL = `toInt32(if(d < 0, -1, 1) * if(x < 64, x, 64 + (e - 6) * 32 + (bitShiftRight(x, e - 5) - 32)))`

// TestDurationBinSQL evaluates the backfill's SQL binning on the same values
// as DurationBin and requires equal bins.
func TestDurationBinSQL(t *testing.T) {
	var mig string
	for _, name := range []string{"backfill_instance_facts.sql", "backfill_activity_facts.sql"} {
		q, err := statements.Render(name, dbData{"db"})
		if err != nil {
			t.Fatal(err)
		}
		mig += q
	}
	for _, part := range []string{binSQL,
		`toInt64(least(abs(ifNull(duration_ms, 0)), 4611686018427387903)) AS x`,
		`toInt64(arraySum(arrayMap(i -> toUInt64(bitShiftRight(x, i + 1) > 0), range(62)))) AS e`} {
		if strings.Count(mig, part) != 2 {
			t.Fatalf("the backfill should use %q for both fact tables", part)
		}
	}
	d := newTestDB(t)
	vals := binValues()
	// As decimal strings: an array literal mixing MaxInt64 and negative
	// numbers has no common type in ClickHouse.
	strs := make([]string, len(vals))
	for i, v := range vals {
		strs[i] = strconv.FormatInt(v, 10)
	}
	var got []int32
	err := d.conn.QueryRow(context.Background(), `SELECT groupArray(`+binSQL+`) FROM (
		SELECT d, x, toInt64(arraySum(arrayMap(i -> toUInt64(bitShiftRight(x, i + 1) > 0), range(62)))) AS e FROM (
			SELECT d, toInt64(least(abs(d), 4611686018427387903)) AS x FROM (
				SELECT toInt64(arrayJoin(?)) AS d)))`, strs).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(vals) {
		t.Fatalf("%d bins for %d values", len(got), len(vals))
	}
	for i, v := range vals {
		if want := reportcells.DurationBin(v); got[i] != want {
			t.Errorf("bin of %d: SQL %d, Go %d", v, got[i], want)
		}
	}
}

// binValues are durations around every bin-width change and the extremes.
func binValues() []int64 {
	vals := []int64{0, 1, -1, 63, -63, 64, -64, 65, 127, 128, 129, 1000, -1000, 123456789,
		math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1, 1<<62 - 1, 1 << 62, -(1 << 62)}
	for e := 6; e < 63; e++ {
		p := int64(1) << e
		vals = append(vals, p-1, p, p+1, -p, -p+1, p+p/3)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		vals = append(vals, rng.Int64N(1<<40)-1<<20)
	}
	return vals
}

// TestDurationBin checks the Histogram bins: monotone in the duration,
// every duration inside its bin's range, bins below 64 exact, and the
// reported midpoint within PercentileMaxRelativeError of any value of the
// bin.
