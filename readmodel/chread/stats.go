package chread

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/readmodel/reportcells"
)

// Percentiles (the quantile_levels fragment, sql/fragments.sql):
// ClickHouse's quantilesExact sorts the values and takes the one at index
// ⌊q·n⌋ (n−1 for q = 1), which is the contract's rule exactly; the float
// product q·n cannot round across an integer for these levels because their
// decimal→binary error is below half an ulp
// (TestQuantilesExactFollowsContract checks it against a reference).

// quantiles unpacks quantilesExact's array (zeros for an empty set).
func quantiles(q []int64) (p50, p95, p99 int64) {
	if len(q) != 3 {
		return 0, 0, 0
	}
	return q[0], q[1], q[2]
}

// OrchestrationStats answers GET /v1/stats/orchestrations; orchestration ""
// counts every instance.
func (r *Reader) OrchestrationStats(ctx context.Context, orchestration string) (api.OrchestrationStats, error) {
	sd, args := r.scan(ctx)
	data := struct {
		scanData
		Orchestration bool
	}{sd, orchestration != ""}
	args = append(args, clickhouse.Named("orchestration", orchestration))
	var s api.OrchestrationStats
	err := r.query(ctx, r.scanOpts(), "orchestration stats", "stats_orchestrations.sql", data, args, func(rows driver.Rows) error {
		return rows.Scan(&s.TotalCount, &s.RunningCount, &s.CompletedCount, &s.FailedCount, &s.ContinuedCount)
	})
	return s, err
}

// ActivityStats answers GET /v1/stats/activities, sorted by activity name.
// Durations (avg, percentiles) cover Completed and Failed activities only;
// avg = ⌊sum/n⌋ in integers.
//
// It reads the activity stats pre-aggregate (migration 0004,
// docs/activity-stats.md): first the stale cells (touched by writes their
// newest recount did not cover), then the value -> count pairs of every
// other cell and the facts of the stale ones, so the answer is exact while
// recounts lag. With Since, the cells of the whole hours from Since on and
// the facts of the hour that holds it.
func (r *Reader) ActivityStats(ctx context.Context, f query.ActivityFilter) (api.ActivityStatsList, error) {
	f.Since = r.retainSince(f.Since)
	data := struct {
		DB                                               string
		Orchestration, Since, Edge, Dirty, IncludeSystem bool
	}{DB: r.db, Orchestration: f.Orchestration != "", Since: f.Since != nil, IncludeSystem: f.IncludeSystem}
	args := []any{clickhouse.Named("orchestration", f.Orchestration)}
	if f.Since != nil {
		edge := reportcells.StatsHour(*f.Since)
		whole := edge
		if edge != *f.Since {
			data.Edge, whole = true, edge+reportcells.GrainHourMs
		}
		args = append(args, clickhouse.Named("since", *f.Since), clickhouse.Named("edge", edge), clickhouse.Named("whole_from", whole))
	}
	dirty, err := r.dirtyStatsCells(ctx, data.Since, args)
	if err != nil {
		return api.ActivityStatsList{}, err
	}
	opts := r.scanOpts()
	if dirty != nil {
		data.Dirty, opts.external = true, []*ext.Table{dirty}
	}
	out := api.ActivityStatsList{Activities: []api.ActivityStats{}}
	err = r.query(ctx, opts, "activity stats", "stats_activities.sql", data, args, func(rows driver.Rows) error {
		var (
			s   api.ActivityStats
			sum int64
			n   uint64
			qs  []int64
		)
		if err := rows.Scan(&s.ActivityName, &s.TotalScheduled, &s.TotalCompleted, &s.TotalFailed,
			&s.TotalCancelled, &sum, &n, &qs); err != nil {
			return err
		}
		if n > 0 {
			s.AvgDurationMs = reportcells.FloorDiv(sum, n)
			s.P50DurationMs, s.P95DurationMs, s.P99DurationMs = quantiles(qs)
		}
		if d := s.TotalCompleted + s.TotalFailed; d > 0 {
			s.FailureRate = float64(s.TotalFailed) / float64(d)
		}
		out.Activities = append(out.Activities, s)
		return nil
	})
	if err != nil {
		return api.ActivityStatsList{}, err
	}
	return out, nil
}

