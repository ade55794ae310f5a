package chread

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/readmodel/reportcells"
)

// Percentiles: ClickHouse's quantilesExact sorts the values and takes the one
// at index ⌊q·n⌋ (n−1 for q = 1), which is the contract's rule exactly; the
// float product q·n cannot round across an integer for these levels because
// their decimal→binary error is below half an ulp
// (TestQuantilesExactFollowsContract checks it against a reference).
const quantileLevels = "0.5, 0.95, 0.99"

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
	branch := `SELECT count() AS c, countIf(status = 'Running') AS run, countIf(status = 'Completed') AS done,
			countIf(status = 'Failed') AS failed, countIf(execution_count > 1) AS cont
		FROM (SELECT status, execution_count, orchestration_name FROM {db}.instances FINAL {shard})`
	args := []any{shardArgs{}}
	if orchestration != "" {
		branch += ` WHERE orchestration_name = ?`
		args = append(args, orchestration)
	}
	union, all := unionShards(shardsOf(r.shardBounds(ctx)), branch, args)
	q := `SELECT sum(c), sum(run), sum(done), sum(failed), sum(cont) FROM (` + union + `)`
	var s api.OrchestrationStats
	err := r.query(ctx, queryOpts{scan: true}, "orchestration stats", q, all, func(rows driver.Rows) error {
		return rows.Scan(&s.TotalCount, &s.RunningCount, &s.CompletedCount, &s.FailedCount, &s.ContinuedCount)
	})
	return s, err
}

