package chread

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// retentionNow is the clock of the retention tests: with 90 days kept, the
// cutoff is 2026-03-17, in month 202603.
var retentionNow = time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)

const retention90d = 90 * 24 * time.Hour

// retentionWorkload projects, into d, instances of October and November
// 2025 (all older than 90 days), instances of June 2026, and one instance
// that started in December 2025 and got its last events in June 2026: it
// is projected in two batches, so its December derivation sits in the
// December partitions and its June one in June's (two unmerged versions in
// two partitions). It returns every event and that instance's id.
func retentionWorkload(t *testing.T, d *qDB) ([]events.Event, string) {
	t.Helper()
	ms := func(y int, m time.Month, day int) int64 {
		return time.Date(y, m, day, 0, 0, 0, 0, time.UTC).UnixMilli()
	}
	var old, recent []events.Event
	for h := range gen.Histories(gen.Config{Seed: 3, Instances: 60, StartMs: ms(2025, 10, 2), SpreadMs: 40 * 86_400_000,
		IDPrefix: "old-", RunningFraction: 0.2}) {
		old = append(old, h...)
	}
	for h := range gen.Histories(gen.Config{Seed: 4, Instances: 40, StartMs: ms(2026, 6, 2), SpreadMs: 10 * 86_400_000,
		IDPrefix: "new-", RunningFraction: 0.2}) {
		recent = append(recent, h...)
	}
	// The longest single-instance history of a few, its second half moved
	// to June 2026 (timestamps stay in order).
	var long []events.Event
	for h := range gen.Histories(gen.Config{Seed: 5, Instances: 5, StartMs: ms(2025, 12, 10), SpreadMs: 86_400_000,
		IDPrefix: "long-", CancelFraction: -1}) {
		if len(h) > len(long) && !slices.ContainsFunc(h, func(e events.Event) bool { return e.InstanceID != h[0].InstanceID }) {
			long = slices.Clone(h)
		}
	}
	if len(long) < 4 {
		t.Fatalf("no long history to reopen (%d events)", len(long))
	}
	half := len(long) / 2
	shift := ms(2026, 6, 5) - int64(long[half].TimestampMs)
	for i := half; i < len(long); i++ {
		long[i].TimestampMs = uint64(int64(long[i].TimestampMs) + shift)
		long[i].Raw = events.Marshal(&long[i]) // the stored payload, with its new timestamp
	}
	d.project(t, append(slices.Clone(old), long[:half]...))
	d.project(t, append(slices.Clone(recent), long...))
	all := slices.Concat(old, recent, long)
	return all, long[0].InstanceID
}

// managementAnswers asks rm the management questions whose answers the
// retention changes, as JSON, by question.
func managementAnswers(t *testing.T, rm query.ReadModel, ids []string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	put := func(name string, v any, err error) {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(b)
	}
	c, err := rm.CountInstances(ctx, query.ListFilter{}, query.GroupByStatus)
	put("count", c, err)
	l, err := rm.ListInstances(ctx, query.ListFilter{Limit: 1000})
	put("list", l, err)
	h, err := rm.Health(ctx, query.HealthParams{Now: retentionNow, LongRunningAfter: time.Hour, RecentFailureWindow: 24 * time.Hour})
	put("health", h, err)
	p, err := rm.Problems(ctx, query.ProblemsParams{Now: retentionNow, LongRunningAfter: 24 * time.Hour, StuckAfter: time.Hour,
		RecentFailureWindow: 30 * 24 * time.Hour, Limit: 100})
	put("problems", p, err)
	o, err := rm.OrchestrationStats(ctx, "")
	put("orchestration stats", o, err)
	a, err := rm.ActivityStats(ctx, query.ActivityFilter{IncludeSystem: true})
	put("activity stats", a, err)
	b, err := rm.BulkStatus(ctx, ids)
	put("bulk status", b, err)
	for _, id := range ids {
		s, found, err := rm.Instance(ctx, id)
		put("instance "+id, map[string]any{"found": found, "summary": s}, err)
		hist, found, err := rm.History(ctx, id, query.HistoryRange{})
		put("history "+id, map[string]any{"found": found, "events": len(hist.Events)}, err)
		x, found, err := rm.Executions(ctx, id)
		put("executions "+id, map[string]any{"found": found, "executions": x}, err)
		tr, found, err := rm.Tree(ctx, id)
		put("tree "+id, map[string]any{"found": found, "tree": tr}, err)
	}
	return out
}

func sameAnswers(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g := got[k]; g != w {
			t.Errorf("%s: %s:\n got %s\nwant %s", what, k, g, w)
		}
	}
}

