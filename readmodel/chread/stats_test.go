package chread

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/reportcells"
)

// qPercentile is the contract's rule: sort ascending, take the value at
// index ⌊q·n⌋ clamped to n−1, with q as the exact fraction num/100.
func qPercentile(sorted []int64, num int) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := num * len(sorted) / 100
	if i > len(sorted)-1 {
		i = len(sorted) - 1
	}
	return sorted[i]
}

// TestQuantilesExactFollowsContract checks that ClickHouse's quantilesExact
// (which the stats queries use) picks exactly the contract's element for
// every n up to 300 and some larger ones, with negative values and ties.
func TestQuantilesExactFollowsContract(t *testing.T) {
	d := qTestDB(t, nil)
	ctx := context.Background()
	rng := rand.New(rand.NewSource(7))
	sizes := []int{}
	for n := 1; n <= 300; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 1000, 2000, 4999, 10000)
	for _, n := range sizes {
		vals := make([]int64, n)
		for i := range vals {
			vals[i] = rng.Int63n(2000) - 300
		}
		// Every third set has distinct values, so that picking a neighbour
		// of the right index cannot go unnoticed; the others have ties.
		if n%3 == 0 {
			for i := range vals {
				vals[i] = int64(i*7 - 50)
			}
			rng.Shuffle(n, func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
		}
		var got []int64
		levels, err := statements.Render("quantile_levels", nil)
		if err != nil {
			t.Fatal(err)
		}
		err = d.conn.QueryRow(ctx, `SELECT quantilesExact(`+levels+`)(x) FROM (SELECT arrayJoin(CAST(? AS Array(Int64))) AS x)`, vals).Scan(&got)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		s := slices.Clone(vals)
		slices.Sort(s)
		want := []int64{qPercentile(s, 50), qPercentile(s, 95), qPercentile(s, 99)}
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: quantilesExact = %v, contract = %v", n, got, want)
		}
	}
}

// TestStatsPercentilesAndAverages goes through ActivityStats and Performance
// with known sets: n=3, n=4, n=100, negative durations (clock skew) whose
// average must be floored, not truncated.
func TestStatsPercentilesAndAverages(t *testing.T) {
	d := qTestDB(t, nil)
	ctx := context.Background()
	var rows []projection.Rows
	add := func(orch, act string, durations []int64, outcome string, system bool) {
		for i, dur := range durations {
			id := fmt.Sprintf("%s-%s-%d", orch, act, i)
			r := qInst(id, 3, "Completed", 1000, 1000+dur)
			r.Instance.OrchestrationName = orch
			r.Activities = []projection.ActivityRow{{InstanceID: id, ExecutionID: 1, EventID: 2, ActivityName: act,
				OrchestrationName: orch, IsSystem: system, ScheduledAtMs: 1000 + int64(i), Outcome: outcome,
				OutcomeAtMs: projection.OptInt{Value: 1000 + dur, Valid: true},
				DurationMs:  projection.OptInt{Value: dur, Valid: outcome == "Completed" || outcome == "Failed"}}}
			rows = append(rows, r)
		}
	}
	add("O3", "A3", []int64{30, 10, 20}, "Completed", false)
	add("O4", "A4", []int64{4, 1, 3, 2}, "Failed", false)
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(100 - i) // 1..100
	}
	add("O100", "A100", hundred, "Completed", false)
	add("ON", "AN", []int64{-3, -2}, "Completed", false)
	add("OC", "AC", []int64{5, 6}, "Cancelled", false)
	add("OS", "__duroxide_syscall:x", []int64{1}, "Completed", true)
	d.write(t, rows...)

	as, err := d.r.ActivityStats(ctx, query.ActivityFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []api.ActivityStats{
		{ActivityName: "A100", TotalScheduled: 100, TotalCompleted: 100, AvgDurationMs: 50, P50DurationMs: 51, P95DurationMs: 96, P99DurationMs: 100},
		{ActivityName: "A3", TotalScheduled: 3, TotalCompleted: 3, AvgDurationMs: 20, P50DurationMs: 20, P95DurationMs: 30, P99DurationMs: 30},
		{ActivityName: "A4", TotalScheduled: 4, TotalFailed: 4, AvgDurationMs: 2, P50DurationMs: 3, P95DurationMs: 4, P99DurationMs: 4, FailureRate: 1},
		{ActivityName: "AC", TotalScheduled: 2, TotalCancelled: 2},
		{ActivityName: "AN", TotalScheduled: 2, TotalCompleted: 2, AvgDurationMs: -3, P50DurationMs: -2, P95DurationMs: -2, P99DurationMs: -2},
	}
	qSameJSON(t, "activity stats", as.Activities, want)

	perf, err := d.r.Performance(ctx, query.PerformanceFilter{Orchestration: "O100"})
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "performance O100", perf, api.PerformanceMetrics{Count: 100, AvgDurationMs: 50, MinDurationMs: 1,
		MaxDurationMs: 100, P50DurationMs: 51, P95DurationMs: 96, P99DurationMs: 100})
	perf, err = d.r.Performance(ctx, query.PerformanceFilter{Orchestration: "ON"})
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "performance ON", perf, api.PerformanceMetrics{Count: 2, AvgDurationMs: -3, MinDurationMs: -3,
		MaxDurationMs: -2, P50DurationMs: -2, P95DurationMs: -2, P99DurationMs: -2})
	perf, err = d.r.Performance(ctx, query.PerformanceFilter{Orchestration: "nothing"})
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "performance of nothing", perf, api.PerformanceMetrics{})
	// since on created_at (all were created at 1000).
	perf, err = d.r.Performance(ctx, query.PerformanceFilter{Orchestration: "O3", Since: qPtr[int64](1001)})
	if err != nil || perf.Count != 0 {
		t.Errorf("performance since 1001 = %+v, %v; want none", perf, err)
	}
	perf, err = d.r.Performance(ctx, query.PerformanceFilter{Orchestration: "O3", Since: qPtr[int64](1000)})
	if err != nil || perf.Count != 3 {
		t.Errorf("performance since 1000 = %+v, %v; want 3", perf, err)
	}
	// since on the activity's scheduled time, >=: A3 was scheduled at 1000, 1001, 1002.
	as, err = d.r.ActivityStats(ctx, query.ActivityFilter{Orchestration: "O3", Since: qPtr[int64](1001)})
	if err != nil || len(as.Activities) != 1 || as.Activities[0].TotalScheduled != 2 {
		t.Errorf("activity stats since 1001 = %+v, %v; want A3 with 2", as, err)
	}
	as, err = d.r.ActivityStats(ctx, query.ActivityFilter{Orchestration: "OS", IncludeSystem: true})
	if err != nil || len(as.Activities) != 1 || as.Activities[0].ActivityName != "__duroxide_syscall:x" {
		t.Errorf("activity stats with system = %+v, %v", as, err)
	}
	as, err = d.r.ActivityStats(ctx, query.ActivityFilter{Orchestration: "none"})
	if err != nil || as.Activities == nil || len(as.Activities) != 0 {
		t.Errorf("activity stats of nothing = %#v, %v; want an empty list", as, err)
	}
}

