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

// cellRange is the condition selecting [from, to) (whole hours) from a cell
// table: whole days from the day cells, the hours before the first and after
// the last whole day from the hour cells.
func cellRange(from, to int64) (string, []any) {
	firstDay := reportcells.FloorTo(from+reportcells.GrainDayMs-1, reportcells.GrainDayMs)
	lastDay := reportcells.FloorTo(to, reportcells.GrainDayMs)
	if firstDay >= lastDay {
		return "(grain_ms = 3600000 AND bucket_ms >= ? AND bucket_ms < ?)", []any{from, to}
	}
	return `((grain_ms = 86400000 AND bucket_ms >= ? AND bucket_ms < ?)
			OR (grain_ms = 3600000 AND ((bucket_ms >= ? AND bucket_ms < ?) OR (bucket_ms >= ? AND bucket_ms < ?))))`,
		[]any{firstDay, lastDay, from, firstDay, lastDay, to}
}

// Errors answers GET /v1/reports/errors.
func (r *Reader) Errors(ctx context.Context, q query.ErrorsQuery) (api.ErrorsReport, error) {
	if q.FromMs >= q.ToMs || q.FromMs%reportcells.GrainHourMs != 0 || q.ToMs%reportcells.GrainHourMs != 0 || q.Limit <= 0 {
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