// partitionsOf lists the months of table t that hold data.
func partitionsOf(t *testing.T, d *qDB, table string) []string {
	t.Helper()
	rows, err := d.conn.Query(context.Background(),
		"SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active ORDER BY partition", d.name, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestRetention: under a 90-day retention the management answers are
// exactly the oracle's over the instances updated in the last 90 days
// (those of 2025 are gone, the reopened one is there with its whole
// history), before and after the old months are dropped; DropExpired drops
// the months before the cutoff's except the history month the reopened
// instance still needs, never its newest rows; the reports keep answering
// for 2025 until a report retention drops those months too.
func TestRetention(t *testing.T) {
	d := qTestDB(t, nil)
	ctx := context.Background()
	all, reopened := retentionWorkload(t, d)
	cutoff := retentionNow.Add(-retention90d)

	r, err := NewReader(d.conn, ReaderConfig{Database: d.name, Retention: retention90d, Now: func() time.Time { return retentionNow }})
	if err != nil {
		t.Fatal(err)
	}
	full := oracle.New(all)
	want := oracle.NewRetainedReadModel(all, nil, cutoff.UnixMilli())
	var ids []string
	kept := 0
	for _, s := range full.ListInstances(oracle.ListFilter{}) {
		ids = append(ids, s.InstanceID)
		if int64(s.UpdatedAt) >= cutoff.UnixMilli() {
			kept++
		}
	}
	if kept == 0 || kept == len(ids) {
		t.Fatalf("%d of %d instances kept: the workload does not exercise the retention", kept, len(ids))
	}
	if s, ok := full.Instance(reopened); !ok || int64(s.CreatedAt) >= cutoff.UnixMilli() || int64(s.UpdatedAt) < cutoff.UnixMilli() {
		t.Fatalf("reopened instance %s: %+v, %v", reopened, s, ok)
	}
	wantAnswers := managementAnswers(t, want, ids)
	var count api.InstanceCount
	if err := json.Unmarshal([]byte(wantAnswers["count"]), &count); err != nil || count.Count != int64(kept) {
		t.Fatalf("the oracle's retained count %s, want %d", wantAnswers["count"], kept)
	}
	sameAnswers(t, "before the drop", managementAnswers(t, r, ids), wantAnswers)

	reportQ := query.TimeseriesQuery{Bucket: "day", FromMs: time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		ToMs: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), GroupBy: "orchestration"}
	reportBefore := timeseriesJSON(t, r, reportQ)
	if reportBefore != timeseriesJSON(t, oracle.NewReadModel(all, nil), reportQ) {
		t.Fatal("the report differs from the oracle's before any drop")
	}

	dropped, err := d.w.DropExpired(ctx, chwrite.Cutoffs{Management: cutoff})
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) == 0 {
		t.Fatal("nothing dropped")
	}
	for _, tb := range []string{"instances", "executions", "activities", "pending_work", "activity_stats_facts"} {
		for _, p := range partitionsOf(t, d, tb) {
			if p < "202603" {
				t.Errorf("%s still has month %s", tb, p)
			}
		}
	}
	hist := partitionsOf(t, d, "history_v3")
	if !slices.Contains(hist, "202512") || slices.Contains(hist, "202510") || slices.Contains(hist, "202511") {
		t.Errorf("history months after the drop: %v; want 202512 (the reopened instance's) kept, 202510 and 202511 dropped", hist)
	}
	if !slices.Contains(partitionsOf(t, d, "report_instance_cells"), "202510") {
		t.Error("the report cells of October 2025 were dropped without a report retention")
	}
	sameAnswers(t, "after the drop", managementAnswers(t, r, ids), wantAnswers)
	if got := timeseriesJSON(t, r, reportQ); got != reportBefore {
		t.Errorf("the report changed with the management drop:\n got %s\nwant %s", got, reportBefore)
	}
	// Without a retention, the dropped instances are gone and the rest is
	// whole; only the activity stats differ: their per-hour cells are not
	// partitioned and stay (the retention cuts since instead).
	plain, err := NewReader(d.conn, ReaderConfig{Database: d.name})
	if err != nil {
		t.Fatal(err)
	}
	plainAnswers := managementAnswers(t, plain, ids)
	delete(plainAnswers, "activity stats")
	wantPlain := maps.Clone(wantAnswers)
	delete(wantPlain, "activity stats")
	sameAnswers(t, "after the drop, read without a retention", plainAnswers, wantPlain)

	// Running it again drops nothing more; a report retention of 30 days
	// drops the report months before May 2026.
	if again, err := d.w.DropExpired(ctx, chwrite.Cutoffs{Management: cutoff}); err != nil || len(again) != 0 {
		t.Errorf("second run: dropped %v, %v", again, err)
	}
	if _, err := d.w.DropExpired(ctx, chwrite.Cutoffs{Reports: retentionNow.Add(-30 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []string{"report_instance_cells", "report_activity_cells", "report_instance_facts_v3", "report_activity_facts_v3"} {
		for _, p := range partitionsOf(t, d, tb) {
			if p < "202605" {
				t.Errorf("%s still has month %s after the report retention", tb, p)
			}
		}
	}
	old := reportQ
	old.ToMs = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	if got := timeseriesJSON(t, r, old); got != "[]" {
		t.Errorf("report of 2025 after the report retention: %s, want none", got)
	}
}

func timeseriesJSON(t *testing.T, rm query.ReadModel, q query.TimeseriesQuery) string {
	t.Helper()
	rows := []api.ReportRow{}
	if err := rm.Timeseries(context.Background(), q, func(r api.ReportRow) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatalf("timeseries %+v: %v", q, err)
	}
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInstanceTablesPartitioned: after the migrations every table the
// management retention drops from is partitioned (migration 0005's swap).
func TestInstanceTablesPartitioned(t *testing.T) {
	d := qTestDB(t, nil)
	for _, tb := range []string{"instances", "executions", "activities", "pending_work", "history_v3", "notices"} {
		var key string
		if err := d.conn.QueryRow(context.Background(), "SELECT partition_key FROM system.tables WHERE database = ? AND name = ?",
			d.name, tb).Scan(&key); err != nil {
			t.Fatal(err)
		}
		if key == "" {
			t.Errorf("%s is not partitioned after the migrations", tb)
		}
	}
}
