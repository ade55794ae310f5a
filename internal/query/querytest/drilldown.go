package querytest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// drillDownWorkload is what the drill-down questions need of w: its
// activity names (sorted), the orchestration that scheduled each activity
// first, and the median start time (a since that splits the workload).
func drillDownWorkload(w Workload) (activities []string, orchestrationOf map[string]string, median int64) {
	names, orch := map[string]bool{}, map[string]string{}
	orchestrationOf = map[string]string{}
	var starts []int64
	for _, e := range w.Events {
		switch {
		case e.Type == "OrchestrationStarted":
			orch[e.InstanceID] = e.Name
			starts = append(starts, int64(e.TimestampMs))
		case e.Type == "ActivityScheduled" && e.Name != "":
			names[e.Name] = true
			if _, ok := orchestrationOf[e.Name]; !ok && orch[e.InstanceID] != "" {
				orchestrationOf[e.Name] = orch[e.InstanceID]
			}
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	if len(starts) > 0 {
		median = starts[len(starts)/2]
	}
	return sortedKeys(names), orchestrationOf, median
}

// drillDownQuestions asks for the drill-down of every percentile the stats
// answer (each subject's own, so a subject whose percentile differs fails
// here too), paged by cursor to the end, for every orchestration and
// activity (unknown ones included), with and without since.
func drillDownQuestions(add func(string, func(context.Context, query.ReadModel) (any, error)), w Workload, orchestrations []string) {
	activities, orchestrationOf, mid := drillDownWorkload(w)
	slowerBoundaryQuestions(add, orchestrations)
	for _, n := range append(orchestrations, "no-such-orchestration") {
		for _, since := range []*int64{nil, &mid} {
			add(fmt.Sprintf("slow-instances %s since median %v", n, since != nil), func(ctx context.Context, rm query.ReadModel) (any, error) {
				m, err := rm.Performance(ctx, query.PerformanceFilter{Orchestration: n, Since: since})
				if err != nil {
					return nil, err
				}
				var out [][]api.SlowInstanceList
				for _, min := range []*int64{nil, &m.P50DurationMs, &m.P95DurationMs, &m.P99DurationMs, ptr(m.MaxDurationMs + 1), ptr(0)} {
					f := query.SlowInstancesFilter{Orchestration: n, Since: since, MinDurationMs: min, Limit: 7}
					pages, err := drillPages(func(after *query.SlowCursor) (api.SlowInstanceList, *string, error) {
						f.After = after
						l, err := rm.SlowInstances(ctx, f)
						return l, l.NextPageToken, err
					})
					if err != nil {
						return nil, err
					}
					out = append(out, pages)
				}
				return out, nil
			})
		}
	}
	for _, a := range append(activities, "no-such-activity") {
		for i, af := range []query.ActivityFilter{{}, {Since: &mid, IncludeSystem: true}, {Orchestration: orchestrationOf[a], Since: &mid}} {
			add(fmt.Sprintf("activity-calls %s filter %d", a, i), func(ctx context.Context, rm query.ReadModel) (any, error) {
				st, err := rm.ActivityStats(ctx, af)
				if err != nil {
					return nil, err
				}
				var s api.ActivityStats
				for _, x := range st.Activities {
					if x.ActivityName == a {
						s = x
					}
				}
				var out [][]api.ActivityCallList
				for _, min := range []*int64{nil, &s.P50DurationMs, &s.P99DurationMs} {
					f := query.ActivityCallsFilter{Activity: a, ActivityFilter: af, MinDurationMs: min, Limit: 11}
					pages, err := drillPages(func(after *query.SlowCursor) (api.ActivityCallList, *string, error) {
						f.After = after
						l, err := rm.ActivityCalls(ctx, f)
						return l, l.NextPageToken, err
					})
					if err != nil {
						return nil, err
					}
					out = append(out, pages)
				}
				return out, nil
			})
		}
	}
}

// drillPages reads a drill-down from its first page, following
// next_page_token to the end (at most 1,000 pages): page reads the page
// after the cursor (nil = the first) and returns it with its token.
func drillPages[L any](page func(after *query.SlowCursor) (L, *string, error)) ([]L, error) {
	var pages []L
	var after *query.SlowCursor
	for len(pages) < 1000 {
		l, next, err := page(after)
		if err != nil {
			return nil, err
		}
		pages = append(pages, l)
		if next == nil {
			break
		}
		c, err := query.DecodeSlowToken(*next)
		if err != nil {
			return nil, err
		}
		after = &c
	}
	return pages, nil
}

func ptr(v int64) *int64 { return &v }

// slowerBoundaryQuestions asks /v1/problems at the two instants around
// the slower_than_usual boundary of the newest Running instance of each
// orchestration: when its age equals the p99 of its orchestration it is not
// listed (the rule is "exceeds"), a millisecond later it is.
func slowerBoundaryQuestions(add func(string, func(context.Context, query.ReadModel) (any, error)), orchestrations []string) {
	for _, n := range orchestrations {
		add("slower-than-usual boundary "+n, func(ctx context.Context, rm query.ReadModel) (any, error) {
			m, err := rm.Performance(ctx, query.PerformanceFilter{Orchestration: n})
			if err != nil {
				return nil, err
			}
			run, err := rm.ListInstances(ctx, query.ListFilter{Orchestration: n, Statuses: []string{api.StatusRunning}, Limit: 1})
			if err != nil || m.Count == 0 || len(run.Instances) == 0 {
				return nil, err
			}
			s := run.Instances[0]
			var out []api.ProblematicInstances
			for _, extra := range []int64{0, 1} {
				now := time.UnixMilli(int64(s.CreatedAt) + m.P99DurationMs + extra).UTC()
				p, err := rm.Problems(ctx, query.ProblemsParams{Now: now, LongRunningAfter: time.Hour, StuckAfter: time.Hour,
					RecentFailureWindow: time.Hour, Limit: 1000})
				if err != nil {
					return nil, err
				}
				listed := slices.ContainsFunc(p.SlowerThanUsual, func(x api.InstanceSummary) bool { return x.InstanceID == s.InstanceID })
				if listed != (extra > 0) {
					return nil, fmt.Errorf("%s at age p99%+d ms: listed in slower_than_usual = %v", s.InstanceID, extra, listed)
				}
				out = append(out, p)
			}
			return out, nil
		})
	}
}
