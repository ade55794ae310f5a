package oracle

import (
	"context"
	"fmt"
	"sort"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// SlowInstances answers GET /v1/stats/performance/instances (unpaged): the
// instances Performance(orchestration, sinceMs) measures whose duration is
// at least minMs (nil: any), by duration desc, then instance_id.
func (o *Oracle) SlowInstances(orchestration string, sinceMs *int64, minMs *int64) []api.SlowInstance {
	out := []api.SlowInstance{}
	for _, id := range o.ids {
		in := o.instances[id]
		if in.summary.OrchestrationName != orchestration || !in.hasDurationMs || (minMs != nil && in.durationMs < *minMs) {
			continue
		}
		if sinceMs != nil && int64(in.summary.CreatedAt) < *sinceMs {
			continue
		}
		out = append(out, api.SlowInstance{InstanceSummary: in.summary, DurationMs: in.durationMs})
	}
	sort.Slice(out, func(i, j int) bool { return slowKey(out[i]).Less(slowKey(out[j])) })
	return out
}

func slowKey(s api.SlowInstance) query.SlowCursor {
	return query.SlowCursor{DurationMs: s.DurationMs, InstanceID: s.InstanceID}
}

// ActivityCalls answers GET /v1/stats/activities/calls (unpaged): the
// Completed and Failed calls of activity that ActivityStats(orchestration,
// sinceMs, includeSystem) measures, whose duration is at least minMs (nil:
// any), by
// duration desc, then instance_id, execution_id, correlation_id.
func (o *Oracle) ActivityCalls(activity string, orchestration *string, sinceMs *int64, includeSystem bool, minMs *int64) []api.ActivityCall {
	out := []api.ActivityCall{}
	for _, id := range o.ids {
		for _, x := range o.instances[id].executions {
			for _, a := range x.activities {
				switch {
				case a.name != activity, a.system && !includeSystem,
					orchestration != nil && a.orchestration != *orchestration,
					sinceMs != nil && a.scheduledAt < *sinceMs,
					a.outcome != outcomeCompleted && a.outcome != outcomeFailed,
					minMs != nil && a.durationMs < *minMs:
					continue
				}
				out = append(out, api.ActivityCall{InstanceID: id, ExecutionID: x.id, CorrelationID: a.eventID,
					ActivityName: a.name, OrchestrationName: a.orchestration, ScheduledAt: api.Time(a.scheduledAt),
					Outcome: a.outcome, DurationMs: a.durationMs})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return callKey(out[i]).Less(callKey(out[j])) })
	return out
}

func callKey(c api.ActivityCall) query.SlowCursor {
	return query.SlowCursor{DurationMs: c.DurationMs, InstanceID: c.InstanceID, ExecutionID: c.ExecutionID, EventID: c.CorrelationID}
}

// slowerThanUsual lists (unordered) the Running instances older at nowMs
// than the p99 of their orchestration's durations (Performance without
// since): created_at < nowMs − p99. An orchestration without measured
// instances has no p99, and its instances are never listed.
func (o *Oracle) slowerThanUsual(nowMs int64) []api.InstanceSummary {
	p99 := map[string]*int64{}
	out := []api.InstanceSummary{}
	for _, id := range o.ids {
		s := &o.instances[id].summary
		if s.Status != api.StatusRunning {
			continue
		}
		p, seen := p99[s.OrchestrationName]
		if !seen {
			if m := o.Performance(s.OrchestrationName, nil); m.Count > 0 {
				p = &m.P99DurationMs
			}
			p99[s.OrchestrationName] = p
		}
		if p != nil && int64(s.CreatedAt) < nowMs-*p {
			out = append(out, *s)
		}
	}
	return out
}

// page cuts the page of rows (sorted by key) after c, at most limit long,
// and the token of the next one (nil when none follows).
func page[T any](rows []T, key func(T) query.SlowCursor, after *query.SlowCursor, limit int) ([]T, *string) {
	start := 0
	if after != nil {
		start = sort.Search(len(rows), func(i int) bool { return after.Less(key(rows[i])) })
	}
	end := min(start+limit, len(rows))
	out := append([]T{}, rows[start:end]...)
	if end < len(rows) && end > start {
		tok := query.EncodeSlowToken(key(rows[end-1]))
		return out, &tok
	}
	return out, nil
}

func (m *ReadModel) SlowInstances(_ context.Context, f query.SlowInstancesFilter) (api.SlowInstanceList, error) {
	if f.Limit <= 0 {
		return api.SlowInstanceList{}, fmt.Errorf("oracle slow instances: limit %d: must be positive", f.Limit)
	}
	l, next := page(m.o.SlowInstances(f.Orchestration, f.Since, f.MinDurationMs), slowKey, f.After, f.Limit)
	return api.SlowInstanceList{Instances: l, NextPageToken: next}, nil
}

func (m *ReadModel) ActivityCalls(_ context.Context, f query.ActivityCallsFilter) (api.ActivityCallList, error) {
	if f.Limit <= 0 {
		return api.ActivityCallList{}, fmt.Errorf("oracle activity calls: limit %d: must be positive", f.Limit)
	}
	all := m.o.ActivityCalls(f.Activity, optional(f.Orchestration), m.retainedSince(f.Since), f.IncludeSystem, f.MinDurationMs)
	l, next := page(all, callKey, f.After, f.Limit)
	return api.ActivityCallList{Calls: l, NextPageToken: next}, nil
}
