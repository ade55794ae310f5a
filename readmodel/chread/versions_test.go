package chread

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/projection"
)

// TestReaderSeesOnlyNewestVersion is the ReplacingMergeTree trap: until a
// merge runs, every version of a row is visible, and a query that filters a
// non-key column before deduplicating sees stale rows (an old Running row of
// an instance that has completed). Merges are stopped so both versions stay
// in separate parts; "x" has its newer version written first (out of order),
// "y" its older first. Every answer must reflect only the newest versions.
func TestReaderSeesOnlyNewestVersion(t *testing.T) {
	d := qTestDB(t, nil)
	d.stopMerges(t)
	ctx := context.Background()

	// x: newest (v10) Completed; stale (v4) Running with pending work.
	xNew := qInst("x", 10, "Completed", 1000, 5000)
	xNew.Activities = []projection.ActivityRow{{InstanceID: "x", ExecutionID: 1, EventID: 2, ActivityName: "A",
		OrchestrationName: "Orch", ScheduledAtMs: 1100, Outcome: "Completed",
		OutcomeAtMs: projection.OptInt{Value: 1200, Valid: true}, DurationMs: projection.OptInt{Value: 100, Valid: true}}}
	xNew.Work = []projection.WorkRow{{InstanceID: "x", ExecutionID: 1, Kind: projection.KindTimer, CorrelationID: 3,
		Pending: false, ScheduledAtMs: 1100, FireAtMs: 9000, DelayMs: 7900}}
	xOld := qInst("x", 4, "Running", 1000, 2000)
	xOld.Instance.PendingTimers, xOld.Instance.PendingActivities = 1, 1
	xOld.Activities = []projection.ActivityRow{{InstanceID: "x", ExecutionID: 1, EventID: 2, ActivityName: "A",
		OrchestrationName: "Orch", ScheduledAtMs: 1100, Outcome: "Pending"}}
	xOld.Work = []projection.WorkRow{
		{InstanceID: "x", ExecutionID: 1, Kind: projection.KindTimer, CorrelationID: 3, Pending: true,
			ScheduledAtMs: 1100, FireAtMs: 9000, DelayMs: 7900},
		{InstanceID: "x", ExecutionID: 1, Kind: projection.KindActivity, CorrelationID: 2, Pending: true,
			Name: "A", ScheduledAtMs: 1100},
	}

	// y: newest (v7) Running with one pending activity (a timer that was
	// pending in the stale version has fired); stale (v2) Completed.
	yNew := qInst("y", 7, "Running", 900, 3000)
	yNew.Instance.PendingActivities = 1
	yNew.Work = []projection.WorkRow{
		{InstanceID: "y", ExecutionID: 1, Kind: projection.KindActivity, CorrelationID: 2, Pending: true,
			Name: "B", Input: "in", ScheduledAtMs: 950},
		{InstanceID: "y", ExecutionID: 1, Kind: projection.KindTimer, CorrelationID: 5, Pending: false,
			ScheduledAtMs: 960, FireAtMs: 2960, DelayMs: 2000},
	}
	yOld := qInst("y", 2, "Completed", 900, 1500)
	yOld.Instance.PendingTimers = 1
	yOld.Work = []projection.WorkRow{{InstanceID: "y", ExecutionID: 1, Kind: projection.KindTimer, CorrelationID: 5,
		Pending: true, ScheduledAtMs: 960, FireAtMs: 2960, DelayMs: 2000}}

	d.write(t, xNew)
	d.write(t, yOld)
	d.write(t, xOld)
	d.write(t, yNew)

	// The trap is only a trap while both versions are stored.
	for _, tbl := range []string{"instances", "executions", "pending_work"} {
		var n uint64
		if err := d.conn.QueryRow(ctx, d.sql("SELECT count() FROM {db}."+tbl+" WHERE instance_id = 'x'")).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n < 2 {
			t.Fatalf("%s has %d rows of x; the test needs both versions unmerged", tbl, n)
		}
	}

	sum, _, err := d.r.Instance(ctx, "x")
	if err != nil || sum.Status != "Completed" || sum.UpdatedAt != 5000 {
		t.Errorf("Instance(x) = %+v, %v; want the Completed version", sum, err)
	}
	det, _, err := d.r.Details(ctx, "x")
	if err != nil || det.CurrentExecution != nil || det.Executions[0].Status != "Completed" {
		t.Errorf("Details(x) = %+v, %v; want Completed without current execution", det, err)
	}
	ex, _, err := d.r.Executions(ctx, "x")
	if err != nil || len(ex.Executions) != 1 || ex.Executions[0].Status != "Completed" {
		t.Errorf("Executions(x) = %+v, %v", ex, err)
	}
	det, _, err = d.r.Details(ctx, "y")
	if err != nil {
		t.Fatal(err)
	}
	ce := det.CurrentExecution
	if ce == nil || ce.Status != "Running" || len(ce.PendingActivities) != 1 || ce.PendingActivities[0].Name != "B" ||
		len(ce.PendingTimers) != 0 || len(ce.PendingEvents) != 0 || len(ce.PendingSubOrchestrations) != 0 {
		t.Errorf("Details(y).current_execution = %+v; want one pending activity B and no timer", ce)
	}

	list := func(st ...string) []string {
		t.Helper()
		l, err := d.r.ListInstances(ctx, query.ListFilter{Statuses: st, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range l.Instances {
			ids = append(ids, s.InstanceID+"="+s.Status)
		}
		return ids
	}
	qSameJSON(t, "list Running", list("Running"), []string{"y=Running"})
	qSameJSON(t, "list Completed", list("Completed"), []string{"x=Completed"})
	qSameJSON(t, "list all", list(), []string{"x=Completed", "y=Running"})

	bs, err := d.r.BulkStatus(ctx, []string{"x", "y"})
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "bulk", bs.Statuses, []api.InstanceStatus{{InstanceID: "x", Status: "Completed"}, {InstanceID: "y", Status: "Running"}})

	ost, err := d.r.OrchestrationStats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "orchestration stats", ost, api.OrchestrationStats{TotalCount: 2, RunningCount: 1, CompletedCount: 1})

	now := time.UnixMilli(10_000)
	h, err := d.r.Health(ctx, query.HealthParams{Now: now, LongRunningAfter: time.Second, RecentFailureWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "health", h, api.SystemHealth{TotalInstances: 2, RunningInstances: 1, CompletedInstances: 1,
		LongRunningInstances: 1, HealthScore: 50})

	p, err := d.r.Problems(ctx, query.ProblemsParams{Now: now, LongRunningAfter: time.Second, StuckAfter: time.Second,
		RecentFailureWindow: time.Hour, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.LongRunning) != 1 || p.LongRunning[0].InstanceID != "y" || len(p.PotentiallyStuck) != 0 || len(p.RecentFailures) != 0 {
		t.Errorf("problems = %+v; want only y long-running", p)
	}

	q, err := d.r.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "queues", q, api.QueueMetrics{PendingActivities: 1})

	perf, err := d.r.Performance(ctx, query.PerformanceFilter{Orchestration: "Orch"})
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "performance", perf, api.PerformanceMetrics{Count: 1, AvgDurationMs: 4000, MinDurationMs: 4000,
		MaxDurationMs: 4000, P50DurationMs: 4000, P95DurationMs: 4000, P99DurationMs: 4000})

	as, err := d.r.ActivityStats(ctx, query.ActivityFilter{})
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "activity stats", as.Activities, []api.ActivityStats{{ActivityName: "A", TotalScheduled: 1,
		TotalCompleted: 1, AvgDurationMs: 100, P50DurationMs: 100, P95DurationMs: 100, P99DurationMs: 100}})

	// The drill-downs and slower_than_usual: y's stale Completed version
	// (600 ms) is neither listed nor part of the p99; x's stale Running
	// version is not slower than usual.
	slow, err := d.r.SlowInstances(ctx, query.SlowInstancesFilter{Orchestration: "Orch", Limit: 10})
	if err != nil || len(slow.Instances) != 1 || slow.Instances[0].InstanceID != "x" || slow.Instances[0].DurationMs != 4000 {
		t.Errorf("slow instances = %+v, %v; want x (4000 ms) only", slow, err)
	}
	calls, err := d.r.ActivityCalls(ctx, query.ActivityCallsFilter{Activity: "A", Limit: 10})
	if err != nil || len(calls.Calls) != 1 || calls.Calls[0].DurationMs != 100 {
		t.Errorf("activity calls = %+v, %v; want x's call (100 ms) only", calls, err)
	}
	for _, c := range []struct {
		nowMs int64
		want  int
	}{{900 + 4000, 0}, {900 + 4001, 1}} {
		p, err := d.r.Problems(ctx, query.ProblemsParams{Now: time.UnixMilli(c.nowMs), LongRunningAfter: time.Hour,
			StuckAfter: time.Hour, RecentFailureWindow: time.Hour, Limit: 10})
		if err != nil || len(p.SlowerThanUsual) != c.want || (c.want == 1 && p.SlowerThanUsual[0].InstanceID != "y") {
			t.Errorf("slower than usual at %d (y created at 900, p99 4000) = %+v, %v; want %d (y)", c.nowMs, p.SlowerThanUsual, err, c.want)
		}
	}
}

