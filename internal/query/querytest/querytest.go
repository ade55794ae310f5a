// Package querytest is the contract every implementation of the query
// side's port (query.ReadModel) must meet. RunContract loads the same
// workloads — the contract's hand-checked fixtures and any others given —
// into every subject and asks each the same questions through the port: the
// fixtures' answers must be the ones in expected.json, and every subject
// must give the same answer (as JSON, so nulls, [] and field names count) to
// every question. CheckUnavailable and CheckDefect check the error classes
// of a subject that cannot reach its store or whose store lacks what its
// queries need.
//
// The package imports the port only; the tests that wire adapters to it
// (contract_test.go) may import anything.
package querytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/query"
)

// Workload is what a subject is loaded with.
type Workload struct {
	Name      string
	Events    []events.Event
	Snapshots []events.QueueSnapshot
	// Now is the clock of the health and problems questions, and of the
	// retention.
	Now time.Time
	// Retention, when positive, is the read-model retention (README
	// "Retention") every subject applies at Now: instances updated before
	// Now − Retention leave the management answers.
	Retention time.Duration
}

// Subject names an implementation and loads a workload into a fresh
// instance of it (failing t if it cannot).
type Subject struct {
	Name string
	Load func(t *testing.T, w Workload) query.ReadModel
}

// RunContract runs the contract against subjects (at least two, so that
// their answers are compared) over the fixtures in fixturesDir and over each
// of the other workloads.
func RunContract(t *testing.T, fixturesDir string, others []Workload, subjects ...Subject) {
	if len(subjects) < 2 {
		t.Fatalf("RunContract: %d subjects; want at least two to compare", len(subjects))
	}
	fixtures := FixturesWorkload(t, fixturesDir)
	t.Run("fixtures", func(t *testing.T) {
		want := loadExpected(t, fixturesDir)
		models := load(t, fixtures, subjects)
		for i, rm := range models {
			checkExpected(t, subjects[i].Name, rm, want)
		}
		compare(t, fixtures, subjects, models)
	})
	for _, w := range others {
		t.Run(w.Name, func(t *testing.T) {
			compare(t, w, subjects, load(t, w, subjects))
		})
	}
}

func load(t *testing.T, w Workload, subjects []Subject) []query.ReadModel {
	t.Helper()
	out := make([]query.ReadModel, len(subjects))
	for i, s := range subjects {
		out[i] = s.Load(t, w)
	}
	return out
}

// FixturesWorkload is every event of fixturesDir/*.jsonl (in file order)
// with two queue snapshots, at a clock an hour after the last event.
func FixturesWorkload(t *testing.T, fixturesDir string) Workload {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixturesDir, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixturesDir, err)
	}
	sort.Strings(files)
	w := Workload{Name: "fixtures"}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 2<<20)
		for n := 1; sc.Scan(); n++ {
			line := bytes.Clone(bytes.TrimSpace(sc.Bytes()))
			if len(line) == 0 {
				continue
			}
			ev, err := events.Decode(line)
			if err != nil {
				t.Fatalf("%s:%d: %v", f, n, err)
			}
			w.Events = append(w.Events, ev)
		}
	}
	finish(&w)
	return w
}

// NewWorkload is evts with two queue snapshots, at a clock an hour after
// the last event.
func NewWorkload(name string, evts []events.Event) Workload {
	w := Workload{Name: name, Events: evts}
	finish(&w)
	return w
}

// finish sets Now an hour after the last event and adds queue snapshots
// (two at the same instant: the tie rule of docs/semantics.md picks one).
func finish(w *Workload) {
	var last uint64
	for _, e := range w.Events {
		last = max(last, e.TimestampMs)
	}
	w.Now = time.UnixMilli(int64(last)).Add(time.Hour).UTC()
	w.Snapshots = []events.QueueSnapshot{
		{OrchestratorQueue: 4, WorkerQueue: 9, TimerQueue: 1, TimestampMs: last - 60_000},
		{OrchestratorQueue: 2, WorkerQueue: 3, TimerQueue: 0, TimestampMs: last},
		{OrchestratorQueue: 2, WorkerQueue: 5, TimerQueue: 0, TimestampMs: last},
	}
}

// expected is fixtures/expected.json.
type expected struct {
	Instances          map[string]json.RawMessage `json:"instances"`
	ActivityStats      json.RawMessage            `json:"activity_stats"`
	OrchestrationStats json.RawMessage            `json:"orchestration_stats"`
}

func loadExpected(t *testing.T, dir string) expected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var x expected
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	if len(x.Instances) == 0 || x.ActivityStats == nil || x.OrchestrationStats == nil {
		t.Fatal("expected.json lacks instances, activity_stats or orchestration_stats")
	}
	return x
}

