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

// errorsData is the template data of errors_failures.sql and
// errors_top.sql: the instance cells, or with Activities the activity cells;
// WholeDays when [from, to) holds a whole day (read from the day cells).
type errorsData struct {
	DB                                     string
	Activities, WholeDays                  bool
	Orchestration, Activity, IncludeSystem bool
}

// Errors answers GET /v1/reports/errors.
func (r *Reader) Errors(ctx context.Context, q query.ErrorsQuery) (api.ErrorsReport, error) {
	if q.FromMs >= q.ToMs || q.FromMs%reportcells.GrainHourMs != 0 || q.ToMs%reportcells.GrainHourMs != 0 || q.Limit <= 0 {
		return api.ErrorsReport{}, fmt.Errorf("errors report: [%d, %d) limit %d: want whole hours and a positive limit", q.FromMs, q.ToMs, q.Limit)
	}
	out := api.ErrorsReport{From: api.Time(q.FromMs), To: api.Time(q.ToMs),
		Orchestrations: []api.ErrorGroup{}, Activities: []api.ErrorGroup{}}
	// Whole days come from the day cells, the hours before the first and
	// after the last whole day from the hour cells.
	firstDay := reportcells.FloorTo(q.FromMs+reportcells.GrainDayMs-1, reportcells.GrainDayMs)
	lastDay := reportcells.FloorTo(q.ToMs, reportcells.GrainDayMs)
	data := errorsData{DB: r.db, WholeDays: firstDay < lastDay, Orchestration: q.Orchestration != ""}
	args := []any{clickhouse.Named("from", q.FromMs), clickhouse.Named("to", q.ToMs),
		clickhouse.Named("first_day", firstDay), clickhouse.Named("last_day", lastDay),
		clickhouse.Named("orchestration", q.Orchestration), clickhouse.Named("activity", q.Activity),
		clickhouse.Named("limit", q.Limit)}
	orchs, err := r.errorGroups(ctx, data, args)
	if err != nil {
		return api.ErrorsReport{}, err
	}
	out.Orchestrations = orchs

	data.Activities, data.Activity, data.IncludeSystem = true, q.Activity != "", q.IncludeSystem
	acts, err := r.errorGroups(ctx, data, args)
	if err != nil {
		return api.ErrorsReport{}, err
	}
	out.Activities = acts
	return out, nil
}

// errorGroups reads the failures per name (the failed counter) and the top
// errors of each from a cell table.
func (r *Reader) errorGroups(ctx context.Context, data errorsData, args []any) ([]api.ErrorGroup, error) {
	what := "orchestration"
	if data.Activities {
		what = "activity"
	}
	var groups []api.ErrorGroup
	index := map[string]int{}
	err := r.query(ctx, r.reportOpts(ctx), "failures per "+what, "errors_failures.sql", data, args, func(rows driver.Rows) error {
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
	err = r.query(ctx, r.reportOpts(ctx), "errors per "+what, "errors_top.sql", data, args, func(rows driver.Rows) error {
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