// dirtyStatsCells returns the stale activity stats cells (from the hour
// holding since when since), as the external table _dirty (hour_ms,
// activity_name), or nil when there are none.
func (r *Reader) dirtyStatsCells(ctx context.Context, since bool, args []any) (*ext.Table, error) {
	var t *ext.Table
	err := r.query(ctx, queryOpts{}, "activity stats cells to read from facts", "stats_activities_dirty.sql",
		struct {
			DB    string
			Since bool
		}{r.db, since}, args, func(rows driver.Rows) error {
			var (
				hour int64
				name string
			)
			if err := rows.Scan(&hour, &name); err != nil {
				return err
			}
			if t == nil {
				var err error
				if t, err = ext.NewTable("_dirty", ext.Column("hour_ms", "Int64"), ext.Column("activity_name", "String")); err != nil {
					return err
				}
			}
			return t.Append(hour, name)
		})
	return t, err
}

// Performance answers GET /v1/stats/performance: the durations of Completed
// and Failed instances of one orchestration.
func (r *Reader) Performance(ctx context.Context, f query.PerformanceFilter) (api.PerformanceMetrics, error) {
	sd, args := r.scan(ctx)
	data := struct {
		scanData
		Since bool
	}{sd, f.Since != nil}
	args = append(args, clickhouse.Named("orchestration", f.Orchestration))
	if f.Since != nil {
		args = append(args, clickhouse.Named("since", *f.Since))
	}
	var m api.PerformanceMetrics
	err := r.query(ctx, r.scanOpts(), "performance metrics", "stats_performance.sql", data, args, func(rows driver.Rows) error {
		var (
			sum, lo, hi int64
			qs          []int64
		)
		if err := rows.Scan(&m.Count, &sum, &lo, &hi, &qs); err != nil {
			return err
		}
		if m.Count > 0 {
			m.AvgDurationMs = reportcells.FloorDiv(sum, m.Count)
			m.MinDurationMs, m.MaxDurationMs = lo, hi
			m.P50DurationMs, m.P95DurationMs, m.P99DurationMs = quantiles(qs)
		}
		return nil
	})
	if err != nil {
		return api.PerformanceMetrics{}, err
	}
	return m, nil
}

// cutoffMs converts the instant now−d to the epoch-ms threshold for integer
// timestamps: for an integer ts, ts < T ⟺ ts < ⌈T⌉ and ts >= T ⟺ ts >= ⌈T⌉.
func cutoffMs(now time.Time, d time.Duration) int64 {
	t := now.Add(-d)
	ms := t.UnixMilli()
	if t.Sub(time.UnixMilli(ms)) > 0 {
		ms++
	}
	return ms
}

// Health answers GET /v1/health. health_score = max(0, ⌊100·(completed −
// failed)/total⌋), 0 without instances.
func (r *Reader) Health(ctx context.Context, p query.HealthParams) (api.SystemHealth, error) {
	data, args := r.scan(ctx)
	args = append(args, clickhouse.Named("long_running_before", cutoffMs(p.Now, p.LongRunningAfter)),
		clickhouse.Named("recent_failure_since", cutoffMs(p.Now, p.RecentFailureWindow)))
	var h api.SystemHealth
	err := r.query(ctx, r.scanOpts(), "system health", "health.sql", data, args, func(rows driver.Rows) error {
		return rows.Scan(&h.TotalInstances, &h.RunningInstances, &h.CompletedInstances, &h.FailedInstances,
			&h.LongRunningInstances, &h.RecentFailures)
	})
	if err != nil {
		return api.SystemHealth{}, err
	}
	h.HealthScore = healthScore(h.CompletedInstances, h.FailedInstances, h.TotalInstances)
	return h, nil
}

func healthScore(completed, failed, total uint64) int64 {
	if total == 0 || completed <= failed {
		return 0
	}
	// completed − failed ≤ total, so 100·(completed − failed) cannot overflow
	// for any realistic count (< 1.8e17 instances).
	return int64(100 * (completed - failed) / total)
}