// TestHealthProblemsQueues checks the time rules of /v1/health and
// /v1/problems at their boundaries and the queue metrics.
func TestHealthProblemsQueues(t *testing.T) {
	d := qTestDB(t, nil)
	ctx := context.Background()
	now := time.UnixMilli(100_000_000)
	nowMs := now.UnixMilli()
	h := time.Hour.Milliseconds()
	var rows []projection.Rows
	mk := func(id, status string, created, updated int64, pend uint32) {
		r := qInst(id, 2, status, created, updated)
		r.Instance.PendingActivities, r.Instance.PendingTimers = pend, 2*pend
		r.Instance.PendingEvents, r.Instance.PendingSubOrchestrations = 3*pend, 4*pend
		rows = append(rows, r)
	}
	// long_running_after = 24h: created strictly before now−24h.
	mk("lr-1", "Running", nowMs-24*h-1, nowMs-5, 1)
	mk("lr-2", "Running", nowMs-30*h, nowMs-2*h, 1)
	mk("not-lr", "Running", nowMs-24*h, nowMs, 1) // exactly at the cutoff: not long-running
	// stuck_after = 1h: updated strictly before now−1h, and not long-running.
	mk("stuck-1", "Running", nowMs-2*h, nowMs-h-1, 1)
	mk("stuck-2", "Running", nowMs-3*h, nowMs-2*h, 1)
	mk("not-stuck", "Running", nowMs-2*h, nowMs-h, 1)
	// recent failures (window 24h in problems, 1h in health): updated >= now−window.
	mk("fail-new", "Failed", nowMs-3*h, nowMs-h, 9)
	mk("fail-edge", "Failed", nowMs-30*h, nowMs-24*h, 9)
	mk("fail-old", "Failed", nowMs-30*h, nowMs-24*h-1, 9)
	mk("done", "Completed", nowMs-3*h, nowMs-3*h, 9)
	d.write(t, rows...)

	hl, err := d.r.Health(ctx, query.HealthParams{Now: now, LongRunningAfter: 24 * time.Hour, RecentFailureWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// completed 1 − failed 3 < 0 → 0.
	qSameJSON(t, "health", hl, api.SystemHealth{TotalInstances: 10, RunningInstances: 6, CompletedInstances: 1,
		FailedInstances: 3, LongRunningInstances: 2, RecentFailures: 1, HealthScore: 0})

	p, err := d.r.Problems(ctx, query.ProblemsParams{Now: now, LongRunningAfter: 24 * time.Hour, StuckAfter: time.Hour,
		RecentFailureWindow: 24 * time.Hour, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(s []api.InstanceSummary) []string {
		out := []string{}
		for _, x := range s {
			out = append(out, x.InstanceID)
		}
		return out
	}
	qSameJSON(t, "long_running", ids(p.LongRunning), []string{"lr-1", "lr-2"})
	qSameJSON(t, "potentially_stuck", ids(p.PotentiallyStuck), []string{"stuck-1", "stuck-2"})
	qSameJSON(t, "recent_failures", ids(p.RecentFailures), []string{"fail-new", "fail-edge"})
	p, err = d.r.Problems(ctx, query.ProblemsParams{Now: now, LongRunningAfter: 24 * time.Hour, StuckAfter: time.Hour,
		RecentFailureWindow: 24 * time.Hour, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "problems limit 1", [][]string{ids(p.LongRunning), ids(p.PotentiallyStuck), ids(p.RecentFailures)},
		[][]string{{"lr-1"}, {"stuck-1"}, {"fail-new"}})

	// Sub-millisecond cutoffs: now−d = x.5 ms; created x ms is before it.
	hl, err = d.r.Health(ctx, query.HealthParams{Now: now.Add(500 * time.Microsecond), LongRunningAfter: 24 * time.Hour, RecentFailureWindow: time.Hour})
	if err != nil || hl.LongRunningInstances != 3 {
		t.Errorf("health at now+0.5ms: long running %d, %v; want 3 (not-lr created before now+0.5ms−24h)", hl.LongRunningInstances, err)
	}

	q, err := d.r.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "queues without snapshot", q, api.QueueMetrics{PendingActivities: 6, PendingTimers: 12, PendingEvents: 18, PendingSubOrchestrations: 24})
	d.exec(t, `INSERT INTO {db}.queue_snapshots (timestamp_ms, orchestrator_queue, worker_queue, timer_queue)
		SELECT 5, 50, 51, 52 UNION ALL SELECT 7, 1, 9, 0 UNION ALL SELECT 7, 2, 3, 0 UNION ALL SELECT 6, 60, 61, 62`)
	q, err = d.r.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "queues", q, api.QueueMetrics{PendingActivities: 6, PendingTimers: 12, PendingEvents: 18, PendingSubOrchestrations: 24,
		OrchestratorQueueDepth: 2, ActivityQueueDepth: 3})
}

func TestHealthScoreAndHelpers(t *testing.T) {
	for _, c := range []struct {
		c, f, total uint64
		want        int64
	}{{0, 0, 0, 0}, {1, 0, 1, 100}, {2, 1, 3, 33}, {1, 1, 2, 0}, {1, 2, 3, 0}, {2, 0, 3, 66}, {0, 0, 5, 0}} {
		if got := healthScore(c.c, c.f, c.total); got != c.want {
			t.Errorf("healthScore(%d,%d,%d) = %d, want %d", c.c, c.f, c.total, got, c.want)
		}
	}
	for _, c := range []struct {
		a    int64
		b    uint64
		want int64
	}{{7, 2, 3}, {-7, 2, -4}, {-6, 2, -3}, {0, 3, 0}, {5, 0, 0}, {-1, 3, -1}} {
		if got := reportcells.FloorDiv(c.a, c.b); got != c.want {
			t.Errorf("reportcells.FloorDiv(%d,%d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	now := time.UnixMilli(1000).Add(300 * time.Microsecond)
	if got := cutoffMs(now, 0); got != 1001 {
		t.Errorf("cutoffMs(1000.3ms, 0) = %d, want 1001", got)
	}
	if got := cutoffMs(time.UnixMilli(1000), time.Second); got != 0 {
		t.Errorf("cutoffMs(1000ms, 1s) = %d, want 0", got)
	}
	if got := cutoffMs(time.UnixMilli(0), 500*time.Microsecond); got != 0 {
		t.Errorf("cutoffMs(0, 0.5ms) = %d, want 0 (−0.5 rounds up)", got)
	}
}