func checkExpected(t *testing.T, subject string, rm query.ReadModel, want expected) {
	t.Helper()
	ctx := context.Background()
	for id, w := range want.Instances {
		d, found, err := rm.Details(ctx, id)
		if err != nil || !found {
			t.Errorf("%s: details of %q: found=%v, %v", subject, id, found, err)
			continue
		}
		sameJSON(t, subject+": details of "+id, d, w)
	}
	as, err := rm.ActivityStats(ctx, query.ActivityFilter{})
	if err != nil {
		t.Errorf("%s: activity stats: %v", subject, err)
	}
	sameJSON(t, subject+": activity stats", as, want.ActivityStats)
	ostats, err := rm.OrchestrationStats(ctx, "")
	if err != nil {
		t.Errorf("%s: orchestration stats: %v", subject, err)
	}
	sameJSON(t, subject+": orchestration stats", ostats, want.OrchestrationStats)
}

func sameJSON(t *testing.T, what string, got any, want json.RawMessage) {
	t.Helper()
	var g, w any
	gb, _ := json.Marshal(got)
	if err := json.Unmarshal(gb, &g); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: expected: %v", what, err)
	}
	if a, b := canonical(g), canonical(w); a != b {
		t.Errorf("%s:\n got  %s\n want %s", what, a, b)
	}
}

func canonical(v any) string {
	b, _ := json.Marshal(v) // maps marshal with sorted keys
	return string(b)
}

// compare asks every subject every question and reports each answer that
// differs from the first subject's.
func compare(t *testing.T, w Workload, subjects []Subject, models []query.ReadModel) {
	t.Helper()
	diffs, asked := Diff(w, subjects, models)
	for i, d := range diffs {
		if i == 20 {
			t.Errorf("%s: %d differences in all (first 20 shown)", w.Name, len(diffs))
			break
		}
		t.Error(d)
	}
	t.Logf("%s: %d events, %d questions asked of %d subjects", w.Name, len(w.Events), asked, len(models))
}

// Diff asks every model (loaded with w) every question of Questions(w) and
// describes each error and each answer that differs from the first model's.
// It returns the differences and the number of questions.
func Diff(w Workload, subjects []Subject, models []query.ReadModel) ([]string, int) {
	qs := Questions(w)
	var diffs []string
	for _, q := range qs {
		ref, err := ask(q, models[0])
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: %s: %s: %v", w.Name, subjects[0].Name, q.Name, err))
			continue
		}
		for i := 1; i < len(models); i++ {
			got, err := ask(q, models[i])
			switch {
			case err != nil:
				diffs = append(diffs, fmt.Sprintf("%s: %s: %s: %v", w.Name, subjects[i].Name, q.Name, err))
			case got != ref:
				diffs = append(diffs, fmt.Sprintf("%s: %s differs:\n %-10s %.2000s\n %-10s %.2000s", w.Name, q.Name,
					subjects[0].Name, ref, subjects[i].Name, got))
			}
		}
	}
	return diffs, len(qs)
}