// ActivityStats answers GET /v1/stats/activities, sorted by activity name.
// Durations (avg, percentiles) cover Completed and Failed activities only;
// avg = ⌊sum/n⌋ in integers.
func (r *Reader) ActivityStats(ctx context.Context, f query.ActivityFilter) (api.ActivityStatsList, error) {
	var (
		where []string
		args  []any
	)
	if f.Orchestration != "" {
		where = append(where, "orchestration_name = ?")
		args = append(args, f.Orchestration)
	}
	if f.Since != nil {
		where = append(where, "scheduled_at_ms >= ?")
		args = append(args, *f.Since)
	}
	if !f.IncludeSystem {
		where = append(where, "is_system = 0")
	}
	branch := `SELECT activity_name AS name, count() AS c,
			countIf(outcome = 'Completed') AS done, countIf(outcome = 'Failed') AS failed, countIf(outcome = 'Cancelled') AS cancelled,
			sumIf(d, timed) AS total, countIf(timed) AS timedN,
			quantilesExactIfState(` + quantileLevels + `)(d, timed) AS qs
		FROM (
			SELECT activity_name, orchestration_name, outcome, ifNull(duration_ms, 0) AS d,
				outcome IN ('Completed', 'Failed') AND isNotNull(duration_ms) AS timed,
				is_system, scheduled_at_ms
			FROM {db}.activities FINAL {shard})`
	if len(where) > 0 {
		branch += " WHERE " + strings.Join(where, " AND ")
	}
	branch += " GROUP BY name"
	union, all := unionShards(shardsOf(r.shardBounds(ctx)), branch, append([]any{shardArgs{}}, args...))
	q := `SELECT name, sum(c), sum(done), sum(failed), sum(cancelled), sum(total), sum(timedN),
			quantilesExactIfMerge(` + quantileLevels + `)(qs)
		FROM (` + union + `) GROUP BY name ORDER BY name`
	out := api.ActivityStatsList{Activities: []api.ActivityStats{}}
	err := r.query(ctx, queryOpts{scan: true}, "activity stats", q, all, func(rows driver.Rows) error {
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

// Performance answers GET /v1/stats/performance: the durations of Completed
// and Failed instances of one orchestration.
func (r *Reader) Performance(ctx context.Context, f query.PerformanceFilter) (api.PerformanceMetrics, error) {
	branch := `SELECT count() AS n, sum(d) AS total, min(d) AS lo, max(d) AS hi,
			quantilesExactState(` + quantileLevels + `)(d) AS qs FROM (
			SELECT assumeNotNull(duration_ms) AS d FROM (
				SELECT status, orchestration_name, created_at_ms, duration_ms FROM {db}.instances FINAL {shard})
			WHERE orchestration_name = ? AND status IN ('Completed', 'Failed') AND isNotNull(duration_ms)`
	args := []any{shardArgs{}, f.Orchestration}
	if f.Since != nil {
		branch += ` AND created_at_ms >= ?`
		args = append(args, *f.Since)
	}
	branch += `)`
	union, all := unionShards(shardsOf(r.shardBounds(ctx)), branch, args)
	// An empty branch reports min = max = 0: only branches with rows count.
	q := `SELECT sum(n), sum(total), minIf(lo, n > 0), maxIf(hi, n > 0),
			quantilesExactMerge(` + quantileLevels + `)(qs) FROM (` + union + `)`
	var m api.PerformanceMetrics
	err := r.query(ctx, queryOpts{scan: true}, "performance metrics", q, all, func(rows driver.Rows) error {
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
	branch := `SELECT count() AS c, countIf(status = 'Running') AS run, countIf(status = 'Completed') AS done,
			countIf(status = 'Failed') AS failed,
			countIf(status = 'Running' AND created_at_ms < ?) AS long, countIf(status = 'Failed' AND updated_at_ms >= ?) AS recent
		FROM (SELECT status, created_at_ms, updated_at_ms FROM {db}.instances FINAL {shard})`
	args := []any{cutoffMs(p.Now, p.LongRunningAfter), cutoffMs(p.Now, p.RecentFailureWindow), shardArgs{}}
	union, all := unionShards(shardsOf(r.shardBounds(ctx)), branch, args)
	q := `SELECT sum(c), sum(run), sum(done), sum(failed), sum(long), sum(recent) FROM (` + union + `)`
	var h api.SystemHealth
	err := r.query(ctx, queryOpts{scan: true}, "system health", q, all, func(rows driver.Rows) error {
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

// Problems answers GET /v1/problems: three lists, each newest updated_at
// first (then instance_id), at most Limit long. One query categorizes every
// instance (the categories exclude each other) and keeps the first Limit of
// each (LIMIT n BY); a second reads the chosen rows in full.
func (r *Reader) Problems(ctx context.Context, p query.ProblemsParams) (api.ProblematicInstances, error) {
	if p.Limit <= 0 {
		return api.ProblematicInstances{}, fmt.Errorf("problems: limit %d: must be positive", p.Limit)
	}
	// Each branch keeps the first Limit of each category of its shard; the
	// outer query keeps the first Limit of each category of all of them.
	branch := `SELECT instance_id, row_version, created_at_ms, updated_at_ms,
			multiIf(status = 'Running' AND created_at_ms < ?, 1,
				status = 'Running' AND updated_at_ms < ?, 2,
				status = 'Failed' AND updated_at_ms >= ?, 3, 0) AS cat
		FROM (SELECT instance_id, row_version, status, created_at_ms, updated_at_ms FROM {db}.instances FINAL {shard})
		WHERE cat > 0
		ORDER BY cat, updated_at_ms DESC, instance_id ASC
		LIMIT ? BY cat`
	args := []any{cutoffMs(p.Now, p.LongRunningAfter), cutoffMs(p.Now, p.StuckAfter),
		cutoffMs(p.Now, p.RecentFailureWindow), shardArgs{}, p.Limit}
	union, all := unionShards(shardsOf(r.shardBounds(ctx)), branch, args)
	q := `SELECT instance_id, row_version, created_at_ms, cat FROM (` + union + `)
		ORDER BY cat, updated_at_ms DESC, instance_id ASC
		LIMIT ? BY cat`
	all = append(all, p.Limit)
	var picks []pick
	err := r.query(ctx, queryOpts{scan: true}, "problems", q, all, func(rows driver.Rows) error {
		var x pick
		if err := rows.Scan(&x.id, &x.version, &x.created, &x.cat); err != nil {
			return err
		}
		picks = append(picks, x)
		return nil
	})
	if err != nil {
		return api.ProblematicInstances{}, err
	}
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
		}
	}
	return out, nil
}

// Queues answers GET /v1/queues: the pending counters of Running instances
// and the newest queue-depth snapshot (highest timestamp_ms; ties broken by
// the largest values, docs/semantics.md rule 11).
func (r *Reader) Queues(ctx context.Context) (api.QueueMetrics, error) {
	var m api.QueueMetrics
	union, all := unionShards(shardsOf(r.shardBounds(ctx)),
		`SELECT sum(pending_activities) AS a, sum(pending_timers) AS t, sum(pending_events) AS e,
			sum(pending_sub_orchestrations) AS s
		FROM (SELECT status, pending_activities, pending_timers, pending_events, pending_sub_orchestrations
			FROM {db}.instances FINAL {shard})
		WHERE status = 'Running'`, []any{shardArgs{}})
	err := r.query(ctx, queryOpts{scan: true}, "pending work totals",
		`SELECT sum(a), sum(t), sum(e), sum(s) FROM (`+union+`)`, all, func(rows driver.Rows) error {
			return rows.Scan(&m.PendingActivities, &m.PendingTimers, &m.PendingEvents, &m.PendingSubOrchestrations)
		})
	if err != nil {
		return api.QueueMetrics{}, err
	}
	err = r.query(ctx, queryOpts{}, "newest queue snapshot",
		`SELECT orchestrator_queue, worker_queue FROM {db}.queue_snapshots
		WHERE timestamp_ms = (SELECT max(timestamp_ms) FROM {db}.queue_snapshots)
		ORDER BY orchestrator_queue DESC, worker_queue DESC, timer_queue DESC LIMIT 1`,
		nil, func(rows driver.Rows) error {
			return rows.Scan(&m.OrchestratorQueueDepth, &m.ActivityQueueDepth)
		})
	if err != nil {
		return api.QueueMetrics{}, err
	}
	return m, nil
}
