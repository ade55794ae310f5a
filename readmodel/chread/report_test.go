package chread

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// reportTables are the report tables the writer writes (facts of migration
// 0003, cells of 0002).
var reportTables = []string{"report_instance_facts_v3", "report_activity_facts_v3", "report_instance_cells", "report_activity_cells"}

// reportEvents is a gen workload over three days (running instances,
// cancellations, failures, sub-orchestrations, continue-as-new) plus the
// contract's fixtures (edge cases).
func reportEvents(t testing.TB, instances int) []events.Event {
	t.Helper()
	var evs []events.Event
	for h := range gen.Histories(gen.Config{Seed: 11, Instances: instances, SpreadMs: 3 * 86400000,
		RunningFraction: 0.15, UnknownTypeFraction: 0.02}) {
		evs = append(evs, h...)
	}
	fx, _ := qLoadFixtures(t)
	return append(evs, fx...)
}

// projectInBatches stores evs the way the projector does, but in a random
// order cut into batches: after each batch every instance it touched is
// re-derived from all of its events so far and written. Instances therefore
// go through partial states (no OrchestrationStarted yet, outcomes before
// their scheduling event, ...) before the last batch completes them.
func projectInBatches(t testing.TB, d *qDB, evs []events.Event, batches int, seed uint64) {
	t.Helper()
	ctx := context.Background()
	order := slices.Clone(evs)
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	seen := map[string][]events.Event{}
	size := (len(order) + batches - 1) / batches
	for lo := 0; lo < len(order); lo += size {
		batch := order[lo:min(lo+size, len(order))]
		hr := make([]chwrite.HistoryRow, len(batch))
		touched := map[string]bool{}
		for i := range batch {
			hr[i] = chwrite.HistoryRow{Event: &batch[i], StreamSeq: uint64(lo + i + 1)}
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
		d.write(t, rows...)
	}
}

// reportQueries are the timeseries reports compared with the oracle.
func reportQueries(from, to int64, orch, act string) []oracle.ReportQuery {
	var qs []oracle.ReportQuery
	for _, b := range []string{api.BucketMinute, api.BucketHour, api.BucketDay, api.BucketWeek} {
		for _, g := range []string{api.GroupByOrchestration, api.GroupByVersion, api.GroupByStatus} {
			qs = append(qs,
				oracle.ReportQuery{Bucket: b, FromMs: from, ToMs: to, GroupBy: g},
				oracle.ReportQuery{Bucket: b, FromMs: from + 5400017, ToMs: to - 7200003, GroupBy: g,
					Statuses: []string{api.StatusCompleted, api.StatusFailed}},
				oracle.ReportQuery{Bucket: b, FromMs: from, ToMs: to, GroupBy: g, Orchestration: &orch,
					Statuses: []string{api.StatusRunning}},
			)
		}
		qs = append(qs,
			oracle.ReportQuery{Bucket: b, FromMs: from, ToMs: to, GroupBy: api.GroupByActivity},
			oracle.ReportQuery{Bucket: b, FromMs: from + 999, ToMs: to - 86400000, GroupBy: api.GroupByActivity, IncludeSystem: true},
			oracle.ReportQuery{Bucket: b, FromMs: from, ToMs: to, GroupBy: api.GroupByActivity, Orchestration: &orch},
			oracle.ReportQuery{Bucket: b, FromMs: from, ToMs: to, GroupBy: api.GroupByActivity, Activity: &act, IncludeSystem: true},
		)
	}
	return qs
}

// readTimeseries runs q through the Reader the way the HTTP layer does.
func readTimeseries(t testing.TB, r *Reader, q oracle.ReportQuery) api.Timeseries {
	t.Helper()
	from, to := query.AlignRange(q.Bucket, q.FromMs, q.ToMs)
	rq := query.TimeseriesQuery{Bucket: q.Bucket, FromMs: from, ToMs: to, GroupBy: q.GroupBy, Statuses: q.Statuses,
		IncludeSystem: q.IncludeSystem}
	if q.Orchestration != nil {
		rq.Orchestration = *q.Orchestration
	}
	if q.Activity != nil {
		rq.Activity = *q.Activity
	}
	ts := query.TimeseriesHeader(rq)
	if err := r.Timeseries(context.Background(), rq, func(row api.ReportRow) error {
		ts.Rows = append(ts.Rows, row)
		return nil
	}); err != nil {
		t.Fatalf("Timeseries %+v: %v", rq, err)
	}
	return ts
}

func describe(q oracle.ReportQuery) string {
	s := fmt.Sprintf("%s by %s [%d,%d)", q.Bucket, q.GroupBy, q.FromMs, q.ToMs)
	if q.Orchestration != nil {
		s += " orchestration=" + *q.Orchestration
	}
	if q.Activity != nil {
		s += " activity=" + *q.Activity
	}
	if len(q.Statuses) > 0 {
		s += " status=" + strings.Join(q.Statuses, ",")
	}
	if q.IncludeSystem {
		s += " include_system"
	}
	return s
}

// compareReports checks every report of the read model against the oracle.
func compareReports(t *testing.T, r *Reader, o *oracle.Oracle, from, to int64) {
	t.Helper()
	orch, act := "ProcessOrder", "ChargeCard"
	nonEmpty := 0
	for _, q := range reportQueries(from, to, orch, act) {
		want := o.Timeseries(q)
		got := readTimeseries(t, r, q)
		if len(want.Rows) > 0 {
			nonEmpty++
		}
		qSameJSON(t, describe(q), got, want)
	}
	if nonEmpty < 40 {
		t.Fatalf("only %d of the compared reports have rows: the workload does not exercise them", nonEmpty)
	}
	for _, q := range []oracle.ErrorsQuery{
		{FromMs: from, ToMs: to, Limit: 20},
		{FromMs: from + 3600000*5 + 1, ToMs: to - 86400000 - 7, Limit: 2, IncludeSystem: true},
		{FromMs: from, ToMs: to, Limit: 3, Orchestration: &orch},
		{FromMs: from, ToMs: to, Limit: 5, Activity: &act},
	} {
		want := o.ErrorsReport(q)
		f, tt := query.AlignRange(api.BucketHour, q.FromMs, q.ToMs)
		rq := query.ErrorsQuery{FromMs: f, ToMs: tt, Limit: q.Limit, IncludeSystem: q.IncludeSystem}
		if q.Orchestration != nil {
			rq.Orchestration = *q.Orchestration
		}
		if q.Activity != nil {
			rq.Activity = *q.Activity
		}
		got, err := r.Errors(context.Background(), rq)
		if err != nil {
			t.Fatal(err)
		}
		qSameJSON(t, fmt.Sprintf("errors %+v", rq), got, want)
	}
}

// reportSpan is the range the gen workload and the fixtures fall in.
func reportSpan(evs []events.Event) (int64, int64) {
	lo, hi := int64(evs[0].TimestampMs), int64(evs[0].TimestampMs)
	for _, e := range evs {
		lo, hi = min(lo, int64(e.TimestampMs)), max(hi, int64(e.TimestampMs))
	}
	return lo - 86400000, hi + 86400000
}

// TestReportsMatchOracle projects a three-day workload out of order in many
// batches (so that cells are recounted while instances are half there and
// again when late events arrive) and compares every report with the replay
// oracle over the whole event set: counts, sums and exact percentiles
// exactly, histogram percentiles exactly as docs/reports.md defines them.
func TestReportsMatchOracle(t *testing.T) {
	d := qTestDB(t, nil)
	evs := reportEvents(t, 1500)
	projectInBatches(t, d, evs, 12, 1)
	from, to := reportSpan(evs)
	compareReports(t, d.r, oracle.New(evs), from, to)
}

// TestReportsExactUnderRedelivery writes the same derivations again, and
// older derivations after newer ones, with merges stopped (so every copy is
// still there): no report may change.
func TestReportsExactUnderRedelivery(t *testing.T) {
	d := qTestDB(t, nil)
	d.stopMerges(t)
	for _, tb := range reportTables {
		d.exec(t, "SYSTEM STOP MERGES {db}."+tb)
	}
	evs := reportEvents(t, 400)
	// Older derivations: every instance from the first half of its events.
	byInst := map[string][]events.Event{}
	for _, e := range evs {
		byInst[e.InstanceID] = append(byInst[e.InstanceID], e)
	}
	var older, full []projection.Rows
	for _, h := range byInst {
		r, err := projection.Derive(h)
		if err != nil {
			t.Fatal(err)
		}
		full = append(full, r)
		if len(h) > 1 {
			o, err := projection.Derive(h[:len(h)/2])
			if err != nil {
				t.Fatal(err)
			}
			older = append(older, o)
		}
	}
	d.write(t, full...)
	before := d.reportDigest(t)
	d.write(t, full...)  // re-delivery: identical rows again
	d.write(t, older...) // late, stale derivations after the newest
	d.write(t, full[:len(full)/3]...)
	if after := d.reportDigest(t); after != before {
		t.Fatalf("report cells changed under re-delivery:\nbefore %s\nafter  %s", before, after)
	}
	from, to := reportSpan(evs)
	compareReports(t, d.r, oracle.New(evs), from, to)
}

// reportDigest is the deduplicated content of the cell tables.
func (d *qDB) reportDigest(t testing.TB) string {
	t.Helper()
	var out []string
	for _, tb := range []string{"report_instance_cells", "report_activity_cells"} {
		var n uint64
		var sum string
		err := d.conn.QueryRow(context.Background(), d.sql(
			`SELECT count(), hex(cityHash64(toString(groupArray(cityHash64(toString(tuple(*))))))) FROM (
				SELECT * FROM {db}.`+tb+` FINAL ORDER BY grain_ms, bucket_ms, 3, 4)`)).Scan(&n, &sum)
		if err != nil {
			t.Fatalf("digest %s: %v", tb, err)
		}
		out = append(out, fmt.Sprintf("%s: %d rows %s", tb, n, sum))
	}
	return strings.Join(out, "; ")
}