func ask(q Question, rm query.ReadModel) (string, error) {
	v, err := q.Ask(context.Background(), rm)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// Question is one call through the port, its answer as a JSON-able value.
type Question struct {
	Name string
	Ask  func(ctx context.Context, rm query.ReadModel) (any, error)
}

// found pairs a lookup's answer with its found flag.
type found[T any] struct {
	Answer T
	Found  bool
}

// Questions asks about every endpoint of the port over w: every instance's
// lookups, every list filter paged by offset and by cursor, the streamed
// export, all stats, health, problems and queues at w.Now, every report
// bucket and grouping over the workload's range.
func Questions(w Workload) []Question {
	var qs []Question
	add := func(name string, f func(ctx context.Context, rm query.ReadModel) (any, error)) {
		qs = append(qs, Question{Name: name, Ask: f})
	}
	ids, names, parents := map[string]bool{}, map[string]bool{}, map[string]bool{}
	versions, kinds, categories, statuses := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	var lo, hi int64
	for i, e := range w.Events {
		ids[e.InstanceID] = true
		if e.Name != "" && e.Type == "OrchestrationStarted" {
			names[e.Name] = true
			versions[e.Version] = true
		}
		if e.Type == "OrchestrationFailed" && e.Details != nil {
			kinds[e.Details.Kind], categories[e.Details.Category] = true, true
		}
		if e.Status.Valid && len(e.Status.Value) >= 2 {
			statuses[e.Status.Value[:2]] = true
		}
		if e.ParentInstance.Valid {
			parents[e.ParentInstance.Value] = true
		}
		ts := int64(e.TimestampMs)
		if i == 0 || ts < lo {
			lo = ts
		}
		hi = max(hi, ts)
	}
	idList := sortedKeys(ids)
	nameList := sortedKeys(names)

	// Lookups (about 60 instances, spread over the sorted ids).
	step := max(1, len(idList)/60)
	for i := 0; i < len(idList); i += step {
		id := idList[i]
		add("instance "+id, func(ctx context.Context, rm query.ReadModel) (any, error) {
			a, ok, err := rm.Instance(ctx, id)
			return found[api.InstanceSummary]{a, ok}, err
		})
		add("details "+id, func(ctx context.Context, rm query.ReadModel) (any, error) {
			a, ok, err := rm.Details(ctx, id)
			return found[api.InstanceDetails]{a, ok}, err
		})
		add("tree "+id, func(ctx context.Context, rm query.ReadModel) (any, error) {
			a, ok, err := rm.Tree(ctx, id)
			return found[api.InstanceTree]{a, ok}, err
		})
		add("executions "+id, func(ctx context.Context, rm query.ReadModel) (any, error) {
			a, ok, err := rm.Executions(ctx, id)
			return found[api.ExecutionList]{a, ok}, err
		})
		for _, x := range []uint64{0, 1, 2, 99} {
			add(fmt.Sprintf("history %s execution %d", id, x), func(ctx context.Context, rm query.ReadModel) (any, error) {
				a, ok, err := rm.History(ctx, id, query.HistoryRange{ExecutionID: x})
				return found[api.History]{a, ok}, err
			})
		}
		// Paged by 3 (tokens followed to the end), and from keys inside,
		// between and past the events.
		for _, x := range []uint64{0, 2} {
			add(fmt.Sprintf("history %s execution %d by pages of 3", id, x), func(ctx context.Context, rm query.ReadModel) (any, error) {
				var pages []found[api.History]
				r := query.HistoryRange{ExecutionID: x, Limit: 3}
				for len(pages) < 1000 {
					a, ok, err := rm.History(ctx, id, r)
					if err != nil {
						return nil, err
					}
					pages = append(pages, found[api.History]{a, ok})
					if a.NextPageToken == nil {
						break
					}
					k, err := query.DecodeHistoryToken(*a.NextPageToken)
					if err != nil {
						return nil, err
					}
					r.After = &k
				}
				return pages, nil
			})
		}
		for _, after := range []query.EventKey{{ExecutionID: 1, EventID: 2}, {ExecutionID: 1, EventID: 1 << 40}, {ExecutionID: 99, EventID: 0}} {
			add(fmt.Sprintf("history %s after %s", id, after), func(ctx context.Context, rm query.ReadModel) (any, error) {
				a, ok, err := rm.History(ctx, id, query.HistoryRange{After: &after, Limit: 5})
				return found[api.History]{a, ok}, err
			})
		}
	}
	add("instance (missing)", func(ctx context.Context, rm query.ReadModel) (any, error) {
		a, ok, err := rm.Instance(ctx, "no-such-instance")
		return found[api.InstanceSummary]{a, ok}, err
	})
	add("tree (missing)", func(ctx context.Context, rm query.ReadModel) (any, error) {
		a, ok, err := rm.Tree(ctx, "no-such-instance")
		return found[api.InstanceTree]{a, ok}, err
	})
	parentList := sortedKeys(parents)
	for i := 0; i < len(parentList); i += max(1, len(parentList)/20) {
		p := parentList[i]
		add("tree of parent "+p, func(ctx context.Context, rm query.ReadModel) (any, error) {
			a, ok, err := rm.Tree(ctx, p)
			return found[api.InstanceTree]{a, ok}, err
		})
	}
	bulk := append(append([]string{"no-such-instance"}, idList...), idList[0])
	add("bulk status", func(ctx context.Context, rm query.ReadModel) (any, error) { return rm.BulkStatus(ctx, bulk) })
	add("instances by id", func(ctx context.Context, rm query.ReadModel) (any, error) { return rm.Instances(ctx, bulk) })
	add("instances by id (none)", func(ctx context.Context, rm query.ReadModel) (any, error) { return rm.Instances(ctx, nil) })
	add("activity tags by id", func(ctx context.Context, rm query.ReadModel) (any, error) { return rm.ActivityTags(ctx, bulk) })

	// Lists: each filter, paged by offset and by cursor, and exported.
	mid := lo + (hi-lo)/2
	filters := map[string]query.ListFilter{
		"all":       {},
		"running":   {Statuses: []string{api.StatusRunning}},
		"finished":  {Statuses: []string{api.StatusCompleted, api.StatusFailed}},
		"after mid": {CreatedAfter: &mid},
		"window":    {CreatedAfter: &lo, CreatedBefore: &mid},
		"prefix":    {InstancePrefix: idList[len(idList)/2][:min(3, len(idList[len(idList)/2]))]},
	}
	if len(nameList) > 0 {
		filters["orchestration"] = query.ListFilter{Orchestration: nameList[0]}
	}
	if p := sortedKeys(parents); len(p) > 0 {
		filters["parent"] = query.ListFilter{ParentInstance: p[0]}
	}
	filters["roots"] = query.ListFilter{RootOnly: true}
	filters["activity tag gpu"] = query.ListFilter{ActivityTag: "gpu"}
	filters["activity tag gpu running"] = query.ListFilter{ActivityTag: "gpu", Statuses: []string{api.StatusRunning}}
	filters["activity tag none"] = query.ListFilter{ActivityTag: "no-such-tag"}
	filters["updated window"] = query.ListFilter{UpdatedAfter: &lo, UpdatedBefore: &mid}
	filters["roots updated after mid"] = query.ListFilter{RootOnly: true, UpdatedAfter: &mid}
	for i, v := range sortedKeys(versions) {
		filters[fmt.Sprintf("version %d", i)] = query.ListFilter{Version: v}
	}
	for i, k := range sortedKeys(kinds) {
		filters[fmt.Sprintf("error kind %d", i)] = query.ListFilter{ErrorKind: k}
	}
	for i, c := range sortedKeys(categories) {
		filters[fmt.Sprintf("error category %d", i)] = query.ListFilter{ErrorCategory: c, Statuses: []string{api.StatusFailed}}
	}
	for i, p := range sortedKeys(statuses) {
		if i < 4 {
			filters[fmt.Sprintf("custom status prefix %d", i)] = query.ListFilter{CustomStatusPrefix: p}
		}
	}
	for name, f := range filters {
		add("list by offset: "+name, func(ctx context.Context, rm query.ReadModel) (any, error) {
			var pages []api.InstanceList
			for off := 0; ; off += 37 {
				f := f
				f.Limit, f.Offset = 37, off
				l, err := rm.ListInstances(ctx, f)
				if err != nil {
					return nil, err
				}
				pages = append(pages, l)
				if l.NextPageToken == nil || len(pages) > 1000 {
					return pages, nil
				}
			}
		})
		add("list by cursor: "+name, func(ctx context.Context, rm query.ReadModel) (any, error) {
			var pages []api.InstanceList
			f := f
			f.Limit = 50
			for {
				l, err := rm.ListInstances(ctx, f)
				if err != nil {
					return nil, err
				}
				pages = append(pages, l)
				if l.NextPageToken == nil || len(pages) > 1000 {
					return pages, nil
				}
				c, err := query.DecodePageToken(*l.NextPageToken)
				if err != nil {
					return nil, fmt.Errorf("page %d: %w", len(pages), err)
				}
				f.After = &c
			}
		})
		add("export: "+name, func(ctx context.Context, rm query.ReadModel) (any, error) {
			out := []api.InstanceSummary{}
			err := rm.StreamInstances(ctx, f, func(s api.InstanceSummary) error {
				out = append(out, s)
				return nil
			})
			return out, err
		})
		for _, by := range append([]query.CountGroupBy{""}, query.CountGroupBys()...) {
			add(fmt.Sprintf("count by %q: %s", by, name), func(ctx context.Context, rm query.ReadModel) (any, error) {
				return rm.CountInstances(ctx, f, by)
			})
		}
	}

	// Stats.
	for _, n := range append([]string{""}, nameList...) {
		add("orchestration stats "+n, func(ctx context.Context, rm query.ReadModel) (any, error) {
			return rm.OrchestrationStats(ctx, n)
		})
		add("activity stats "+n, func(ctx context.Context, rm query.ReadModel) (any, error) {
			return rm.ActivityStats(ctx, query.ActivityFilter{Orchestration: n})
		})
		if n != "" {
			add("performance "+n, func(ctx context.Context, rm query.ReadModel) (any, error) {
				return rm.Performance(ctx, query.PerformanceFilter{Orchestration: n})
			})
			add("performance since mid "+n, func(ctx context.Context, rm query.ReadModel) (any, error) {
				return rm.Performance(ctx, query.PerformanceFilter{Orchestration: n, Since: &mid})
			})
		}
	}
	add("activity stats with system calls since mid", func(ctx context.Context, rm query.ReadModel) (any, error) {
		return rm.ActivityStats(ctx, query.ActivityFilter{Since: &mid, IncludeSystem: true})
	})

	drillDownQuestions(add, w, nameList)

	// Monitor.
	for _, d := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour} {
		add(fmt.Sprintf("health %v", d), func(ctx context.Context, rm query.ReadModel) (any, error) {
			return rm.Health(ctx, query.HealthParams{Now: w.Now, LongRunningAfter: d, RecentFailureWindow: 2 * d})
		})
		add(fmt.Sprintf("problems %v", d), func(ctx context.Context, rm query.ReadModel) (any, error) {
			return rm.Problems(ctx, query.ProblemsParams{Now: w.Now, LongRunningAfter: 2 * d, StuckAfter: d,
				RecentFailureWindow: 2 * d, Limit: 10})
		})
	}
	add("queues", func(ctx context.Context, rm query.ReadModel) (any, error) { return rm.Queues(ctx) })

	// Reports over the workload's range, aligned as the HTTP layer aligns.
	for _, b := range []string{api.BucketMinute, api.BucketHour, api.BucketDay, api.BucketWeek} {
		from, to := query.AlignRange(b, lo, hi+1)
		if query.BucketCount(b, from, to) > query.MaxReportBuckets {
			continue
		}
		for _, g := range []string{api.GroupByOrchestration, api.GroupByVersion, api.GroupByStatus, api.GroupByActivity} {
			tq := query.TimeseriesQuery{Bucket: b, FromMs: from, ToMs: to, GroupBy: g, IncludeSystem: g == api.GroupByActivity}
			add(fmt.Sprintf("timeseries %s by %s", b, g), func(ctx context.Context, rm query.ReadModel) (any, error) {
				return timeseries(ctx, rm, tq)
			})
		}
	}
	from, to := query.AlignRange(api.BucketHour, lo, hi+1)
	add("errors report", func(ctx context.Context, rm query.ReadModel) (any, error) {
		return rm.Errors(ctx, query.ErrorsQuery{FromMs: from, ToMs: to, Limit: 5})
	})
	add("errors report with system calls", func(ctx context.Context, rm query.ReadModel) (any, error) {
		return rm.Errors(ctx, query.ErrorsQuery{FromMs: from, ToMs: to, Limit: 2, IncludeSystem: true})
	})
	return qs
}