// TestFinalFilterShape documents why scans filter outside FINAL: on this
// server a PREWHERE on a non-key column runs before FINAL deduplicates (the
// stale Running version of "x" is counted), while the reader's shape (FINAL
// in a subquery, filter outside, push-down and PREWHERE moves off) counts
// only the newest versions.
func TestFinalFilterShape(t *testing.T) {
	d := qTestDB(t, nil)
	d.stopMerges(t)
	d.write(t, qInst("x", 9, "Completed", 1000, 3000), qInst("y", 9, "Running", 1000, 3000))
	d.write(t, qInst("x", 3, "Running", 1000, 2000))
	ctx := context.Background()
	count := func(o queryOpts, q string) uint64 {
		t.Helper()
		var n uint64
		if err := d.r.run(ctx, o, "count", d.sql(q), nil, func(rows driver.Rows) error { return rows.Scan(&n) }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(queryOpts{}, `SELECT count() FROM {db}.instances FINAL PREWHERE status = 'Running'`); n != 2 {
		t.Logf("FINAL PREWHERE counted %d Running instances; this server deduplicates before PREWHERE", n)
	}
	if n := count(queryOpts{scan: true}, `SELECT count() FROM (SELECT status FROM {db}.instances FINAL) WHERE status = 'Running'`); n != 1 {
		t.Errorf("the reader's scan shape counted %d Running instances, want 1", n)
	}
}