// Problems answers GET /v1/problems: four lists, each newest updated_at
// first (then instance_id), at most Limit long. The first three are picked
// from the top of the raw table (problemsTop) or, when that is
// inconclusive, from a FINAL scan that categorizes every instance (the
// categories exclude each other) and keeps the first Limit of each (LIMIT n
// BY); slower_than_usual, a different population (per-orchestration p99),
// is picked by its own query (drilldown.go) and may overlap them; a last
// query reads the chosen rows in full.
func (r *Reader) Problems(ctx context.Context, p query.ProblemsParams) (api.ProblematicInstances, error) {
	if p.Limit <= 0 {
		return api.ProblematicInstances{}, fmt.Errorf("problems: limit %d: must be positive", p.Limit)
	}
	cutoffs := problemCutoffs(p)
	from, retain := r.retainFrom()
	picks, ok, err := r.problemsTop(ctx, p.Limit, cutoffs, from, retain)
	if err != nil {
		return api.ProblematicInstances{}, err
	}
	if !ok {
		if picks, err = r.problemsScan(ctx, p.Limit, cutoffs, from, retain); err != nil {
			return api.ProblematicInstances{}, err
		}
	}
	slower, err := r.slowerPicks(ctx, p, from, retain)
	if err != nil {
		return api.ProblematicInstances{}, err
	}
	picks = append(picks, slower...)
	sums, err := r.rowsAt(ctx, picks)
	if err != nil {
		return api.ProblematicInstances{}, err
	}
	byID := make(map[string]api.InstanceSummary, len(sums))
	for _, s := range sums {
		byID[s.InstanceID] = s
	}
	out := api.ProblematicInstances{
		LongRunning:      []api.InstanceSummary{},
		PotentiallyStuck: []api.InstanceSummary{},
		RecentFailures:   []api.InstanceSummary{},
		SlowerThanUsual:  []api.InstanceSummary{},
	}
	for _, x := range picks {
		s, ok := byID[x.id]
		if !ok {
			continue
		}
		switch x.cat {
		case 1:
			out.LongRunning = append(out.LongRunning, s)
		case 2:
			out.PotentiallyStuck = append(out.PotentiallyStuck, s)
		case 3:
			out.RecentFailures = append(out.RecentFailures, s)
		case catSlower:
			out.SlowerThanUsual = append(out.SlowerThanUsual, s)
		}
	}
	return out, nil
}

// problemCutoffs binds the category cutoffs of p (problem_cat).
func problemCutoffs(p query.ProblemsParams) []any {
	return []any{clickhouse.Named("long_running_before", cutoffMs(p.Now, p.LongRunningAfter)),
		clickhouse.Named("stuck_before", cutoffMs(p.Now, p.StuckAfter)),
		clickhouse.Named("recent_failure_since", cutoffMs(p.Now, p.RecentFailureWindow))}
}

// problemsScan picks the problem lists from a FINAL scan of every instance
// (problems.sql): the fallback of problemsTop.
func (r *Reader) problemsScan(ctx context.Context, limit int, cutoffs []any, from int64, retain bool) ([]pick, error) {
	data, args := r.scanRetained(ctx, from, retain)
	args = append(append(args, cutoffs...), clickhouse.Named("limit", limit))
	var picks []pick
	err := r.query(ctx, r.scanOpts(), "problems", "problems.sql", data, args, func(rows driver.Rows) error {
		var x pick
		if err := rows.Scan(&x.id, &x.version, &x.created, &x.cat); err != nil {
			return err
		}
		picks = append(picks, x)
		return nil
	})
	return picks, err
}

// Queues answers GET /v1/queues: the pending counters of Running instances
// and the newest queue-depth snapshot (highest timestamp_ms; ties broken by
// the largest values, docs/semantics.md rule 11).
func (r *Reader) Queues(ctx context.Context) (api.QueueMetrics, error) {
	var m api.QueueMetrics
	data, args := r.scan(ctx)
	err := r.query(ctx, r.scanOpts(), "pending work totals", "queues_pending.sql", data, args, func(rows driver.Rows) error {
		return rows.Scan(&m.PendingActivities, &m.PendingTimers, &m.PendingEvents, &m.PendingSubOrchestrations)
	})
	if err != nil {
		return api.QueueMetrics{}, err
	}
	err = r.query(ctx, queryOpts{}, "newest queue snapshot", "queues_snapshot.sql", dbData{r.db}, nil, func(rows driver.Rows) error {
		return rows.Scan(&m.OrchestratorQueueDepth, &m.ActivityQueueDepth)
	})
	if err != nil {
		return api.QueueMetrics{}, err
	}
	return m, nil
}
