package chread

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/readmodel/reportcells"
)

// Timeseries answers GET /v1/reports/timeseries: emit is called for every
// non-empty (bucket, group), ordered by bucket start, then group. Rows are
// read from ClickHouse as a stream, so emit can write them out as they come.
func (r *Reader) Timeseries(ctx context.Context, q query.TimeseriesQuery, emit func(api.ReportRow) error) error {
	if _, ok := query.BucketSize(q.Bucket); !ok || q.FromMs >= q.ToMs {
		return fmt.Errorf("timeseries: bucket %q over [%d, %d): not a valid report range", q.Bucket, q.FromMs, q.ToMs)
	}
	if q.GroupBy == api.GroupByActivity {
		if q.Bucket == api.BucketMinute {
			return r.activityMinutes(ctx, q, emit)
		}
		return r.activityCells(ctx, q, emit)
	}
	if q.Bucket == api.BucketMinute {
		return r.instanceMinutes(ctx, q, emit)
	}
	return r.instanceCells(ctx, q, emit)
}

// grainOf is the cell grain a bucket is read from.
func grainOf(bucket string) int64 {
	if bucket == api.BucketHour {
		return reportcells.GrainHourMs
	}
	return reportcells.GrainDayMs
}

// reportData is the template data of the timeseries statements
// (sql/timeseries_*.sql): the grouping and which filters are present.
type reportData struct {
	DB                      string
	ByVersion, ByStatus     bool
	Orchestration, Activity bool
	Statuses, IncludeSystem bool
}

// reportOf returns the template data and the arguments of q: the bucket
// (size and offset, the "bucket" fragment), the range and the filters.
func (r *Reader) reportOf(q query.TimeseriesQuery) (reportData, []any) {
	size, _ := query.BucketSize(q.Bucket)
	d := reportData{
		DB:        r.db,
		ByVersion: q.GroupBy == api.GroupByVersion, ByStatus: q.GroupBy == api.GroupByStatus,
		Orchestration: q.Orchestration != "", Activity: q.Activity != "",
		Statuses: len(q.Statuses) > 0, IncludeSystem: q.IncludeSystem,
	}
	args := []any{
		clickhouse.Named("bucket_size", size), clickhouse.Named("bucket_offset", query.BucketOffset(q.Bucket)),
		clickhouse.Named("grain_ms", uint32(grainOf(q.Bucket))),
		clickhouse.Named("from", q.FromMs), clickhouse.Named("to", q.ToMs),
		clickhouse.Named("from_hour", reportcells.FloorTo(q.FromMs, reportcells.GrainHourMs)),
		clickhouse.Named("orchestration", q.Orchestration), clickhouse.Named("activity", q.Activity),
	}
	if d.Statuses {
		args = append(args, clickhouse.Named("statuses", inList(q.Statuses)))
	}
	return d, args
}

// statusSet says which instance statuses a report keeps.
type statusSet struct{ running, completed, failed bool }

func statusesOf(list []string) statusSet {
	if len(list) == 0 {
		return statusSet{true, true, true}
	}
	var s statusSet
	for _, st := range list {
		switch st {
		case api.StatusRunning:
			s.running = true
		case api.StatusCompleted:
			s.completed = true
		case api.StatusFailed:
			s.failed = true
		}
	}
	return s
}

// finishRow fills the derived fields of a row from its duration sum and
// count.
func finishRow(row *api.ReportRow, sum int64, n uint64) {
	if d := row.Completed + row.Failed; d > 0 {
		row.FailureRate = float64(row.Failed) / float64(d)
	}
	if n > 0 {
		row.AvgDurationMs = reportcells.FloorDiv(sum, n)
	}
}