func timeseries(ctx context.Context, rm query.ReadModel, q query.TimeseriesQuery) (api.Timeseries, error) {
	ts := query.TimeseriesHeader(q)
	err := rm.Timeseries(ctx, q, func(r api.ReportRow) error {
		ts.Rows = append(ts.Rows, r)
		return nil
	})
	return ts, err
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckUnavailable asserts that every call of rm fails with an error that
// wraps query.ErrUnavailable: rm cannot reach its store.
func CheckUnavailable(t *testing.T, rm query.ReadModel) {
	t.Helper()
	checkClass(t, rm, true)
}

// CheckDefect asserts that every read of rm fails with an error that does
// not wrap query.ErrUnavailable: rm reaches a store that lacks what its
// queries need (a schema mismatch: a defect, not an outage). Ping is not
// asked: the store answers.
func CheckDefect(t *testing.T, rm query.ReadModel) {
	t.Helper()
	checkClass(t, rm, false)
}

func checkClass(t *testing.T, rm query.ReadModel, unavailable bool) {
	t.Helper()
	w := Workload{Name: "classes", Now: time.UnixMilli(1764105600000).UTC(),
		Events: []events.Event{{InstanceID: "a", Name: "Orch", Type: "OrchestrationStarted", TimestampMs: 1764105600000}}}
	qs := Questions(w)
	if unavailable {
		qs = append(qs, Question{Name: "ping", Ask: func(ctx context.Context, rm query.ReadModel) (any, error) {
			return nil, rm.Ping(ctx)
		}})
	}
	seen := map[string]bool{}
	for _, q := range qs {
		kind := strings.Fields(q.Name)[0]
		if seen[kind] {
			continue // one of each kind of call is enough
		}
		seen[kind] = true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := q.Ask(ctx, rm)
		cancel()
		t.Logf("%s: %v", q.Name, err)
		switch {
		case err == nil:
			t.Errorf("%s: succeeded; want an error", q.Name)
		case errors.Is(err, query.ErrUnavailable) != unavailable:
			t.Errorf("%s: %v: unavailable = %v, want %v", q.Name, err, !unavailable, unavailable)
		}
	}
	if len(seen) < 15 {
		t.Errorf("only %d kinds of call checked", len(seen))
	}
}
