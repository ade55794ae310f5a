package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/client"
)

// noArgs parses a command's flags and rejects positional arguments.
func noArgs(name string, fs *flag.FlagSet, args []string) error {
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("%s: unexpected argument %q", name, pos[0])
	}
	return nil
}

// statsOutput is the --json form of "stats".
type statsOutput struct {
	Orchestrations api.OrchestrationStats  `json:"orchestrations"`
	Performance    *api.PerformanceMetrics `json:"performance,omitempty"`
	Activities     []api.ActivityStats     `json:"activities"`
}

func (a *app) cmdStats(ctx context.Context, args []string) error {
	fs := a.flagSet("stats", "stats [flags]",
		"Orchestration counts and per-activity statistics. With --orchestration also the\n"+
			"performance metrics (instance durations) of that orchestration.")
	var p client.ActivityStatsParams
	fs.StringVar(&p.Orchestration, "orchestration", "", "only this orchestration name")
	timeFlag(fs, &p.Since, "since", "activities scheduled (and, for performance, instances created) at or after this time; counts ignore it", a.now)
	fs.BoolVar(&p.IncludeSystem, "include-system", false, "include Duroxide system-call activities")
	if err := noArgs("stats", fs, args); err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	var out statsOutput
	if out.Orchestrations, err = c.OrchestrationStats(ctx, p.Orchestration); err != nil {
		return err
	}
	if p.Orchestration != "" {
		perf, err := c.Performance(ctx, client.PerformanceParams{Orchestration: p.Orchestration, Since: p.Since})
		if err != nil {
			return err
		}
		out.Performance = &perf
	}
	if out.Activities, err = c.ActivityStats(ctx, p); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, out)
	}
	scope := "all orchestrations"
	if p.Orchestration != "" {
		scope = p.Orchestration
	}
	fmt.Fprintf(a.stdout, "ORCHESTRATIONS (%s)\n", scope)
	o := out.Orchestrations
	if err := printKV(a.stdout, []kv{
		{"Total", fmtUint(o.TotalCount)},
		{"Running", fmtUint(o.RunningCount)},
		{"Completed", fmtUint(o.CompletedCount)},
		{"Failed", fmtUint(o.FailedCount)},
		{"Continued as new", fmtUint(o.ContinuedCount)},
	}); err != nil {
		return err
	}
	if pm := out.Performance; pm != nil {
		section(a.stdout, "PERFORMANCE (completed and failed instances)")
		if err := printKV(a.stdout, []kv{
			{"Count", fmtUint(pm.Count)},
			{"Average", fmtMs(pm.AvgDurationMs)},
			{"Min", fmtMs(pm.MinDurationMs)},
			{"Max", fmtMs(pm.MaxDurationMs)},
			{"P50", fmtMs(pm.P50DurationMs)},
			{"P95", fmtMs(pm.P95DurationMs)},
			{"P99", fmtMs(pm.P99DurationMs)},
		}); err != nil {
			return err
		}
	}
	section(a.stdout, "ACTIVITIES")
	t := newTable(a.stdout, "ACTIVITY", "SCHEDULED", "COMPLETED", "FAILED", "CANCELLED", "AVG", "P50", "P95", "P99", "FAILURE RATE")
	for _, s := range out.Activities {
		t.row(s.ActivityName, fmtUint(s.TotalScheduled), fmtUint(s.TotalCompleted), fmtUint(s.TotalFailed),
			fmtUint(s.TotalCancelled), fmtMs(s.AvgDurationMs), fmtMs(s.P50DurationMs), fmtMs(s.P95DurationMs),
			fmtMs(s.P99DurationMs), strconv.FormatFloat(s.FailureRate*100, 'f', 1, 64)+"%")
	}
	if err := t.flush(); err != nil {
		return err
	}
	a.noteLag(c)
	return nil
}

func (a *app) cmdHealth(ctx context.Context, args []string) error {
	fs := a.flagSet("health", "health [flags]", "")
	var p client.HealthParams
	durationFlag(fs, &p.LongRunningAfter, "long-running-after", "Running instances created longer ago than this are long-running (service default 24h)")
	durationFlag(fs, &p.RecentFailureWindow, "recent-failure-window", "failures updated within this window are recent (service default 1h)")
	if err := noArgs("health", fs, args); err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	h, err := c.Health(ctx, p)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, h)
	}
	if err := printKV(a.stdout, []kv{
		{"Health score", strconv.FormatInt(h.HealthScore, 10)},
		{"Total instances", fmtUint(h.TotalInstances)},
		{"Running", fmtUint(h.RunningInstances)},
		{"Completed", fmtUint(h.CompletedInstances)},
		{"Failed", fmtUint(h.FailedInstances)},
		{"Long-running", fmtUint(h.LongRunningInstances)},
		{"Recent failures", fmtUint(h.RecentFailures)},
	}); err != nil {
		return err
	}
	a.noteLag(c)
	return nil
}

