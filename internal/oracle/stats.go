package oracle

import (
	"sort"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
)

// OrchestrationStats answers GET /v1/stats/orchestrations; orchestration
// (if set) matches the instance's orchestration_name.
func (o *Oracle) OrchestrationStats(orchestration *string) api.OrchestrationStats {
	var st api.OrchestrationStats
	for _, id := range o.ids {
		s := &o.instances[id].summary
		if orchestration != nil && s.OrchestrationName != *orchestration {
			continue
		}
		st.TotalCount++
		switch s.Status {
		case api.StatusRunning:
			st.RunningCount++
		case api.StatusCompleted:
			st.CompletedCount++
		case api.StatusFailed:
			st.FailedCount++
		}
		if s.ExecutionCount > 1 {
			st.ContinuedCount++
		}
	}
	return st
}

// ActivityStats answers GET /v1/stats/activities: per activity name, sorted
// by name. orchestration matches the name of the execution that scheduled
// the activity, sinceMs its scheduled time (>=); system calls are left out
// unless includeSystem.
func (o *Oracle) ActivityStats(orchestration *string, sinceMs *int64, includeSystem bool) api.ActivityStatsList {
	type acc struct {
		st        api.ActivityStats
		durations []int64
	}
	byName := map[string]*acc{}
	for _, id := range o.ids {
		for _, x := range o.instances[id].executions {
			for _, a := range x.activities {
				if a.system && !includeSystem {
					continue
				}
				if orchestration != nil && a.orchestration != *orchestration {
					continue
				}
				if sinceMs != nil && a.scheduledAt < *sinceMs {
					continue
				}
				g := byName[a.name]
				if g == nil {
					g = &acc{st: api.ActivityStats{ActivityName: a.name}}
					byName[a.name] = g
				}
				g.st.TotalScheduled++
				switch a.outcome {
				case outcomeCompleted:
					g.st.TotalCompleted++
					g.durations = append(g.durations, a.durationMs)
				case outcomeFailed:
					g.st.TotalFailed++
					g.durations = append(g.durations, a.durationMs)
				case outcomeCancelled:
					g.st.TotalCancelled++
				}
			}
		}
	}
	out := api.ActivityStatsList{Activities: []api.ActivityStats{}}
	for _, g := range byName {
		d := summarize(g.durations)
		g.st.AvgDurationMs = d.avg
		g.st.P50DurationMs = d.p50
		g.st.P95DurationMs = d.p95
		g.st.P99DurationMs = d.p99
		if n := g.st.TotalCompleted + g.st.TotalFailed; n > 0 {
			g.st.FailureRate = float64(g.st.TotalFailed) / float64(n)
		}
		out.Activities = append(out.Activities, g.st)
	}
	sort.Slice(out.Activities, func(i, j int) bool {
		return out.Activities[i].ActivityName < out.Activities[j].ActivityName
	})
	return out
}

// Performance answers GET /v1/stats/performance: durations of the Completed
// and Failed instances named orchestration, created at or after sinceMs.
func (o *Oracle) Performance(orchestration string, sinceMs *int64) api.PerformanceMetrics {
	var durations []int64
	for _, id := range o.ids {
		in := o.instances[id]
		if in.summary.OrchestrationName != orchestration || !in.hasDurationMs {
			continue
		}
		if sinceMs != nil && int64(in.summary.CreatedAt) < *sinceMs {
			continue
		}
		durations = append(durations, in.durationMs)
	}
	d := summarize(durations)
	return api.PerformanceMetrics{
		Count:         uint64(len(durations)),
		AvgDurationMs: d.avg,
		MinDurationMs: d.min,
		MaxDurationMs: d.max,
		P50DurationMs: d.p50,
		P95DurationMs: d.p95,
		P99DurationMs: d.p99,
	}
}

// problemRules classifies instances for /v1/health and /v1/problems.
type problemRules struct {
	longRunningBefore   int64 // created_at < this
	stuckBefore         int64 // updated_at < this
	recentFailuresSince int64 // updated_at >= this
}

func (r problemRules) longRunning(s *api.InstanceSummary) bool {
	return s.Status == api.StatusRunning && int64(s.CreatedAt) < r.longRunningBefore
}

func (r problemRules) stuck(s *api.InstanceSummary) bool {
	return s.Status == api.StatusRunning && !r.longRunning(s) && int64(s.UpdatedAt) < r.stuckBefore
}

func (r problemRules) recentFailure(s *api.InstanceSummary) bool {
	return s.Status == api.StatusFailed && int64(s.UpdatedAt) >= r.recentFailuresSince
}

// Health answers GET /v1/health at nowMs.
func (o *Oracle) Health(nowMs int64, longRunningAfter, recentFailureWindow time.Duration) api.SystemHealth {
	r := problemRules{
		longRunningBefore:   nowMs - longRunningAfter.Milliseconds(),
		recentFailuresSince: nowMs - recentFailureWindow.Milliseconds(),
	}
	var h api.SystemHealth
	for _, id := range o.ids {
		s := &o.instances[id].summary
		h.TotalInstances++
		switch s.Status {
		case api.StatusRunning:
			h.RunningInstances++
		case api.StatusCompleted:
			h.CompletedInstances++
		case api.StatusFailed:
			h.FailedInstances++
		}
		if r.longRunning(s) {
			h.LongRunningInstances++
		}
		if r.recentFailure(s) {
			h.RecentFailures++
		}
	}
	if h.TotalInstances > 0 {
		score := floorDiv(100*(int64(h.CompletedInstances)-int64(h.FailedInstances)), int64(h.TotalInstances))
		h.HealthScore = max(0, score)
	}
	return h
}

