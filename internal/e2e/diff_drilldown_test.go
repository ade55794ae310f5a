package e2e

import (
	"context"
	"fmt"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/client"
)

// diffDrillDowns: the drill-down of every percentile the service shows
// (p50, p95, p99 of /v1/stats/performance per orchestration, p95 and p99 of
// /v1/stats/activities per activity), paged to the end through the client,
// equals the oracle's rows at or above it; at min_duration_ms=0 the instance
// drill-down holds exactly the performance answer's count.
func diffDrillDowns(env *diffEnv, r *diffReport) {
	ctx := context.Background()
	o := env.oracle
	var jobs []func()
	for _, n := range append(orchestrationNames(env), "NoSuchOrchestration") {
		jobs = append(jobs, func() {
			m, err := env.cl.Performance(ctx, client.PerformanceParams{Orchestration: n})
			if err != nil {
				r.fail("GET /v1/stats/performance/instances", "%q: performance: %v", n, err)
				return
			}
			for _, p := range []*int64{nil, &m.P50DurationMs, &m.P95DurationMs, &m.P99DurationMs} {
				got, err := allSlowInstances(ctx, env.cl, client.SlowInstancesParams{Orchestration: n, MinDurationMs: p, Limit: 40})
				what := fmt.Sprintf("orchestration=%q min_duration_ms=%s", n, fmtMin(p))
				if err != nil {
					r.fail("GET /v1/stats/performance/instances", "%s: %v", what, err)
					continue
				}
				r.equal("GET /v1/stats/performance/instances", what, got, o.SlowInstances(n, nil, p))
				if p == nil && uint64(len(got)) != m.Count {
					r.fail("GET /v1/stats/performance/instances", "%s: %d instances, performance counts %d", what, len(got), m.Count)
				}
			}
		})
	}
	st, err := env.cl.ActivityStats(ctx, client.ActivityStatsParams{})
	if err != nil {
		r.fail("GET /v1/stats/activities/calls", "activity stats: %v", err)
	}
	for _, s := range st {
		for _, p := range []*int64{&s.P95DurationMs, &s.P99DurationMs} {
			jobs = append(jobs, func() {
				got, err := allActivityCalls(ctx, env.cl, client.ActivityCallsParams{Activity: s.ActivityName, MinDurationMs: p, Limit: 25})
				what := fmt.Sprintf("activity=%q min_duration_ms=%s", s.ActivityName, fmtMin(p))
				if err != nil {
					r.fail("GET /v1/stats/activities/calls", "%s: %v", what, err)
					return
				}
				r.equal("GET /v1/stats/activities/calls", what, got, o.ActivityCalls(s.ActivityName, nil, nil, false, p))
			})
		}
	}
	runJobs(jobs, 4)
}

// allSlowInstances follows next_page_token to the end.
func allSlowInstances(ctx context.Context, cl *client.Client, p client.SlowInstancesParams) ([]api.SlowInstance, error) {
	out := []api.SlowInstance{}
	for pages := 0; pages < 10_000; pages++ {
		l, err := cl.SlowInstances(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, l.Instances...)
		if l.NextPageToken == nil {
			return out, nil
		}
		p.PageToken = *l.NextPageToken
	}
	return nil, fmt.Errorf("more than 10,000 pages")
}

// allActivityCalls follows next_page_token to the end.
func allActivityCalls(ctx context.Context, cl *client.Client, p client.ActivityCallsParams) ([]api.ActivityCall, error) {
	out := []api.ActivityCall{}
	for pages := 0; pages < 10_000; pages++ {
		l, err := cl.ActivityCalls(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, l.Calls...)
		if l.NextPageToken == nil {
			return out, nil
		}
		p.PageToken = *l.NextPageToken
	}
	return nil, fmt.Errorf("more than 10,000 pages")
}

func fmtMin(p *int64) string {
	if p == nil {
		return "(none)"
	}
	return fmt.Sprint(*p)
}
