package chread

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/projection"
)

// BenchmarkReports loads DUROSCOPE_REPORT_BENCH_INSTANCES top-level gen
// instances (default 20000; docs/reports.md used 4000000, i.e. 5.15M
// instances) spread over 90 days through the real chwrite.Writer, in calls of 20000,
// then measures the report queries. The load itself is reported as
// BenchmarkReports/load (instances/s with the report tables written).
//
//	DUROSCOPE_REPORT_BENCH_INSTANCES=4000000 go test -run x -bench Reports -benchtime 5x ./readmodel
func BenchmarkReports(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("DUROSCOPE_REPORT_BENCH_INSTANCES")); err == nil && v > 0 {
		n = v
	}
	d := qTestDB(b, nil)
	ctx := context.Background()
	start := time.Now()
	var rows []projection.Rows
	total := 0
	for h := range gen.Histories(gen.Config{Seed: 42, Instances: n, SpreadMs: 90 * 86400000, RunningFraction: 0.02, Workers: 2}) {
		r, err := projection.Derive(h)
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, r)
		if len(rows) == 20000 {
			d.write(b, rows...)
			total += len(rows)
			rows = rows[:0]
		}
	}
	d.write(b, rows...)
	total += len(rows)
	b.Logf("loaded %d instances in %v (%.0f instances/s, report tables included)",
		total, time.Since(start).Round(time.Second), float64(total)/time.Since(start).Seconds())

	from := gen.DefaultStartMs
	const day = 86400000
	ts := func(bucket, groupBy string, f, t int64) func() error {
		q := query.TimeseriesQuery{Bucket: bucket, GroupBy: groupBy}
		q.FromMs, q.ToMs = query.AlignRange(bucket, f, t)
		return func() error { return d.r.Timeseries(ctx, q, func(api.ReportRow) error { return nil }) }
	}
	for _, c := range []struct {
		name string
		fn   func() error
	}{
		{"90dDayByOrchestration", ts(api.BucketDay, api.GroupByOrchestration, from, from+90*day)},
		{"90dWeekByVersion", ts(api.BucketWeek, api.GroupByVersion, from, from+90*day)},
		{"90dDayByStatus", ts(api.BucketDay, api.GroupByStatus, from, from+90*day)},
		{"90dDayByActivity", ts(api.BucketDay, api.GroupByActivity, from, from+90*day)},
		{"90dHourByOrchestration", ts(api.BucketHour, api.GroupByOrchestration, from, from+90*day)},
		{"1dMinuteByActivity", ts(api.BucketMinute, api.GroupByActivity, from+40*day, from+41*day)},
		{"10000MinutesByOrchestration", ts(api.BucketMinute, api.GroupByOrchestration, from+40*day, from+40*day+10000*60000)},
		{"90dErrors", func() error {
			_, err := d.r.Errors(ctx, query.ErrorsQuery{FromMs: from, ToMs: from + 90*day, Limit: 20})
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := c.fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