// Problems answers GET /v1/problems at nowMs, at most limit per list.
func (o *Oracle) Problems(nowMs int64, longRunningAfter, stuckAfter, recentFailureWindow time.Duration, limit int) api.ProblematicInstances {
	r := problemRules{
		longRunningBefore:   nowMs - longRunningAfter.Milliseconds(),
		stuckBefore:         nowMs - stuckAfter.Milliseconds(),
		recentFailuresSince: nowMs - recentFailureWindow.Milliseconds(),
	}
	p := api.ProblematicInstances{
		LongRunning:      []api.InstanceSummary{},
		PotentiallyStuck: []api.InstanceSummary{},
		RecentFailures:   []api.InstanceSummary{},
	}
	for _, id := range o.ids {
		s := &o.instances[id].summary
		if r.longRunning(s) {
			p.LongRunning = append(p.LongRunning, *s)
		}
		if r.stuck(s) {
			p.PotentiallyStuck = append(p.PotentiallyStuck, *s)
		}
		if r.recentFailure(s) {
			p.RecentFailures = append(p.RecentFailures, *s)
		}
	}
	p.SlowerThanUsual = o.slowerThanUsual(nowMs)
	p.LongRunning = newestFirst(p.LongRunning, limit)
	p.PotentiallyStuck = newestFirst(p.PotentiallyStuck, limit)
	p.RecentFailures = newestFirst(p.RecentFailures, limit)
	p.SlowerThanUsual = newestFirst(p.SlowerThanUsual, limit)
	return p
}

// newestFirst orders by updated_at desc, then instance_id, and keeps limit.
func newestFirst(list []api.InstanceSummary, limit int) []api.InstanceSummary {
	sort.Slice(list, func(i, j int) bool {
		if list[i].UpdatedAt != list[j].UpdatedAt {
			return list[i].UpdatedAt > list[j].UpdatedAt
		}
		return list[i].InstanceID < list[j].InstanceID
	})
	if len(list) > limit {
		list = list[:max(limit, 0)]
	}
	return list
}

// Queues answers GET /v1/queues: pending work of the current executions of
// Running instances, plus the newest queue-depth snapshot (highest
// timestamp_ms; ties broken by the largest values, docs/semantics.md 11).
func (o *Oracle) Queues(snapshots []events.QueueSnapshot) api.QueueMetrics {
	var q api.QueueMetrics
	for _, id := range o.ids {
		in := o.instances[id]
		if in.summary.Status != api.StatusRunning {
			continue
		}
		d := in.latest().details()
		q.PendingActivities += uint64(len(d.PendingActivities))
		q.PendingTimers += uint64(len(d.PendingTimers))
		q.PendingEvents += uint64(len(d.PendingEvents))
		q.PendingSubOrchestrations += uint64(len(d.PendingSubOrchestrations))
	}
	var newest *events.QueueSnapshot
	for i := range snapshots {
		if s := &snapshots[i]; newest == nil || newerSnapshot(s, newest) {
			newest = s
		}
	}
	if newest != nil {
		q.OrchestratorQueueDepth = newest.OrchestratorQueue
		q.ActivityQueueDepth = newest.WorkerQueue
	}
	return q
}

// newerSnapshot orders snapshots by (timestamp, orchestrator, worker, timer).
func newerSnapshot(a, b *events.QueueSnapshot) bool {
	ka := [4]uint64{a.TimestampMs, a.OrchestratorQueue, a.WorkerQueue, a.TimerQueue}
	kb := [4]uint64{b.TimestampMs, b.OrchestratorQueue, b.WorkerQueue, b.TimerQueue}
	for i := range ka {
		if ka[i] != kb[i] {
			return ka[i] > kb[i]
		}
	}
	return false
}

// distribution is the avg/min/max/percentiles of a set of durations.
type distribution struct {
	avg, min, max, p50, p95, p99 int64
}

// summarize computes EVENTS.md's exact statistics: values sorted ascending,
// p_q = value at index floor(q*n) clamped to n-1 (computed in integers, so
// no float rounding can move the index), avg = floor(sum/n); empty gives 0.
func summarize(values []int64) distribution {
	n := len(values)
	if n == 0 {
		return distribution{}
	}
	v := append([]int64(nil), values...)
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	at := func(percent int) int64 {
		return v[min(percent*n/100, n-1)]
	}
	var sum int64
	for _, x := range v {
		sum += x
	}
	return distribution{
		avg: floorDiv(sum, int64(n)),
		min: v[0],
		max: v[n-1],
		p50: at(50),
		p95: at(95),
		p99: at(99),
	}
}

// floorDiv is floor(a/b) for b > 0 (Go's / truncates toward zero).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
