package chread

import (
	"context"
	"fmt"
	"strings"

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

// bucketExpr floors the column col to the query's bucket in SQL (col >= 0).
func bucketExpr(q query.TimeseriesQuery, col string) string {
	size, _ := query.BucketSize(q.Bucket)
	off := query.BucketOffset(q.Bucket)
	if off == 0 {
		return fmt.Sprintf("intDiv(%s, %d) * %d", col, size, size)
	}
	return fmt.Sprintf("(intDiv(%s + %d, %d) * %d - %d)", col, off, size, size, off)
}

// instanceGroupExpr is the SQL of an instance report's group.
func instanceGroupExpr(groupBy string) string {
	switch groupBy {
	case api.GroupByVersion:
		return "orchestration_version"
	case api.GroupByStatus:
		return "''" // split by status in Go (cells) or grouped in SQL (facts)
	}
	return "orchestration_name"
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
	inner := []string{"grain_ms = ?", "bucket_ms >= ?", "bucket_ms < ?"}
	args := []any{uint32(grainOf(q.Bucket)), q.FromMs, q.ToMs}
	if q.Orchestration != "" {
		inner = append(inner, "orchestration_name = ?")
		args = append(args, q.Orchestration)
	}
	sql := `SELECT ` + bucketExpr(q, "bucket_ms") + ` AS b, ` + instanceGroupExpr(q.GroupBy) + ` AS g,
			started, completed, failed, sum_completed_ms, sum_failed_ms,
			completed_bins, completed_counts, failed_bins, failed_counts
		FROM (
			SELECT bucket_ms, orchestration_name, orchestration_version, started, completed, failed,
				sum_completed_ms, sum_failed_ms, completed_bins, completed_counts, failed_bins, failed_counts
			FROM {db}.report_instance_cells FINAL
			WHERE ` + strings.Join(inner, " AND ") + `)
		ORDER BY b, g`
	keep := statusesOf(q.Statuses)
	var (
		acc  instanceGroup
		have bool
		cell instanceGroup
	)
	err := r.query(ctx, queryOpts{scan: true}, "instance timeseries", sql, args, func(rows driver.Rows) error {
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
	inner := []string{"hour_ms >= ?", "hour_ms < ?"}
	args := []any{reportcells.FloorTo(q.FromMs, reportcells.GrainHourMs), q.ToMs}
	if q.Orchestration != "" {
		inner = append(inner, "orchestration_name = ?")
		args = append(args, q.Orchestration)
	}
	where := []string{"created_at_ms >= ?", "created_at_ms < ?"}
	args = append(args, q.FromMs, q.ToMs)
	if len(q.Statuses) > 0 {
		where = append(where, "status IN ("+placeholders(len(q.Statuses))+")")
		for _, s := range q.Statuses {
			args = append(args, s)
		}
	}
	g := instanceGroupExpr(q.GroupBy)
	if q.GroupBy == api.GroupByStatus {
		g = "status"
	}
	sql := `SELECT ` + bucketExpr(q, "created_at_ms") + ` AS b, ` + g + ` AS g,
			count(), countIf(status = 'Running'), countIf(status = 'Completed'), countIf(status = 'Failed'),
			sumIf(duration_ms, status IN ('Completed', 'Failed')),
			quantilesExactIf(` + quantileLevels + `)(duration_ms, status IN ('Completed', 'Failed'))
		FROM (
			SELECT created_at_ms, orchestration_name, orchestration_version, status, duration_ms
			FROM {db}.report_instance_facts FINAL
			WHERE ` + strings.Join(inner, " AND ") + `)
		WHERE ` + strings.Join(where, " AND ") + `
		GROUP BY b, g ORDER BY b, g`
	return r.query(ctx, queryOpts{scan: true}, "instance timeseries (minutes)", sql, args, func(rows driver.Rows) error {
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

// activityFilters are the conditions of an activity report: on the cells'
// (or facts') key columns, safe inside FINAL, and is_system, applied after.
func activityFilters(q query.TimeseriesQuery) (inner []string, args []any, outer []string) {
	if q.Activity != "" {
		inner = append(inner, "activity_name = ?")
		args = append(args, q.Activity)
	}
	if q.Orchestration != "" {
		inner = append(inner, "orchestration_name = ?")
		args = append(args, q.Orchestration)
	}
	if !q.IncludeSystem {
		outer = append(outer, "is_system = 0")
	}
	return inner, args, outer
}

func (r *Reader) activityCells(ctx context.Context, q query.TimeseriesQuery, emit func(api.ReportRow) error) error {
	inner := []string{"grain_ms = ?", "bucket_ms >= ?", "bucket_ms < ?"}
	args := []any{uint32(grainOf(q.Bucket)), q.FromMs, q.ToMs}
	fi, fa, outer := activityFilters(q)
	inner = append(inner, fi...)
	args = append(args, fa...)
	sql := `SELECT ` + bucketExpr(q, "bucket_ms") + ` AS b, activity_name,
			started, completed, failed, cancelled, sum_duration_ms, duration_bins, duration_counts
		FROM (
			SELECT bucket_ms, activity_name, is_system, started, completed, failed, cancelled,
				sum_duration_ms, duration_bins, duration_counts
			FROM {db}.report_activity_cells FINAL
			WHERE ` + strings.Join(inner, " AND ") + `)`
	if len(outer) > 0 {
		sql += ` WHERE ` + strings.Join(outer, " AND ")
	}
	sql += ` ORDER BY b, activity_name`
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
	err := r.query(ctx, queryOpts{scan: true}, "activity timeseries", sql, args, func(rows driver.Rows) error {
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
	inner := []string{"hour_ms >= ?", "hour_ms < ?"}
	args := []any{reportcells.FloorTo(q.FromMs, reportcells.GrainHourMs), q.ToMs}
	fi, fa, outer := activityFilters(q)
	inner = append(inner, fi...)
	args = append(args, fa...)
	where := append([]string{"scheduled_at_ms >= ?", "scheduled_at_ms < ?"}, outer...)
	args = append(args, q.FromMs, q.ToMs)
	sql := `SELECT ` + bucketExpr(q, "scheduled_at_ms") + ` AS b, activity_name,
			count(), countIf(outcome = 'Completed'), countIf(outcome = 'Failed'), countIf(outcome = 'Cancelled'),
			sumIf(duration_ms, outcome IN ('Completed', 'Failed')),
			quantilesExactIf(` + quantileLevels + `)(duration_ms, outcome IN ('Completed', 'Failed'))
		FROM (
			SELECT scheduled_at_ms, activity_name, orchestration_name, is_system, outcome, duration_ms
			FROM {db}.report_activity_facts FINAL
			WHERE ` + strings.Join(inner, " AND ") + `)
		WHERE ` + strings.Join(where, " AND ") + `
		GROUP BY b, activity_name ORDER BY b, activity_name`
	return r.query(ctx, queryOpts{scan: true}, "activity timeseries (minutes)", sql, args, func(rows driver.Rows) error {
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
