package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/client"
)

func (a *app) cmdInstances(ctx context.Context, args []string) error {
	const sub = "list | count | watch | show ID | tree ID | history ID | status ID..."
	if len(args) == 0 {
		return usagef("instances: missing subcommand (%s)", sub)
	}
	switch args[0] {
	case "list", "ls":
		return a.cmdInstancesList(ctx, args[1:])
	case "count":
		return a.cmdInstancesCount(ctx, args[1:])
	case "watch":
		return a.cmdInstancesWatch(ctx, args[1:])
	case "show", "get":
		return a.cmdInstancesShow(ctx, args[1:])
	case "tree":
		return a.cmdInstancesTree(ctx, args[1:])
	case "history":
		return a.cmdInstancesHistory(ctx, args[1:])
	case "status":
		return a.cmdInstancesStatus(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		a.topUsage(a.flagSet("duroscope", "", ""))
		return nil
	}
	return usagef("instances: unknown subcommand %q (%s)", args[0], sub)
}

func (a *app) cmdInstancesList(ctx context.Context, args []string) error {
	fs := a.flagSet("instances list", "instances list [flags]",
		"Lists instances, newest first. Without --all one page is printed and the\n"+
			"token of the next page (if any) goes to stderr.")
	var f listFilters
	f.register(fs, a.now)
	fs.IntVar(&f.p.Offset, "offset", 0, "rows to skip (0..100000; not with --page-token)")
	fs.StringVar(&f.p.PageToken, "page-token", "", "continue from this next_page_token")
	all := fs.Bool("all", false, "follow next_page_token and print every matching instance")
	if err := noArgs("instances list", fs, args); err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	var list api.InstanceList
	if *all {
		list.Instances = []api.InstanceSummary{}
		for s, err := range c.Instances(ctx, f.p) {
			if err != nil {
				return err
			}
			list.Instances = append(list.Instances, s)
		}
	} else {
		list, err = c.ListInstances(ctx, f.p)
		if err != nil {
			return err
		}
	}
	if a.json {
		return printJSON(a.stdout, list)
	}
	if err := a.printInstances(list.Instances); err != nil {
		return err
	}
	if list.NextPageToken != nil {
		fmt.Fprintf(a.stderr, "more instances follow: --page-token %s (or --all)\n", *list.NextPageToken)
	}
	a.noteLag(c)
	return nil
}

func (a *app) cmdInstancesCount(ctx context.Context, args []string) error {
	fs := a.flagSet("instances count", "instances count [flags]",
		"Counts the instances matching the filters (exactly); with --group-by also\n"+
			"per status, orchestration or version.")
	var f listFilters
	f.registerFilters(fs, a.now)
	groupBy := fs.String("group-by", "", "also count per key: status, orchestration or version")
	if err := noArgs("instances count", fs, args); err != nil {
		return err
	}
	switch *groupBy {
	case "", "status", "orchestration", "version":
	default:
		return usagef("instances count: --group-by: want status, orchestration or version, got %q", *groupBy)
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	n, err := c.CountInstances(ctx, f.p, *groupBy)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, n)
	}
	if *groupBy != "" {
		t := newTable(a.stdout, strings.ToUpper(*groupBy), "COUNT")
		for _, g := range n.Groups {
			t.row(g.Key, strconv.FormatInt(g.Count, 10))
		}
		t.row("(all)", strconv.FormatInt(n.Count, 10))
		if err := t.flush(); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(a.stdout, n.Count)
	}
	a.noteLag(c)
	return nil
}

func (a *app) printInstances(list []api.InstanceSummary) error {
	t := newTable(a.stdout, "INSTANCE", "ORCHESTRATION", "VERSION", "STATUS", "CREATED", "UPDATED", "EXECS", "PARENT")
	for _, s := range list {
		t.row(s.InstanceID, s.OrchestrationName, s.Version, s.Status, fmtTime(s.CreatedAt), fmtTime(s.UpdatedAt),
			fmtUint(s.ExecutionCount), fmtOptString(s.ParentInstance))
	}
	return t.flush()
}

// oneID parses flags and exactly one instance id.
func (a *app) oneID(name string, args []string, register func(*flag.FlagSet)) (string, error) {
	fs := a.flagSet("instances "+name, "instances "+name+" [flags] ID", "")
	if register != nil {
		register(fs)
	}
	pos, err := parse(fs, args)
	if err != nil {
		return "", err
	}
	switch len(pos) {
	case 0:
		return "", usagef("instances %s: missing instance id", name)
	case 1:
		if pos[0] == "" {
			return "", usagef("instances %s: empty instance id", name)
		}
		return pos[0], nil
	}
	return "", usagef("instances %s: want one instance id, got %d arguments (put ids that start with '-' after --)", name, len(pos))
}

func (a *app) cmdInstancesShow(ctx context.Context, args []string) error {
	id, err := a.oneID("show", args, nil)
	if err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	d, err := c.Details(ctx, id)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, d)
	}
	if err := a.printDetails(d); err != nil {
		return err
	}
	a.noteLag(c)
	return nil
}