func (a *app) cmdProblems(ctx context.Context, args []string) error {
	fs := a.flagSet("problems", "problems [flags]", "")
	var p client.ProblemsParams
	durationFlag(fs, &p.LongRunningAfter, "long-running-after", "Running instances created longer ago than this (service default 24h)")
	durationFlag(fs, &p.StuckAfter, "stuck-after", "Running instances without an update for this long (service default 1h)")
	durationFlag(fs, &p.RecentFailureWindow, "recent-failure-window", "failures updated within this window (service default 24h)")
	fs.IntVar(&p.Limit, "limit", 0, "instances per list, 1..1000 (service default 100)")
	if err := noArgs("problems", fs, args); err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	pr, err := c.Problems(ctx, p)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, pr)
	}
	lists := []struct {
		title string
		list  []api.InstanceSummary
	}{
		{"LONG-RUNNING", pr.LongRunning},
		{"POTENTIALLY STUCK", pr.PotentiallyStuck},
		{"RECENT FAILURES", pr.RecentFailures},
		{"SLOWER THAN USUAL (running longer than their orchestration's p99)", pr.SlowerThanUsual},
	}
	for i, l := range lists {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		fmt.Fprintf(a.stdout, "%s (%d)\n", l.title, len(l.list))
		if len(l.list) == 0 {
			continue
		}
		t := newTable(a.stdout, "INSTANCE", "ORCHESTRATION", "STATUS", "CREATED", "UPDATED", "ERROR")
		for _, s := range l.list {
			t.row(s.InstanceID, s.OrchestrationName, s.Status, fmtTime(s.CreatedAt), fmtTime(s.UpdatedAt), truncate(fmtError(s.Error), 60))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	a.noteLag(c)
	return nil
}

func (a *app) cmdQueues(ctx context.Context, args []string) error {
	fs := a.flagSet("queues", "queues [flags]", "")
	if err := noArgs("queues", fs, args); err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	q, err := c.Queues(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, q)
	}
	if err := printKV(a.stdout, []kv{
		{"Pending activities", fmtUint(q.PendingActivities)},
		{"Pending timers", fmtUint(q.PendingTimers)},
		{"Pending events", fmtUint(q.PendingEvents)},
		{"Pending sub-orchestrations", fmtUint(q.PendingSubOrchestrations)},
		{"Orchestrator queue depth", fmtUint(q.OrchestratorQueueDepth)},
		{"Activity queue depth", fmtUint(q.ActivityQueueDepth)},
	}); err != nil {
		return err
	}
	a.noteLag(c)
	return nil
}

func (a *app) cmdWatermark(ctx context.Context, args []string) error {
	fs := a.flagSet("watermark", "watermark [flags]", "")
	if err := noArgs("watermark", fs, args); err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	w, err := c.Watermark(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, w)
	}
	through := fmtOptTime(w.ProjectedThrough)
	if through == "" {
		through = "nothing projected yet"
	}
	return printKV(a.stdout, []kv{
		{"Stream", w.Stream},
		{"Stream last seq", fmtUint(w.StreamLastSeq)},
		{"Lag (events)", fmtUint(w.LagEvents)},
		{"Projected through", through},
	})
}

// plannedHint explains a failure of an endpoint the server may not have yet.
func plannedHint(err error, endpoint string, statuses ...int) error {
	var ae *client.APIError
	if errors.As(err, &ae) {
		for _, s := range statuses {
			if ae.StatusCode == s {
				return fmt.Errorf("%w\n(%s is planned on the server side; this server may not implement it yet)", err, endpoint)
			}
		}
	}
	return err
}

func (a *app) cmdReport(ctx context.Context, args []string) error {
	fs := a.flagSet("report", "report [flags]",
		"Time-series report from GET /v1/reports/timeseries. The endpoint is planned on\n"+
			"the server side; a server without it answers 404.")
	var p client.ReportParams
	durationFlag(fs, &p.Bucket, "bucket", "bucket width, e.g. 1h")
	timeFlag(fs, &p.From, "from", "start of the report", a.now)
	timeFlag(fs, &p.To, "to", "end of the report", a.now)
	listFlag(fs, &p.GroupBy, "group-by", "group by these dimensions, e.g. orchestration,status", nil)
	if err := noArgs("report", fs, args); err != nil {
		return err
	}
	if !p.From.IsZero() && !p.To.IsZero() && !p.From.Before(p.To) {
		return usagef("report: --from must be before --to")
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	raw, err := c.Report(ctx, p)
	if err != nil {
		return plannedHint(err, "GET /v1/reports/timeseries", 404, 405, 501)
	}
	if a.json {
		return printJSON(a.stdout, raw)
	}
	if err := printAnyTable(a.stdout, raw); err != nil {
		return err
	}
	a.noteLag(c)
	return nil
}

func (a *app) cmdExport(ctx context.Context, args []string) error {
	fs := a.flagSet("export", "export [flags]",
		"Streams the matching instances from GET /v1/instances?format=csv|ndjson to stdout\n"+
			"or --out. The format parameter is planned on the server side; a server without\n"+
			"it rejects the request.")
	var f listFilters
	f.register(fs, a.now)
	format := fs.String("format", client.FormatNDJSON, "csv or ndjson")
	out := fs.String("out", "", "write to this file instead of stdout (removed again if the export fails)")
	if err := noArgs("export", fs, args); err != nil {
		return err
	}
	*format = strings.ToLower(*format)
	if *format != client.FormatCSV && *format != client.FormatNDJSON {
		return usagef("export: --format %q: want csv or ndjson", *format)
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	body, err := c.Export(ctx, client.ExportParams{Format: *format, ListParams: f.p})
	if err != nil {
		return plannedHint(err, "GET /v1/instances?format=", 400, 404, 406, 501)
	}
	defer body.Close()

	if *out == "" {
		if _, err := io.Copy(a.stdout, body); err != nil {
			return fmt.Errorf("export: streaming the answer: %w", err)
		}
		return nil
	}
	file, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	n, err := io.Copy(file, body)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(*out)
		return fmt.Errorf("export: writing %s: %w", *out, err)
	}
	fmt.Fprintf(a.stderr, "exported %d bytes to %s\n", n, *out)
	return nil
}
