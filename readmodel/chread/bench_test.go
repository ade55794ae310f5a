package chread

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/projection"
)

// BenchmarkReader measures every query shape over a read model of
// DUROSCOPE_BENCH_INSTANCES instances (default 20000), each written in two
// versions (merges stopped, the worst case for deduplication) with two
// activities and a pending work item.
func BenchmarkReader(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("DUROSCOPE_BENCH_INSTANCES")); err == nil && v > 0 {
		n = v
	}
	d := qTestDB(b, nil)
	d.stopMerges(b)
	statuses := []string{"Running", "Completed", "Failed"}
	for _, version := range []uint64{1, 2} {
		for start := 0; start < n; start += 5000 {
			var rows []projection.Rows
			for i := start; i < start+5000 && i < n; i++ {
				id := fmt.Sprintf("bench-%07d", i)
				st := statuses[(i+int(version))%3]
				r := qInst(id, version, st, int64(1_000_000+i), int64(2_000_000+i))
				r.Instance.OrchestrationName = fmt.Sprintf("Orch%d", i%10)
				for a := uint64(2); a <= 3; a++ {
					r.Activities = append(r.Activities, projection.ActivityRow{InstanceID: id, ExecutionID: 1, EventID: a,
						ActivityName: fmt.Sprintf("Act%d", i%20), OrchestrationName: r.Instance.OrchestrationName,
						ScheduledAtMs: int64(1_000_000 + i), Outcome: "Completed",
						OutcomeAtMs: projection.OptInt{Value: int64(1_000_100 + i), Valid: true},
						DurationMs:  projection.OptInt{Value: int64(i % 1000), Valid: true}})
				}
				r.Work = []projection.WorkRow{{InstanceID: id, ExecutionID: 1, Kind: projection.KindTimer, CorrelationID: 4,
					Pending: st == "Running", ScheduledAtMs: 1_000_000, FireAtMs: 2_000_000, DelayMs: 1_000_000}}
				rows = append(rows, r)
			}
			d.write(b, rows...)
		}
	}
	ctx := context.Background()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%07d", i*7%n)
	}
	deep, err := d.r.ListInstances(ctx, query.ListFilter{Limit: 1000, Offset: n / 2})
	if err != nil || deep.NextPageToken == nil {
		b.Fatalf("deep page: %v", err)
	}
	cur, _ := query.DecodePageToken(*deep.NextPageToken)
	now := time.UnixMilli(3_000_000)
	for _, c := range []struct {
		name string
		fn   func() error
	}{
		{"Instance", func() error { _, _, err := d.r.Instance(ctx, "bench-0000042"); return err }},
		{"Details", func() error { _, _, err := d.r.Details(ctx, "bench-0000042"); return err }},
		{"History", func() error { _, _, err := d.r.History(ctx, "bench-0000042", query.HistoryRange{}); return err }},
		{"ListFirstPage100", func() error { _, err := d.r.ListInstances(ctx, query.ListFilter{Limit: 100}); return err }},
		{"ListRunningOrch", func() error {
			_, err := d.r.ListInstances(ctx, query.ListFilter{Limit: 100, Statuses: []string{"Running"}, Orchestration: "Orch3"})
			return err
		}},
		{"ListPrefix", func() error {
			_, err := d.r.ListInstances(ctx, query.ListFilter{Limit: 100, InstancePrefix: "bench-00001"})
			return err
		}},
		{"ListCursorMiddle", func() error { _, err := d.r.ListInstances(ctx, query.ListFilter{Limit: 100, After: &cur}); return err }},
		{"BulkStatus1000", func() error { _, err := d.r.BulkStatus(ctx, ids); return err }},
		{"OrchestrationStats", func() error { _, err := d.r.OrchestrationStats(ctx, ""); return err }},
		{"ActivityStats", func() error { _, err := d.r.ActivityStats(ctx, query.ActivityFilter{}); return err }},
		{"Performance", func() error {
			_, err := d.r.Performance(ctx, query.PerformanceFilter{Orchestration: "Orch1"})
			return err
		}},
		{"Health", func() error {
			_, err := d.r.Health(ctx, query.HealthParams{Now: now, LongRunningAfter: time.Hour, RecentFailureWindow: time.Hour})
			return err
		}},
		{"Problems", func() error {
			_, err := d.r.Problems(ctx, query.ProblemsParams{Now: now, LongRunningAfter: time.Hour, StuckAfter: time.Minute, RecentFailureWindow: time.Hour, Limit: 100})
			return err
		}},
		{"Queues", func() error { _, err := d.r.Queues(ctx); return err }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := c.fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
