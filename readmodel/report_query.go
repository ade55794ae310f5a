package readmodel

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
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
		return grainHourMs
	}
	return grainDayMs
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
		row.AvgDurationMs = floorDiv(sum, n)
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
			&cell.histC.bins, &cell.histC.counts, &cell.histF.bins, &cell.histF.counts); err != nil {
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
			acc.histC = histogram{}
			acc.histF = histogram{}
		} else {
			acc.started += cell.started
			acc.completed += cell.completed
			acc.failed += cell.failed
			acc.sumC += cell.sumC
			acc.sumF += cell.sumF
		}
		acc.histC.add(cell.histC.bins, cell.histC.counts)
		acc.histF.add(cell.histF.bins, cell.histF.counts)
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
	histC, histF               histogram
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
			h    *histogram
		}{
			{keep.completed, api.StatusCompleted, g.completed, g.sumC, &g.histC},
			{keep.failed, api.StatusFailed, g.failed, g.sumF, &g.histF},
			{keep.running, api.StatusRunning, running, 0, &histogram{}},
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
			row.P50DurationMs, row.P95DurationMs, row.P99DurationMs = p.h.percentiles()
			if err := emit(row); err != nil {
				return err
			}
		}
		return nil
	}
	row := api.ReportRow{BucketStart: api.Time(g.bucket), Group: g.group}
	var (
		sum int64
		h   histogram
	)
	if keep.running {
		row.Running = running
	}
	if keep.completed {
		row.Completed, sum = g.completed, sum+g.sumC
		h.add(g.histC.bins, g.histC.counts)
	}
	if keep.failed {
		row.Failed, sum = g.failed, sum+g.sumF
		h.add(g.histF.bins, g.histF.counts)
	}
	row.Started = row.Running + row.Completed + row.Failed
	if row.Started == 0 {
		return nil
	}
	finishRow(&row, sum, row.Completed+row.Failed)
	row.P50DurationMs, row.P95DurationMs, row.P99DurationMs = h.percentiles()
	return emit(row)
}

// instanceMinutes reads the facts (minute buckets): exact percentiles.
func (r *Reader) instanceMinutes(ctx context.Context, q query.TimeseriesQuery, emit func(api.ReportRow) error) error {
	inner := []string{"hour_ms >= ?", "hour_ms < ?"}
	args := []any{floorTo(q.FromMs, grainHourMs), q.ToMs}
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
		h    histogram
		have bool
	)
	flush := func() error {
		acc.Running = acc.Started - acc.Completed - acc.Failed - acc.Cancelled
		finishRow(&acc, sum, acc.Completed+acc.Failed)
		acc.P50DurationMs, acc.P95DurationMs, acc.P99DurationMs = h.percentiles()
		return emit(acc)
	}
	err := r.query(ctx, queryOpts{scan: true}, "activity timeseries", sql, args, func(rows driver.Rows) error {
		var (
			cell api.ReportRow
			b    int64
			s    int64
			ch   histogram
		)
		if err := rows.Scan(&b, &cell.Group, &cell.Started, &cell.Completed, &cell.Failed, &cell.Cancelled, &s, &ch.bins, &ch.counts); err != nil {
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
			acc, sum, h, have = cell, 0, histogram{}, true
		} else {
			acc.Started += cell.Started
			acc.Completed += cell.Completed
			acc.Failed += cell.Failed
			acc.Cancelled += cell.Cancelled
		}
		sum += s
		h.add(ch.bins, ch.counts)
		return nil
	})
	if err != nil || !have {
		return err
	}
	return flush()
}