// instanceCells reads hour or day cells (weeks from day cells). The cells
// come ordered by (bucket, group) and consecutive cells of one (bucket,
// group) are merged here: merging sorted histograms in Go is linear, while
// ClickHouse 18.16's sumMap was the dominant cost of the query (measured:
// 0.7 s CPU for 90 days of hour cells).
func (r *Reader) instanceCells(ctx context.Context, q query.TimeseriesQuery, emit func(api.ReportRow) error) error {
	data, args := r.reportOf(q)
	keep := statusesOf(q.Statuses)
	var (
		acc  instanceGroup
		have bool
		cell instanceGroup
	)
	err := r.query(ctx, r.reportOpts(ctx), "instance timeseries", "timeseries_instance_cells.sql", data, args, func(rows driver.Rows) error {
		cell = instanceGroup{}
		if err := rows.Scan(&cell.bucket, &cell.group, &cell.started, &cell.completed, &cell.failed, &cell.sumC, &cell.sumF,
			&cell.histC.Bins, &cell.histC.Counts, &cell.histF.Bins, &cell.histF.Counts); err != nil {
			return err
		}
		if have && (cell.bucket != acc.bucket || cell.group != acc.group) {
			if err := acc.emit(q.GroupBy, keep, emit); err != nil {
				return err
			}
			have = false
		}
		if !have {
			acc, have = cell, true
			// The scanned slices are reused by the next Scan: own them.
			acc.histC = reportcells.Histogram{}
			acc.histF = reportcells.Histogram{}
		} else {
			acc.started += cell.started
			acc.completed += cell.completed
			acc.failed += cell.failed
			acc.sumC += cell.sumC
			acc.sumF += cell.sumF
		}
		acc.histC.Add(cell.histC.Bins, cell.histC.Counts)
		acc.histF.Add(cell.histF.Bins, cell.histF.Counts)
		return nil
	})
	if err != nil || !have {
		return err
	}
	return acc.emit(q.GroupBy, keep, emit)
}

// instanceGroup is the sum of the cells of one (bucket, group).
type instanceGroup struct {
	bucket                     int64
	group                      string
	started, completed, failed uint64
	sumC, sumF                 int64
	histC, histF               reportcells.Histogram
}

// emit writes the group's row(s): one per status kept for group_by=status,
// else one with the kept statuses' counts and durations.
func (g *instanceGroup) emit(groupBy string, keep statusSet, emit func(api.ReportRow) error) error {
	running := g.started - g.completed - g.failed
	if groupBy == api.GroupByStatus {
		// One row per status kept, alphabetically.
		parts := []struct {
			keep bool
			name string
			n    uint64
			sum  int64
			h    *reportcells.Histogram
		}{
			{keep.completed, api.StatusCompleted, g.completed, g.sumC, &g.histC},
			{keep.failed, api.StatusFailed, g.failed, g.sumF, &g.histF},
			{keep.running, api.StatusRunning, running, 0, &reportcells.Histogram{}},
		}
		for _, p := range parts {
			if !p.keep || p.n == 0 {
				continue
			}
			row := api.ReportRow{BucketStart: api.Time(g.bucket), Group: p.name, Started: p.n}
			var timed uint64
			switch p.name {
			case api.StatusCompleted:
				row.Completed, timed = p.n, p.n
			case api.StatusFailed:
				row.Failed, timed = p.n, p.n
			default:
				row.Running = p.n
			}
			finishRow(&row, p.sum, timed)
			row.P50DurationMs, row.P95DurationMs, row.P99DurationMs = p.h.Percentiles()
			if err := emit(row); err != nil {
				return err
			}
		}
		return nil
	}
	row := api.ReportRow{BucketStart: api.Time(g.bucket), Group: g.group}
	var (
		sum int64
		h   reportcells.Histogram
	)
	if keep.running {
		row.Running = running
	}
	if keep.completed {
		row.Completed, sum = g.completed, sum+g.sumC
		h.Add(g.histC.Bins, g.histC.Counts)
	}
	if keep.failed {
		row.Failed, sum = g.failed, sum+g.sumF
		h.Add(g.histF.Bins, g.histF.Counts)
	}
	row.Started = row.Running + row.Completed + row.Failed
	if row.Started == 0 {
		return nil
	}
	finishRow(&row, sum, row.Completed+row.Failed)
	row.P50DurationMs, row.P95DurationMs, row.P99DurationMs = h.Percentiles()
	return emit(row)
}