// cmdInstancesTree prints the instance's family: its root, then every
// descendant by creation time.
func (a *app) cmdInstancesTree(ctx context.Context, args []string) error {
	id, err := a.oneID("tree", args, nil)
	if err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	tr, err := c.Tree(ctx, id)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, tr)
	}
	fmt.Fprintf(a.stdout, "Root: %s\n", tr.RootID)
	if err := a.printInstances(tr.Instances); err != nil {
		return err
	}
	a.noteLag(c)
	return nil
}

func (a *app) printDetails(d api.InstanceDetails) error {
	s := d.Summary
	name := s.OrchestrationName
	if s.Version != "" {
		name += " " + s.Version
	}
	rows := []kv{
		{"Instance", s.InstanceID},
		{"Orchestration", name},
		{"Status", s.Status},
		{"Created", fmtTime(s.CreatedAt)},
		{"Updated", fmtTime(s.UpdatedAt)},
		{"Executions", fmt.Sprintf("%d (current %d)", s.ExecutionCount, s.CurrentExecutionID)},
	}
	if s.ParentInstance != nil {
		parent := *s.ParentInstance
		if s.ParentID != nil {
			parent += fmt.Sprintf(" (event %d)", *s.ParentID)
		}
		rows = append(rows, kv{"Parent", parent})
	}
	if s.CustomStatus != nil {
		rows = append(rows, kv{"Custom status", *s.CustomStatus})
	}
	if s.Output != nil {
		rows = append(rows, kv{"Output", *s.Output})
	}
	if s.Error != nil {
		rows = append(rows, kv{"Error", fmtError(s.Error)})
	}
	if err := printKV(a.stdout, rows); err != nil {
		return err
	}

	section(a.stdout, "EXECUTIONS")
	t := newTable(a.stdout, "ID", "STATUS", "STARTED", "COMPLETED", "DURATION", "EVENTS", "RESULT")
	for _, e := range d.Executions {
		result := fmtOptString(e.Output)
		if e.Error != nil {
			result = fmtError(e.Error)
		}
		t.row(fmtUint(e.ExecutionID), e.Status, fmtTime(e.StartedAt), fmtOptTime(e.CompletedAt),
			fmtOptMs(e.DurationMs), fmtUint(e.EventCount), truncate(result, 60))
	}
	if err := t.flush(); err != nil {
		return err
	}

	ce := d.CurrentExecution
	if ce == nil {
		return nil
	}
	section(a.stdout, fmt.Sprintf("CURRENT EXECUTION %d (last event %s)", ce.ExecutionID, fmtTime(ce.LastEventAt)))
	if len(ce.PendingActivities)+len(ce.PendingTimers)+len(ce.PendingEvents)+len(ce.PendingSubOrchestrations) == 0 {
		fmt.Fprintln(a.stdout, "nothing pending")
		return nil
	}
	if len(ce.PendingActivities) > 0 {
		section(a.stdout, "Pending activities")
		t := newTable(a.stdout, "ID", "NAME", "TAG", "SCHEDULED", "INPUT")
		for _, p := range ce.PendingActivities {
			t.row(fmtUint(p.CorrelationID), p.Name, fmtOptString(p.Tag), fmtTime(p.ScheduledAt), truncate(p.Input, 60))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(ce.PendingTimers) > 0 {
		section(a.stdout, "Pending timers")
		t := newTable(a.stdout, "ID", "FIRE AT", "DELAY", "SCHEDULED")
		for _, p := range ce.PendingTimers {
			t.row(fmtUint(p.CorrelationID), fmtTime(p.FireAt), fmtMs(p.DelayMs), fmtTime(p.ScheduledAt))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(ce.PendingEvents) > 0 {
		section(a.stdout, "Pending external events")
		t := newTable(a.stdout, "ID", "NAME", "PERSISTENT", "SUBSCRIBED")
		for _, p := range ce.PendingEvents {
			t.row(fmtUint(p.CorrelationID), p.Name, strconv.FormatBool(p.Persistent), fmtTime(p.SubscribedAt))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(ce.PendingSubOrchestrations) > 0 {
		section(a.stdout, "Pending sub-orchestrations")
		t := newTable(a.stdout, "ID", "NAME", "INSTANCE", "SCHEDULED")
		for _, p := range ce.PendingSubOrchestrations {
			t.row(fmtUint(p.CorrelationID), p.Name, p.Instance, fmtTime(p.ScheduledAt))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) cmdInstancesHistory(ctx context.Context, args []string) error {
	var p client.HistoryParams
	id, err := a.oneID("history", args, func(fs *flag.FlagSet) {
		fs.Uint64Var(&p.ExecutionID, "execution", 0, "only this execution id (default: all)")
		fs.IntVar(&p.Limit, "limit", 0, "at most this many events, 1..10000 (default: all); the next page's token goes to stderr")
		fs.StringVar(&p.AfterEvent, "after-event", "", "only events after EXEC:EVENT (exclusive)")
		fs.StringVar(&p.PageToken, "page-token", "", "continue from this next_page_token")
		fs.BoolVar(&p.OmitPayloads, "no-payloads", false, "leave inputs, outputs, results and event data out (--json)")
	})
	if err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	page, err := c.HistoryPage(ctx, id, p)
	if err != nil {
		return err
	}
	if page.NextPageToken != nil && !a.json {
		defer fmt.Fprintf(a.stderr, "more events follow: --page-token %s\n", *page.NextPageToken)
	}
	if a.json {
		return printJSON(a.stdout, page)
	}
	events := page.Events
	t := newTable(a.stdout, "EXEC", "EVENT", "TIME", "TYPE", "SOURCE", "DETAIL")
	for i, raw := range events {
		var e historyEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("history event %d of %q: %w", i, id, err)
		}
		source := ""
		if e.SourceEventID != nil {
			source = fmtUint(*e.SourceEventID)
		}
		t.row(fmtUint(e.ExecutionID), fmtUint(e.EventID), api.Time(e.TimestampMs).Format(), e.Type, source, e.detail())
	}
	if err := t.flush(); err != nil {
		return err
	}
	a.noteLag(c)
	return nil
}

// historyEvent is what the history table shows of an event; the rest stays
// in the raw JSON (--json).
type historyEvent struct {
	EventID       uint64  `json:"event_id"`
	SourceEventID *uint64 `json:"source_event_id"`
	ExecutionID   uint64  `json:"execution_id"`
	TimestampMs   int64   `json:"timestamp_ms"`
	Type          string  `json:"type"`
	Name          string  `json:"name"`
	Instance      string  `json:"instance"`
	Key           string  `json:"key"`
	Reason        string  `json:"reason"`
	Status        *string `json:"status"`
}

func (e historyEvent) detail() string {
	switch {
	case e.Name != "" && e.Instance != "":
		return e.Name + " -> " + e.Instance
	case e.Name != "":
		return e.Name
	case e.Key != "":
		return e.Key
	case e.Reason != "":
		return truncate(e.Reason, 60)
	case e.Status != nil:
		return truncate(*e.Status, 60)
	}
	return ""
}

func (a *app) cmdInstancesStatus(ctx context.Context, args []string) error {
	fs := a.flagSet("instances status", "instances status [flags] ID...", "Status of many instances at once (NotFound for unknown ids).")
	ids, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return usagef("instances status: missing instance ids")
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	st, err := c.BulkStatus(ctx, ids)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, api.BulkStatusResponse{Statuses: st})
	}
	t := newTable(a.stdout, "INSTANCE", "STATUS")
	for _, s := range st {
		t.row(s.InstanceID, s.Status)
	}
	if err := t.flush(); err != nil {
		return err
	}
	a.noteLag(c)
	return nil
}

func (a *app) cmdInstancesWatch(ctx context.Context, args []string) error {
	fs := a.flagSet("instances watch", "instances watch [flags]",
		"Prints every change of the instances matching the filters as it becomes\n"+
			"queryable (GET /v1/instances/changes), one line each: SEQ STATUS UPDATED\n"+
			"INSTANCE (with --json one JSON object per line). Reconnects with the last\n"+
			"event's id when the stream breaks; a reset line means changes were missed.\n"+
			"Runs until interrupted or --count changes were printed.")
	var f listFilters
	f.registerFilters(fs, a.now)
	last := fs.Uint64("last-event-id", 0, "resume after this event id (the SEQ of a change printed before)")
	count := fs.Int("count", 0, "exit after this many changes (0 = never)")
	if err := noArgs("instances watch", fs, args); err != nil {
		return err
	}
	if *count < 0 {
		return usagef("instances watch: --count: want 0 or more, got %d", *count)
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	errDone := errors.New("done")
	n := 0
	err = c.WatchChanges(ctx, client.WatchParams{Filters: f.p, LastEventID: *last,
		OnReconnect: func(err error, wait time.Duration) {
			fmt.Fprintf(a.stderr, "change stream interrupted (%s); reconnecting in %v\n", describe(err), wait)
		}}, func(ev client.ChangeEvent) error {
		if a.json {
			b, err := json.Marshal(ev.Change)
			if ev.Reset != nil {
				b, err = json.Marshal(map[string]any{"reset": ev.Reset.Reason, "seq": ev.ID})
			}
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(a.stdout, "%s\n", b); err != nil {
				return err
			}
		} else if ev.Reset != nil {
			if _, err := fmt.Fprintf(a.stdout, "%d\tRESET\t%s\n", ev.ID, ev.Reset.Reason); err != nil {
				return err
			}
		} else if _, err := fmt.Fprintf(a.stdout, "%d\t%s\t%s\t%s\n", ev.ID, ev.Change.Status, fmtTime(ev.Change.UpdatedAt), ev.Change.InstanceID); err != nil {
			return err
		}
		if ev.Change != nil {
			n++
		}
		if *count > 0 && n >= *count {
			return errDone
		}
		return nil
	})
	if errors.Is(err, errDone) || (err != nil && ctx.Err() != nil) {
		return nil
	}
	return err
}
