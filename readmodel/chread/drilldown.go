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

// The percentile drill-downs read the very rows the stats aggregate, with
// the same filters, so the drill-down of a shown percentile p (min duration
// p) lists exactly the rows with duration >= p: Performance's instances
// (stats_performance.sql) and ActivityStats' timed facts (the facts the
// activity stats cells are recounted from).

// SlowInstances answers GET /v1/stats/performance/instances: like a list
// page, a first query picks limit+1 ids (with the version it filtered and
// the duration), a second reads their full rows at that version.
func (r *Reader) SlowInstances(ctx context.Context, f query.SlowInstancesFilter) (api.SlowInstanceList, error) {
	if f.Limit <= 0 {
		return api.SlowInstanceList{}, fmt.Errorf("slow instances: limit %d: must be positive", f.Limit)
	}
	sd, args := r.scan(ctx)
	data := struct {
		scanData
		Since, After, Min bool
	}{sd, f.Since != nil, f.After != nil, f.MinDurationMs != nil}
	args = append(args, clickhouse.Named("orchestration", f.Orchestration), clickhouse.Named("limit", f.Limit+1))
	if f.MinDurationMs != nil {
		args = append(args, clickhouse.Named("min_duration", *f.MinDurationMs))
	}
	if f.Since != nil {
		args = append(args, clickhouse.Named("since", *f.Since))
	}
	if f.After != nil {
		args = append(args, clickhouse.Named("after_duration", f.After.DurationMs), clickhouse.Named("after_id", f.After.InstanceID))
	}
	var (
		picks     []pick
		durations []int64
	)
	err := r.query(ctx, r.scanOpts(), "slow instances", "stats_performance_instances.sql", data, args, func(rows driver.Rows) error {
		var (
			p pick
			d int64
		)
		if err := rows.Scan(&p.id, &p.version, &d); err != nil {
			return err
		}
		picks, durations = append(picks, p), append(durations, d)
		return nil
	})
	if err != nil {
		return api.SlowInstanceList{}, err
	}
	out := api.SlowInstanceList{Instances: []api.SlowInstance{}}
	if len(picks) > f.Limit {
		picks, durations = picks[:f.Limit], durations[:f.Limit]
		tok := query.EncodeSlowToken(query.SlowCursor{DurationMs: durations[f.Limit-1], InstanceID: picks[f.Limit-1].id})
		out.NextPageToken = &tok
	}
	sums, err := r.rowsAt(ctx, picks)
	if err != nil {
		return api.SlowInstanceList{}, err
	}
	// rowsAt keeps picks' order and leaves out only ids whose rows vanished
	// meanwhile.
	byID := make(map[string]api.InstanceSummary, len(sums))
	for _, s := range sums {
		byID[s.InstanceID] = s
	}
	for i, p := range picks {
		if s, ok := byID[p.id]; ok {
			out.Instances = append(out.Instances, api.SlowInstance{InstanceSummary: s, DurationMs: durations[i]})
		}
	}
	return out, nil
}

// ActivityCalls answers GET /v1/stats/activities/calls from the activity
// stats facts (migration 0004), newest version of each, live only.
func (r *Reader) ActivityCalls(ctx context.Context, f query.ActivityCallsFilter) (api.ActivityCallList, error) {
	if f.Limit <= 0 {
		return api.ActivityCallList{}, fmt.Errorf("activity calls: limit %d: must be positive", f.Limit)
	}
	f.Since = r.retainSince(f.Since)
	data := struct {
		DB                                              string
		Since, Orchestration, IncludeSystem, After, Min bool
	}{r.db, f.Since != nil, f.Orchestration != "", f.IncludeSystem, f.After != nil, f.MinDurationMs != nil}
	args := []any{clickhouse.Named("activity", f.Activity), clickhouse.Named("limit", f.Limit+1)}
	if f.MinDurationMs != nil {
		args = append(args, clickhouse.Named("min_duration", *f.MinDurationMs))
	}
	if f.Since != nil {
		args = append(args, clickhouse.Named("since", *f.Since), clickhouse.Named("edge", reportcells.StatsHour(*f.Since)))
	}
	if f.Orchestration != "" {
		args = append(args, clickhouse.Named("orchestration", f.Orchestration))
	}
	if c := f.After; c != nil {
		args = append(args, clickhouse.Named("after_duration", c.DurationMs), clickhouse.Named("after_id", c.InstanceID),
			clickhouse.Named("after_execution", c.ExecutionID), clickhouse.Named("after_event", c.EventID))
	}
	out := api.ActivityCallList{Calls: []api.ActivityCall{}}
	err := r.query(ctx, r.reportOpts(ctx), "activity calls", "stats_activity_calls.sql", data, args, func(rows driver.Rows) error {
		c := api.ActivityCall{ActivityName: f.Activity}
		var at int64
		if err := rows.Scan(&c.InstanceID, &c.ExecutionID, &c.CorrelationID, &c.OrchestrationName, &at, &c.Outcome, &c.DurationMs); err != nil {
			return err
		}
		c.ScheduledAt = api.Time(at)
		out.Calls = append(out.Calls, c)
		return nil
	})
	if err != nil {
		return api.ActivityCallList{}, err
	}
	if len(out.Calls) > f.Limit {
		out.Calls = out.Calls[:f.Limit]
		last := out.Calls[f.Limit-1]
		tok := query.EncodeSlowToken(query.SlowCursor{DurationMs: last.DurationMs, InstanceID: last.InstanceID,
			ExecutionID: last.ExecutionID, EventID: last.CorrelationID})
		out.NextPageToken = &tok
	}
	return out, nil
}

// slowerPicks picks /v1/problems' slower_than_usual (problems_slower.sql),
// as picks of category catSlower.
func (r *Reader) slowerPicks(ctx context.Context, p query.ProblemsParams, from int64, retain bool) ([]pick, error) {
	data, args := r.scanRetained(ctx, from, retain)
	args = append(args, clickhouse.Named("now", cutoffMs(p.Now, 0)), clickhouse.Named("limit", p.Limit))
	var picks []pick
	err := r.query(ctx, r.scanOpts(), "slower than usual", "problems_slower.sql", data, args, func(rows driver.Rows) error {
		x := pick{cat: catSlower}
		if err := rows.Scan(&x.id, &x.version, &x.created); err != nil {
			return err
		}
		picks = append(picks, x)
		return nil
	})
	return picks, err
}

// catSlower is the pick category of slower_than_usual (problems.sql has 1..3).
const catSlower = 4
