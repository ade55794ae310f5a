package projection

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
)

// fixtureDirs are where the contract's sample histories live: relative to
// this package in the shared checkout, else the absolute path.
var fixtureDirs = []string{"../../shared/contract/fixtures", "/work/shared/contract/fixtures"}

func fixtureDir(tb testing.TB) string {
	tb.Helper()
	for _, d := range fixtureDirs {
		if m, _ := filepath.Glob(filepath.Join(d, "*.jsonl")); len(m) > 0 {
			return d
		}
	}
	// A missing contract must not make the tests pass vacuously.
	tb.Fatalf("no contract fixtures found in %v", fixtureDirs)
	return ""
}

// loadFixtures decodes every fixtures/*.jsonl with events.Decode: file name
// → events in publish order.
func loadFixtures(tb testing.TB) map[string][]events.Event {
	tb.Helper()
	dir := fixtureDir(tb)
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]events.Event{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for n, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			e, err := events.Decode(line)
			if err != nil {
				tb.Fatalf("%s:%d: %v", filepath.Base(f), n+1, err)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], e)
		}
	}
	if len(out) < 8 {
		tb.Fatalf("found only %d fixture files in %s", len(out), dir)
	}
	return out
}

type expectedFile struct {
	Instances          map[string]api.InstanceDetails `json:"instances"`
	ActivityStats      api.ActivityStatsList          `json:"activity_stats"`
	OrchestrationStats api.OrchestrationStats         `json:"orchestration_stats"`
}

func loadExpected(tb testing.TB) expectedFile {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir(tb), "expected.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var x expectedFile
	if err := json.Unmarshal(b, &x); err != nil {
		tb.Fatalf("expected.json: %v", err)
	}
	if len(x.Instances) == 0 {
		tb.Fatal("expected.json has no instances")
	}
	return x
}

// The converters below render rows the way API.md shows them, so that the
// rows can be compared with expected.json as a whole. They are a test's
// reading of the contract, independent of the query service's code.

func optStr(s events.OptString) *string {
	if !s.Valid {
		return nil
	}
	return &s.Value
}

func optTime(v OptInt) *api.Time {
	if !v.Valid {
		return nil
	}
	t := api.Time(v.Value)
	return &t
}

func optI64(v OptInt) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Value
}

func summaryOf(in InstanceRow) api.InstanceSummary {
	s := api.InstanceSummary{
		InstanceID:         in.InstanceID,
		OrchestrationName:  in.OrchestrationName,
		Version:            in.OrchestrationVersion,
		Status:             in.Status,
		CreatedAt:          api.Time(in.CreatedAtMs),
		UpdatedAt:          api.Time(in.UpdatedAtMs),
		ExecutionCount:     in.ExecutionCount,
		CurrentExecutionID: in.CurrentExecutionID,
		ParentInstance:     optStr(in.ParentInstance),
		Output:             optStr(in.Output),
		Error:              in.Error,
		CustomStatus:       optStr(in.CustomStatus),
	}
	if in.ParentID.Valid {
		s.ParentID = &in.ParentID.Value
	}
	return s
}

func executionOf(x ExecutionRow) api.ExecutionSummary {
	return api.ExecutionSummary{
		ExecutionID: x.ExecutionID,
		Status:      x.Status,
		StartedAt:   api.Time(x.StartedAtMs),
		CompletedAt: optTime(x.CompletedAtMs),
		EventCount:  x.EventCount,
		DurationMs:  optI64(x.DurationMs),
		Output:      optStr(x.Output),
		Error:       x.Error,
	}
}

// currentOf is the current_execution of API.md: the latest execution of a
// Running instance with its pending lists; nil otherwise.
func currentOf(r Rows) *api.ExecutionDetails {
	if r.Instance.Status != StatusRunning {
		return nil
	}
	x := r.Executions[len(r.Executions)-1]
	d := &api.ExecutionDetails{
		ExecutionID:              x.ExecutionID,
		Status:                   x.Status,
		LastEventAt:              api.Time(x.LastEventAtMs),
		PendingActivities:        []api.PendingActivity{},
		PendingTimers:            []api.PendingTimer{},
		PendingEvents:            []api.PendingEvent{},
		PendingSubOrchestrations: []api.PendingSubOrchestration{},
	}
	for _, w := range r.Work {
		if !w.Pending {
			continue
		}
		switch w.Kind {
		case KindActivity:
			d.PendingActivities = append(d.PendingActivities, api.PendingActivity{CorrelationID: w.CorrelationID,
				Name: w.Name, Input: w.Input, Tag: optStr(w.Tag), ScheduledAt: api.Time(w.ScheduledAtMs)})
		case KindTimer:
			d.PendingTimers = append(d.PendingTimers, api.PendingTimer{CorrelationID: w.CorrelationID,
				DelayMs: w.DelayMs, ScheduledAt: api.Time(w.ScheduledAtMs), FireAt: api.Time(w.FireAtMs)})
		case KindEvent:
			d.PendingEvents = append(d.PendingEvents, api.PendingEvent{CorrelationID: w.CorrelationID,
				Name: w.Name, Persistent: w.Persistent, SubscribedAt: api.Time(w.ScheduledAtMs)})
		case KindSubOrchestration:
			d.PendingSubOrchestrations = append(d.PendingSubOrchestrations, api.PendingSubOrchestration{
				CorrelationID: w.CorrelationID, Name: w.Name, Instance: w.ChildInstance, ScheduledAt: api.Time(w.ScheduledAtMs)})
		}
	}
	return d
}

