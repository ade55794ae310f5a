package chread

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/readmodel/chconn"
)

func TestShardsOfCoverTheKeySpaceOnce(t *testing.T) {
	if got, args := shardsOf(nil); len(got) != 1 || got[0] != (shard{}) || len(args) != 0 {
		t.Fatalf("no boundaries: %+v %v, want one unrestricted shard", got, args)
	}
	got, args := shardsOf([]string{"b", "m"})
	want := []shard{{Hi: "shard_bound_0"}, {Lo: "shard_bound_0", Hi: "shard_bound_1"}, {Lo: "shard_bound_1"}}
	qSameJSON(t, "shards", got, want)
	qSameJSON(t, "args", args, []any{clickhouse.Named("shard_bound_0", "b"), clickhouse.Named("shard_bound_1", "m")})
	var conds []string
	for _, s := range got {
		q, err := statements.Render("queues_pending.sql", scanData{DB: "db", Shards: []shard{s}})
		if err != nil {
			t.Fatal(err)
		}
		conds = append(conds, q[strings.Index(q, "FINAL")+len("FINAL"):strings.Index(q, ")\n\tWHERE status")])
	}
	wantConds := []string{" WHERE instance_id < @shard_bound_0",
		" WHERE instance_id >= @shard_bound_0 AND instance_id < @shard_bound_1", " WHERE instance_id >= @shard_bound_1"}
	qSameJSON(t, "shard conditions", conds, wantConds)
	q, err := statements.Render("queues_pending.sql", scanData{DB: "db", Shards: got})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(q, "UNION ALL"); n != 2 {
		t.Errorf("three shards joined by %d UNION ALL:\n%s", n, q)
	}
	q, err = statements.Render("queues_pending.sql", scanData{DB: "db", Shards: []shard{{}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(q, "UNION") || strings.Contains(q, "@shard") || !strings.Contains(q, "FROM db.instances FINAL )") {
		t.Errorf("unrestricted shard:\n%s", q)
	}
}

// TestShardedScansEqualUnsharded answers every scan query over a read model
// holding stale versions (merges stopped), split into five shards and not
// split at all: the answers must be identical.
func TestShardedScansEqualUnsharded(t *testing.T) {
	d := qTestDB(t, nil)
	d.stopMerges(t)
	const nowMs = 1764115200000 + 3*3_600_000
	var half, full []events.Event
	for h := range gen.Histories(gen.Config{Seed: 9, Instances: 1500, SpreadMs: 3 * 3_600_000, NowMs: nowMs, RunningFraction: 0.3}) {
		half = append(half, h[:(len(h)+1)/2]...)
		full = append(full, h...)
	}
	d.project(t, half) // older versions, left unmerged next to the newer ones
	d.project(t, full)

	sharded, err := NewReader(d.r.conn, ReaderConfig{Database: d.name, ScanShards: 5})
	if err != nil {
		t.Fatal(err)
	}
	sharded.shardOpts.minRows = 1 // split even this small table
	ctx := context.Background()
	if b := sharded.shardBounds(ctx); len(b) < 3 {
		t.Fatalf("sharded reader split into %d boundaries, want 4", len(b))
	}
	if b := d.r.shardBounds(ctx); len(b) != 0 {
		t.Fatalf("default reader split its scans: %v", b)
	}
	// The parallel-final path's SQL (never split, whatever ScanShards says)
	// runs on 18.16 too.
	parallel, err := NewReader(d.r.conn, ReaderConfig{Database: d.name, ScanShards: 5,
		Features: &chconn.Features{ParallelFinal: true}})
	if err != nil {
		t.Fatal(err)
	}
	parallel.shardOpts.minRows = 1
	if s, _ := parallel.scanShards(ctx); len(s) != 1 {
		t.Fatalf("parallel-final reader split its scans into %d shards", len(s))
	}
	auto, err := NewReader(d.r.conn, ReaderConfig{Database: d.name, ScanShards: -1})
	if err != nil {
		t.Fatal(err)
	}
	if b := auto.shardBounds(ctx); len(b) != 0 {
		t.Fatalf("automatic sharding split a table of %d instances (below %d): %v", 1500, defaultShardOpts.minRows, b)
	}
	now := time.UnixMilli(nowMs)
	since := int64(nowMs - 3_600_000)
	for _, c := range []struct {
		name string
		call func(r *Reader) (any, error)
	}{
		{"orchestration stats", func(r *Reader) (any, error) { return r.OrchestrationStats(ctx, "") }},
		{"orchestration stats of one", func(r *Reader) (any, error) { return r.OrchestrationStats(ctx, "ProcessOrder") }},
		{"activity stats", func(r *Reader) (any, error) { return r.ActivityStats(ctx, query.ActivityFilter{}) }},
		{"activity stats filtered", func(r *Reader) (any, error) {
			return r.ActivityStats(ctx, query.ActivityFilter{Orchestration: "ProcessOrder", Since: &since, IncludeSystem: true})
		}},
		{"performance", func(r *Reader) (any, error) {
			return r.Performance(ctx, query.PerformanceFilter{Orchestration: "ProcessOrder"})
		}},
		{"performance since", func(r *Reader) (any, error) {
			return r.Performance(ctx, query.PerformanceFilter{Orchestration: "ProcessOrder", Since: &since})
		}},
		{"performance of none", func(r *Reader) (any, error) {
			return r.Performance(ctx, query.PerformanceFilter{Orchestration: "Nothing"})
		}},
		{"health", func(r *Reader) (any, error) {
			return r.Health(ctx, query.HealthParams{Now: now, LongRunningAfter: time.Hour, RecentFailureWindow: time.Hour})
		}},
		{"problems", func(r *Reader) (any, error) {
			return r.Problems(ctx, query.ProblemsParams{Now: now, LongRunningAfter: 2 * time.Hour, StuckAfter: 10 * time.Minute,
				RecentFailureWindow: time.Hour, Limit: 7})
		}},
		{"queues", func(r *Reader) (any, error) { return r.Queues(ctx) }},
		{"count", func(r *Reader) (any, error) { return r.CountInstances(ctx, query.ListFilter{}, "") }},
		{"count by status, filtered", func(r *Reader) (any, error) {
			return r.CountInstances(ctx, query.ListFilter{Orchestration: "ProcessOrder", CreatedAfter: &since}, query.GroupByStatus)
		}},
		{"count by orchestration, activity tag", func(r *Reader) (any, error) {
			return r.CountInstances(ctx, query.ListFilter{ActivityTag: "gpu"}, query.GroupByOrchestration)
		}},
		{"list first page", func(r *Reader) (any, error) { return r.ListInstances(ctx, query.ListFilter{Limit: 50}) }},
		{"list offset", func(r *Reader) (any, error) { return r.ListInstances(ctx, query.ListFilter{Limit: 20, Offset: 700}) }},
		{"list filtered", func(r *Reader) (any, error) {
			return r.ListInstances(ctx, query.ListFilter{Limit: 30, Statuses: []string{"Running", "Failed"}, Orchestration: "ProcessOrder", CreatedAfter: &since})
		}},
		{"list prefix", func(r *Reader) (any, error) {
			return r.ListInstances(ctx, query.ListFilter{Limit: 40, InstancePrefix: "order-1"})
		}},
		{"list children", func(r *Reader) (any, error) {
			return r.ListInstances(ctx, query.ListFilter{Limit: 40, ParentInstance: "batch-12"})
		}},
		{"list after cursor", func(r *Reader) (any, error) {
			return r.ListInstances(ctx, query.ListFilter{Limit: 25, After: &query.PageCursor{CreatedAtMs: nowMs - 5_000_000, InstanceID: "m"}})
		}},
	} {
		want, err := c.call(d.r)
		if err != nil {
			t.Fatalf("%s unsharded: %v", c.name, err)
		}
		got, err := c.call(sharded)
		if err != nil {
			t.Fatalf("%s sharded: %v", c.name, err)
		}
		qSameJSON(t, c.name, got, want)
		got, err = c.call(parallel)
		if err != nil {
			t.Fatalf("%s parallel-final: %v", c.name, err)
		}
		qSameJSON(t, c.name+" (parallel-final)", got, want)
	}
	// The comparison means something only if the answers are not empty.
	st, _ := d.r.OrchestrationStats(ctx, "")
	h, _ := d.r.Health(ctx, query.HealthParams{Now: now, LongRunningAfter: time.Hour, RecentFailureWindow: time.Hour})
	if st.RunningCount == 0 || st.CompletedCount == 0 || st.FailedCount == 0 || h.LongRunningInstances == 0 || h.RecentFailures == 0 {
		t.Fatalf("degenerate data set: %+v %+v", st, h)
	}
}

// TestParseMaxThreads covers the forms system.settings answers: 18.16
// says a number, current servers "auto(N)" (the sharded scans failed on
// them before this parser, issue 10).
func TestParseMaxThreads(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		err  bool
	}{
		{"8", 8, false}, {"auto(2)", 2, false}, {"'auto(16)'", 16, false}, {" 4 ", 4, false},
		{"auto", 0, true}, {"auto(x)", 0, true}, {"", 0, true}, {"0", 0, true}, {"auto(2", 0, true},
	} {
		got, err := parseMaxThreads(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseMaxThreads(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestProblemsTopIsExact picks the problem lists from the top of the raw
// table and from the FINAL scan over instances with unmerged older
// versions in other categories, for several cutoffs and limits: whenever
// the top is conclusive its picks must equal the scan's.
func TestProblemsTopIsExact(t *testing.T) {
	d := qTestDB(t, nil)
	d.stopMerges(t)
	const nowMs = 1764115200000 + 3*3_600_000
	var half, full []events.Event
	for h := range gen.Histories(gen.Config{Seed: 21, Instances: 1500, SpreadMs: 3 * 3_600_000, NowMs: nowMs, RunningFraction: 0.4}) {
		half = append(half, h[:(len(h)+1)/2]...)
		full = append(full, h...)
	}
	d.project(t, half)
	d.project(t, full)
	ctx := context.Background()
	used := map[bool]int{}
	for _, long := range []time.Duration{30 * time.Minute, 2 * time.Hour, 5 * time.Hour} {
		for _, stuck := range []time.Duration{time.Minute, 20 * time.Minute} {
			for _, limit := range []int{1, 7, 100, 1000} {
				p := query.ProblemsParams{Now: time.UnixMilli(nowMs), LongRunningAfter: long, StuckAfter: stuck,
					RecentFailureWindow: 90 * time.Minute, Limit: limit}
				top, ok, err := d.r.problemsTop(ctx, limit, problemCutoffs(p), 0, false)
				if err != nil {
					t.Fatal(err)
				}
				used[ok]++
				if !ok {
					continue
				}
				scan, err := d.r.problemsScan(ctx, limit, problemCutoffs(p), 0, false)
				if err != nil {
					t.Fatal(err)
				}
				if len(scan) == 0 {
					t.Fatalf("long %v stuck %v limit %d: no problem at all; the case shows nothing", long, stuck, limit)
				}
				if !reflect.DeepEqual(top, scan) {
					t.Errorf("long %v stuck %v limit %d: top picks differ from the scan's:\n top  %v\n scan %v", long, stuck, limit, top, scan)
				}
			}
		}
	}
	if used[true] == 0 {
		t.Errorf("the top was never conclusive: %v", used)
	}
	t.Logf("problem lists from the top: %d, inconclusive: %d", used[true], used[false])
}