// instanceMinutes reads the facts (minute buckets): exact percentiles.
func (r *Reader) instanceMinutes(ctx context.Context, q query.TimeseriesQuery, emit func(api.ReportRow) error) error {
	data, args := r.reportOf(q)
	return r.query(ctx, r.reportOpts(ctx), "instance timeseries (minutes)", "timeseries_instance_facts.sql", data, args, func(rows driver.Rows) error {
		var (
			row api.ReportRow
			b   int64
			sum int64
			qs  []int64
		)
		if err := rows.Scan(&b, &row.Group, &row.Started, &row.Running, &row.Completed, &row.Failed, &sum, &qs); err != nil {
			return err
		}
		row.BucketStart = api.Time(b)
		finishRow(&row, sum, row.Completed+row.Failed)
		if row.Completed+row.Failed > 0 {
			row.P50DurationMs, row.P95DurationMs, row.P99DurationMs = quantiles(qs)
		}
		return emit(row)
	})
}

func (r *Reader) activityCells(ctx context.Context, q query.TimeseriesQuery, emit func(api.ReportRow) error) error {
	data, args := r.reportOf(q)
	var (
		acc  api.ReportRow
		sum  int64
		h    reportcells.Histogram
		have bool
	)
	flush := func() error {
		acc.Running = acc.Started - acc.Completed - acc.Failed - acc.Cancelled
		finishRow(&acc, sum, acc.Completed+acc.Failed)
		acc.P50DurationMs, acc.P95DurationMs, acc.P99DurationMs = h.Percentiles()
		return emit(acc)
	}
	err := r.query(ctx, r.reportOpts(ctx), "activity timeseries", "timeseries_activity_cells.sql", data, args, func(rows driver.Rows) error {
		var (
			cell api.ReportRow
			b    int64
			s    int64
			ch   reportcells.Histogram
		)
		if err := rows.Scan(&b, &cell.Group, &cell.Started, &cell.Completed, &cell.Failed, &cell.Cancelled, &s, &ch.Bins, &ch.Counts); err != nil {
			return err
		}
		cell.BucketStart = api.Time(b)
		if have && (cell.BucketStart != acc.BucketStart || cell.Group != acc.Group) {
			if err := flush(); err != nil {
				return err
			}
			have = false
		}
		if !have {
			acc, sum, h, have = cell, 0, reportcells.Histogram{}, true
		} else {
			acc.Started += cell.Started
			acc.Completed += cell.Completed
			acc.Failed += cell.Failed
			acc.Cancelled += cell.Cancelled
		}
		sum += s
		h.Add(ch.Bins, ch.Counts)
		return nil
	})
	if err != nil || !have {
		return err
	}
	return flush()
}

func (r *Reader) activityMinutes(ctx context.Context, q query.TimeseriesQuery, emit func(api.ReportRow) error) error {
	data, args := r.reportOf(q)
	return r.query(ctx, r.reportOpts(ctx), "activity timeseries (minutes)", "timeseries_activity_facts.sql", data, args, func(rows driver.Rows) error {
		var (
			row api.ReportRow
			b   int64
			sum int64
			qs  []int64
		)
		if err := rows.Scan(&b, &row.Group, &row.Started, &row.Completed, &row.Failed, &row.Cancelled, &sum, &qs); err != nil {
			return err
		}
		row.BucketStart = api.Time(b)
		row.Running = row.Started - row.Completed - row.Failed - row.Cancelled
		finishRow(&row, sum, row.Completed+row.Failed)
		if row.Completed+row.Failed > 0 {
			row.P50DurationMs, row.P95DurationMs, row.P99DurationMs = quantiles(qs)
		}
		return emit(row)
	})
}