// percentile is API.md's exact percentile of ascending values.
func percentile(v []int64, q float64) int64 {
	if len(v) == 0 {
		return 0
	}
	i := int(q * float64(len(v)))
	return v[min(i, len(v)-1)]
}

// activityStatsOf aggregates activity rows as /v1/stats/activities does
// with include_system=false.
func activityStatsOf(rows []ActivityRow) []api.ActivityStats {
	by := map[string]*api.ActivityStats{}
	durs := map[string][]int64{}
	for _, a := range rows {
		if a.IsSystem {
			continue
		}
		s := by[a.ActivityName]
		if s == nil {
			s = &api.ActivityStats{ActivityName: a.ActivityName}
			by[a.ActivityName] = s
		}
		s.TotalScheduled++
		switch a.Outcome {
		case OutcomeCompleted:
			s.TotalCompleted++
		case OutcomeFailed:
			s.TotalFailed++
		case OutcomeCancelled:
			s.TotalCancelled++
		}
		if a.DurationMs.Valid {
			durs[a.ActivityName] = append(durs[a.ActivityName], a.DurationMs.Value)
		}
	}
	out := make([]api.ActivityStats, 0, len(by))
	for n, s := range by {
		d := durs[n]
		slices.Sort(d)
		if len(d) > 0 {
			var sum int64
			for _, v := range d {
				sum += v
			}
			s.AvgDurationMs = sum / int64(len(d))
		}
		s.P50DurationMs, s.P95DurationMs, s.P99DurationMs = percentile(d, 0.5), percentile(d, 0.95), percentile(d, 0.99)
		if s.TotalCompleted+s.TotalFailed > 0 {
			s.FailureRate = float64(s.TotalFailed) / float64(s.TotalCompleted+s.TotalFailed)
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ActivityName < out[j].ActivityName })
	return out
}

func jsonOf(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// TestFixturesMatchExpected derives every fixture (all published together)
// and compares the rows with expected.json: each instance's summary,
// executions and current execution with its pending lists, the activity
// stats made from the activity rows, and the orchestration stats.
func TestFixturesMatchExpected(t *testing.T) {
	fx := loadFixtures(t)
	want := loadExpected(t)

	var all []events.Event
	for _, f := range slices.Sorted(maps.Keys(fx)) {
		all = append(all, fx[f]...)
	}
	got, err := DeriveAll(all)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var activities []ActivityRow
	var stats api.OrchestrationStats
	for _, r := range got {
		checkInvariants(t, r)
		id := r.Instance.InstanceID
		seen[id] = true
		activities = append(activities, r.Activities...)
		stats.TotalCount++
		switch r.Instance.Status {
		case StatusRunning:
			stats.RunningCount++
		case StatusCompleted:
			stats.CompletedCount++
		case StatusFailed:
			stats.FailedCount++
		}
		if r.Instance.ExecutionCount > 1 {
			stats.ContinuedCount++
		}
		exp, ok := want.Instances[id]
		if !ok {
			t.Errorf("derived instance %q is not in expected.json", id)
			continue
		}
		t.Run(id, func(t *testing.T) {
			if s := summaryOf(r.Instance); !reflect.DeepEqual(s, exp.Summary) {
				t.Errorf("summary:\n got %s\nwant %s", jsonOf(s), jsonOf(exp.Summary))
			}
			var xs []api.ExecutionSummary
			for _, x := range r.Executions {
				xs = append(xs, executionOf(x))
			}
			if !reflect.DeepEqual(xs, exp.Executions) {
				t.Errorf("executions:\n got %s\nwant %s", jsonOf(xs), jsonOf(exp.Executions))
			}
			if c := currentOf(r); !reflect.DeepEqual(c, exp.CurrentExecution) {
				t.Errorf("current_execution:\n got %s\nwant %s", jsonOf(c), jsonOf(exp.CurrentExecution))
			}
		})
	}
	for id := range want.Instances {
		if !seen[id] {
			t.Errorf("expected instance %q was not derived", id)
		}
	}
	if s := activityStatsOf(activities); !reflect.DeepEqual(s, want.ActivityStats.Activities) {
		t.Errorf("activity stats:\n got %s\nwant %s", jsonOf(s), jsonOf(want.ActivityStats.Activities))
	}
	if !reflect.DeepEqual(stats, want.OrchestrationStats) {
		t.Errorf("orchestration stats: got %+v, want %+v", stats, want.OrchestrationStats)
	}
}

// TestFixturesSystemCallsKept checks what the stats above leave out: the
// system call is an activity row marked IsSystem.
func TestFixturesSystemCallsKept(t *testing.T) {
	rows, err := Derive(loadFixtures(t)["retries_and_syscalls.jsonl"])
	if err != nil {
		t.Fatal(err)
	}
	a := rows.Activities[0]
	if !a.IsSystem || !strings.HasPrefix(a.ActivityName, events.SystemCallPrefix) || a.Outcome != OutcomeCompleted || a.DurationMs != someInt(1) {
		t.Errorf("system call row = %+v", a)
	}
	if len(rows.Activities) != 4 {
		t.Errorf("%d activity rows, want 4", len(rows.Activities))
	}
}
