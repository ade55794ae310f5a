package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/client"
)

// slowOutput is the --json form of "slow": the threshold the percentile
// resolved to and the service's page.
type slowOutput struct {
	ThresholdMs int64                 `json:"threshold_ms"`
	Instances   *api.SlowInstanceList `json:"instances,omitempty"`
	Calls       *api.ActivityCallList `json:"calls,omitempty"`
}

// cmdSlow is the percentile drill-down: the instances (or an activity's
// calls) at or above a percentile of the stats, slowest first.
func (a *app) cmdSlow(ctx context.Context, args []string) error {
	fs := a.flagSet("slow", "slow --orchestration NAME | --activity NAME [flags]",
		"The instances of an orchestration (GET /v1/stats/performance/instances) or the calls of an\n"+
			"activity (GET /v1/stats/activities/calls) whose duration is at or above a percentile of\n"+
			"the stats (--above p99 resolves it from /v1/stats/performance or /v1/stats/activities with\n"+
			"the same filters), slowest first.")
	var (
		act   client.ActivityCallsParams
		above string
		limit int
		token string
	)
	fs.StringVar(&act.Orchestration, "orchestration", "", "the orchestration (required without --activity; with it, a filter)")
	fs.StringVar(&act.Activity, "activity", "", "list this activity's calls instead of instances")
	timeFlag(fs, &act.Since, "since", "instances created (calls scheduled) at or after this time", a.now)
	fs.BoolVar(&act.IncludeSystem, "include-system", false, "with --activity: include Duroxide system-call activities")
	fs.StringVar(&above, "above", "p99", "p50, p95, p99 (of the stats answer) or a duration in milliseconds")
	fs.IntVar(&limit, "limit", 0, "rows per page, 1..1000 (service default 100)")
	fs.StringVar(&token, "page-token", "", "continue after a page (its next_page_token)")
	if err := noArgs("slow", fs, args); err != nil {
		return err
	}
	if act.Activity == "" && act.Orchestration == "" {
		return usagef("slow: give --orchestration or --activity")
	}
	if act.Activity == "" && act.IncludeSystem {
		return usagef("slow: --include-system applies to --activity only")
	}
	pct := 0
	switch strings.ToLower(above) {
	case "p50":
		pct = 50
	case "p95":
		pct = 95
	case "p99":
		pct = 99
	}
	var out slowOutput
	if pct == 0 {
		ms, err := strconv.ParseInt(above, 10, 64)
		if err != nil {
			return usagef("slow: --above %q: want p50, p95, p99 or a number of milliseconds", above)
		}
		out.ThresholdMs = ms
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	if act.Activity != "" {
		err = a.slowCalls(ctx, c, act, pct, limit, token, &out)
	} else {
		err = a.slowInstances(ctx, c, act.Orchestration, act.Since, pct, limit, token, &out)
	}
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, out)
	}
	a.noteLag(c)
	return nil
}

func (a *app) slowInstances(ctx context.Context, c *client.Client, orchestration string, since time.Time,
	pct, limit int, token string, out *slowOutput) error {
	if pct != 0 {
		m, err := c.Performance(ctx, client.PerformanceParams{Orchestration: orchestration, Since: since})
		if err != nil {
			return err
		}
		out.ThresholdMs = map[int]int64{50: m.P50DurationMs, 95: m.P95DurationMs, 99: m.P99DurationMs}[pct]
		if m.Count == 0 {
			fmt.Fprintf(a.stderr, "no completed or failed instances of %s: nothing to list\n", orchestration)
		}
	}
	l, err := c.SlowInstances(ctx, client.SlowInstancesParams{Orchestration: orchestration, Since: since,
		MinDurationMs: &out.ThresholdMs, Limit: limit, PageToken: token})
	if err != nil {
		return err
	}
	out.Instances = &l
	if a.json {
		return nil
	}
	fmt.Fprintf(a.stdout, "%s INSTANCES AT OR ABOVE %s (%d shown)\n", orchestration, fmtMs(out.ThresholdMs), len(l.Instances))
	t := newTable(a.stdout, "INSTANCE", "DURATION", "STATUS", "VERSION", "CREATED", "ERROR")
	for _, s := range l.Instances {
		t.row(s.InstanceID, fmtMs(s.DurationMs), s.Status, s.Version, fmtTime(s.CreatedAt), truncate(fmtError(s.Error), 60))
	}
	if err := t.flush(); err != nil {
		return err
	}
	nextPage(a, l.NextPageToken)
	return nil
}

func (a *app) slowCalls(ctx context.Context, c *client.Client, p client.ActivityCallsParams, pct, limit int, token string, out *slowOutput) error {
	if pct != 0 {
		st, err := c.ActivityStats(ctx, p.ActivityStatsParams)
		if err != nil {
			return err
		}
		var s api.ActivityStats
		for _, x := range st {
			if x.ActivityName == p.Activity {
				s = x
			}
		}
		out.ThresholdMs = map[int]int64{50: s.P50DurationMs, 95: s.P95DurationMs, 99: s.P99DurationMs}[pct]
	}
	p.MinDurationMs, p.Limit, p.PageToken = &out.ThresholdMs, limit, token
	l, err := c.ActivityCalls(ctx, p)
	if err != nil {
		return err
	}
	out.Calls = &l
	if a.json {
		return nil
	}
	fmt.Fprintf(a.stdout, "%s CALLS AT OR ABOVE %s (%d shown)\n", p.Activity, fmtMs(out.ThresholdMs), len(l.Calls))
	t := newTable(a.stdout, "INSTANCE", "EXECUTION", "CORRELATION", "DURATION", "OUTCOME", "ORCHESTRATION", "SCHEDULED")
	for _, x := range l.Calls {
		t.row(x.InstanceID, strconv.FormatUint(x.ExecutionID, 10), strconv.FormatUint(x.CorrelationID, 10), fmtMs(x.DurationMs),
			x.Outcome, x.OrchestrationName, fmtTime(x.ScheduledAt))
	}
	if err := t.flush(); err != nil {
		return err
	}
	nextPage(a, l.NextPageToken)
	return nil
}

// nextPage tells how to continue when a page follows.
func nextPage(a *app, tok *string) {
	if tok != nil {
		fmt.Fprintf(a.stdout, "more: --page-token %s\n", *tok)
	}
}