func (r *Reader) activityMinutes(ctx context.Context, q query.TimeseriesQuery, emit func(api.ReportRow) error) error {
	inner := []string{"hour_ms >= ?", "hour_ms < ?"}
	args := []any{floorTo(q.FromMs, grainHourMs), q.ToMs}
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

// cellRange is the condition selecting [from, to) (whole hours) from a cell
// table: whole days from the day cells, the hours before the first and after
// the last whole day from the hour cells.
func cellRange(from, to int64) (string, []any) {
	firstDay := floorTo(from+grainDayMs-1, grainDayMs)
	lastDay := floorTo(to, grainDayMs)
	if firstDay >= lastDay {
		return "(grain_ms = 3600000 AND bucket_ms >= ? AND bucket_ms < ?)", []any{from, to}
	}
	return `((grain_ms = 86400000 AND bucket_ms >= ? AND bucket_ms < ?)
			OR (grain_ms = 3600000 AND ((bucket_ms >= ? AND bucket_ms < ?) OR (bucket_ms >= ? AND bucket_ms < ?))))`,
		[]any{firstDay, lastDay, from, firstDay, lastDay, to}
}

// Errors answers GET /v1/reports/errors.
func (r *Reader) Errors(ctx context.Context, q query.ErrorsQuery) (api.ErrorsReport, error) {
	if q.FromMs >= q.ToMs || q.FromMs%grainHourMs != 0 || q.ToMs%grainHourMs != 0 || q.Limit <= 0 {
		return api.ErrorsReport{}, fmt.Errorf("errors report: [%d, %d) limit %d: want whole hours and a positive limit", q.FromMs, q.ToMs, q.Limit)
	}
	out := api.ErrorsReport{From: api.Time(q.FromMs), To: api.Time(q.ToMs),
		Orchestrations: []api.ErrorGroup{}, Activities: []api.ErrorGroup{}}
	rng, rargs := cellRange(q.FromMs, q.ToMs)

	inner, args := []string{rng}, append([]any(nil), rargs...)
	if q.Orchestration != "" {
		inner = append(inner, "orchestration_name = ?")
		args = append(args, q.Orchestration)
	}
	orchs, err := r.errorGroups(ctx, "report_instance_cells", "orchestration_name", inner, nil, args, q.Limit)
	if err != nil {
		return api.ErrorsReport{}, err
	}
	out.Orchestrations = orchs

	inner, args = []string{rng}, append([]any(nil), rargs...)
	fi, fa, outer := activityFilters(query.TimeseriesQuery{Activity: q.Activity, Orchestration: q.Orchestration, IncludeSystem: q.IncludeSystem})
	inner = append(inner, fi...)
	args = append(args, fa...)
	acts, err := r.errorGroups(ctx, "report_activity_cells", "activity_name", inner, outer, args, q.Limit)
	if err != nil {
		return api.ErrorsReport{}, err
	}
	out.Activities = acts
	return out, nil
}

// errorGroups reads the failures per name (the failed counter) and the top
// errors of each from a cell table.
func (r *Reader) errorGroups(ctx context.Context, table, nameCol string, inner, outer []string, args []any, limit int) ([]api.ErrorGroup, error) {
	cols := nameCol + ", failed, err_category, err_kind, err_message, err_count"
	if nameCol == "activity_name" {
		cols += ", is_system"
	}
	from := `(SELECT ` + cols + ` FROM {db}.` + table + ` FINAL WHERE ` + strings.Join(inner, " AND ") + `)`
	if len(outer) > 0 {
		from = `(SELECT * FROM ` + from + ` WHERE ` + strings.Join(outer, " AND ") + `)`
	}
	var groups []api.ErrorGroup
	index := map[string]int{}
	err := r.query(ctx, queryOpts{scan: true}, "failures per "+nameCol,
		`SELECT `+nameCol+`, sum(failed) AS f FROM `+from+` GROUP BY `+nameCol+` HAVING f > 0 ORDER BY `+nameCol,
		args, func(rows driver.Rows) error {
			var g api.ErrorGroup
			if err := rows.Scan(&g.Name, &g.Failed); err != nil {
				return err
			}
			g.Errors = []api.ErrorCount{}
			index[g.Name] = len(groups)
			groups = append(groups, g)
			return nil
		})
	if err != nil || len(groups) == 0 {
		return []api.ErrorGroup{}, err
	}
	err = r.query(ctx, queryOpts{scan: true}, "errors per "+nameCol,
		`SELECT `+nameCol+`, c, k, m, sum(n) AS cnt FROM `+from+`
		ARRAY JOIN err_category AS c, err_kind AS k, err_message AS m, err_count AS n
		GROUP BY `+nameCol+`, c, k, m
		ORDER BY `+nameCol+`, cnt DESC, c, k, m
		LIMIT ? BY `+nameCol, append(append([]any(nil), args...), limit), func(rows driver.Rows) error {
			var (
				name string
				e    api.ErrorCount
			)
			if err := rows.Scan(&name, &e.Category, &e.Kind, &e.Message, &e.Count); err != nil {
				return err
			}
			if i, ok := index[name]; ok {
				groups[i].Errors = append(groups[i].Errors, e)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return groups, nil
}
