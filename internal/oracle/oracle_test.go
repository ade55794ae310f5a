package oracle

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
)

// ev builds one event; Raw identifies it so history tests can tell copies apart.
func ev(inst string, exec, id, tsMs uint64, typ string, opts ...func(*events.Event)) events.Event {
	e := events.Event{
		EventID: id, InstanceID: inst, ExecutionID: exec, TimestampMs: tsMs,
		Type: typ, Known: typ != "FutureThing",
	}
	for _, o := range opts {
		o(&e)
	}
	if e.Raw == nil {
		e.Raw = fmt.Appendf(nil, `{"k":"%s/%d/%d","type":%q}`, inst, exec, id, typ)
	}
	return e
}

func name(n string) func(*events.Event) { return func(e *events.Event) { e.Name = n } }
func src(id uint64) func(*events.Event) {
	return func(e *events.Event) { e.SourceEventID = events.OptUint{Value: id, Valid: true} }
}
func fire(ms uint64) func(*events.Event) { return func(e *events.Event) { e.FireAtMs = ms } }
func raw(s string) func(*events.Event)   { return func(e *events.Event) { e.Raw = []byte(s) } }
func inst(i string) func(*events.Event)  { return func(e *events.Event) { e.Instance = i } }
func tag(s string) func(*events.Event) {
	return func(e *events.Event) { e.Tag = events.OptString{Value: s, Valid: true} }
}
func input(s string) func(*events.Event) { return func(e *events.Event) { e.Input = s } }
func status(s *string) func(*events.Event) {
	return func(e *events.Event) {
		if s != nil {
			e.Status = events.OptString{Value: *s, Valid: true}
		}
	}
}
func initialStatus(s string) func(*events.Event) {
	return func(e *events.Event) { e.InitialCustomStatus = events.OptString{Value: s, Valid: true} }
}
func parent(p string, id uint64) func(*events.Event) {
	return func(e *events.Event) {
		e.ParentInstance = events.OptString{Value: p, Valid: true}
		e.ParentID = events.OptUint{Value: id, Valid: true}
	}
}
func failed(msg string) func(*events.Event) {
	return func(e *events.Event) {
		e.Details = &events.ErrorDetails{Category: "application", Kind: "OrchestrationFailed", Message: msg}
	}
}

func ptr[T any](v T) *T { return &v }

const (
	tStarted   = events.TypeOrchestrationStarted
	tCompleted = events.TypeOrchestrationCompleted
	tFailed    = events.TypeOrchestrationFailed
	tCAN       = events.TypeOrchestrationContinuedAsNew
	tActSched  = events.TypeActivityScheduled
)

// T is the base time of the synthetic fleet.
const T = 1_000_000

// fleet is a small set of instances with known created/updated times:
//
//	id   orch  status     created updated  notes
//	a-1  Ship  Completed  T+100   T+400    duration 300
//	a-2  Ship  Failed     T+200   T+250    duration 50
//	a-3  Ship  Running    T+200   T+300
//	a-4  Ship  Completed  T+10    T+900    2 executions, duration 890
//	a-5  Ship  Running    T+0     T+300
//	b-1  Bill  Running    T+50    T+60     parent a-1/5
//	b-2  Bill  Running    T+500   T+510    only execution 2 seen
//	c-1  ""    Running    T+700   T+700    no OrchestrationStarted seen
func fleet() []events.Event {
	return []events.Event{
		ev("a-1", 1, 1, T+100, tStarted, name("Ship")),
		ev("a-1", 1, 2, T+400, tCompleted),
		ev("a-2", 1, 1, T+200, tStarted, name("Ship")),
		ev("a-2", 1, 2, T+250, tFailed, failed("boom")),
		ev("a-3", 1, 1, T+200, tStarted, name("Ship")),
		ev("a-3", 1, 2, T+300, tActSched, name("Pack")),
		ev("a-4", 1, 1, T+10, tStarted, name("Ship")),
		ev("a-4", 1, 2, T+20, tCAN),
		ev("a-4", 2, 1, T+30, tStarted, name("Ship")),
		ev("a-4", 2, 2, T+900, tCompleted),
		ev("a-5", 1, 1, T+0, tStarted, name("Ship")),
		ev("a-5", 1, 2, T+300, tActSched, name("Pack")),
		ev("b-1", 1, 1, T+50, tStarted, name("Bill"), parent("a-1", 5)),
		ev("b-1", 1, 2, T+60, events.TypeTimerCreated, fire(T+5000)),
		ev("b-2", 2, 2, T+510, tActSched, name("Charge"), tag("gpu")),
		ev("b-2", 2, 1, T+500, tStarted, name("Bill"), parent("dropped", 1)), // parent comes from execution 1 only
		ev("c-1", 1, 3, T+700, tActSched, name("Orphan")),
	}
}

func ids(list []api.InstanceSummary) []string {
	out := []string{}
	for _, s := range list {
		out = append(out, s.InstanceID)
	}
	return out
}

func TestListInstances(t *testing.T) {
	o := New(fleet())
	for _, tc := range []struct {
		name string
		f    ListFilter
		want []string
	}{
		{"all, created desc then id", ListFilter{}, []string{"c-1", "b-2", "a-2", "a-3", "a-1", "b-1", "a-4", "a-5"}},
		{"running", ListFilter{Statuses: []string{api.StatusRunning}}, []string{"c-1", "b-2", "a-3", "b-1", "a-5"}},
		{"completed or failed", ListFilter{Statuses: []string{api.StatusCompleted, api.StatusFailed}}, []string{"a-2", "a-1", "a-4"}},
		{"orchestration", ListFilter{Orchestration: ptr("Ship")}, []string{"a-2", "a-3", "a-1", "a-4", "a-5"}},
		{"orchestration not yet known", ListFilter{Orchestration: ptr("")}, []string{"c-1"}},
		{"created half-open", ListFilter{CreatedAfter: ptr[int64](T + 100), CreatedBefore: ptr[int64](T + 500)}, []string{"a-2", "a-3", "a-1"}},
		{"parent", ListFilter{ParentInstance: ptr("a-1")}, []string{"b-1"}},
		{"prefix and status", ListFilter{InstancePrefix: ptr("a-"), Statuses: []string{api.StatusRunning}}, []string{"a-3", "a-5"}},
		{"nothing", ListFilter{InstancePrefix: ptr("zz")}, []string{}},
		{"activity tag", ListFilter{ActivityTag: "gpu"}, []string{"b-2"}},
		{"activity tag and status", ListFilter{ActivityTag: "gpu", Statuses: []string{api.StatusCompleted}}, []string{}},
		{"activity tag unknown", ListFilter{ActivityTag: "Charge"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := o.ListInstances(tc.f)
			if got == nil {
				t.Fatal("ListInstances returned nil, want a non-nil slice")
			}
			if g := ids(got); !reflect.DeepEqual(g, tc.want) {
				t.Errorf("got %q, want %q", g, tc.want)
			}
		})
	}
}

func TestSummaryFields(t *testing.T) {
	o := New(fleet())
	for _, tc := range []struct {
		id   string
		want api.InstanceSummary
	}{
		{"a-4", api.InstanceSummary{InstanceID: "a-4", OrchestrationName: "Ship", Status: api.StatusCompleted,
			CreatedAt: T + 10, UpdatedAt: T + 900, ExecutionCount: 2, CurrentExecutionID: 2, Output: ptr("")}},
		{"a-2", api.InstanceSummary{InstanceID: "a-2", OrchestrationName: "Ship", Status: api.StatusFailed,
			CreatedAt: T + 200, UpdatedAt: T + 250, ExecutionCount: 1, CurrentExecutionID: 1,
			Error: &api.Error{Category: "application", Kind: "OrchestrationFailed", Message: "boom"}}},
		{"b-1", api.InstanceSummary{InstanceID: "b-1", OrchestrationName: "Bill", Status: api.StatusRunning,
			CreatedAt: T + 50, UpdatedAt: T + 60, ExecutionCount: 1, CurrentExecutionID: 1,
			ParentInstance: ptr("a-1"), ParentID: ptr[uint64](5)}},
		// Execution 1 never seen: created_at is the smallest timestamp.
		{"b-2", api.InstanceSummary{InstanceID: "b-2", OrchestrationName: "Bill", Status: api.StatusRunning,
			CreatedAt: T + 500, UpdatedAt: T + 510, ExecutionCount: 1, CurrentExecutionID: 2}},
		{"c-1", api.InstanceSummary{InstanceID: "c-1", Status: api.StatusRunning,
			CreatedAt: T + 700, UpdatedAt: T + 700, ExecutionCount: 1, CurrentExecutionID: 1}},
	} {
		got, ok := o.Instance(tc.id)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Instance(%q) = %+v, %v\nwant %+v", tc.id, got, ok, tc.want)
		}
	}
	if _, ok := o.Instance("nope"); ok {
		t.Error("Instance(nope) found")
	}
	if _, ok := o.Details("nope"); ok {
		t.Error("Details(nope) found")
	}
	if _, ok := o.Executions("nope"); ok {
		t.Error("Executions(nope) found")
	}
}

func TestBulkStatus(t *testing.T) {
	o := New(fleet())
	got := o.BulkStatus([]string{"a-1", "zzz", "a-1", "b-2", "a-2"})
	want := api.BulkStatusResponse{Statuses: []api.InstanceStatus{
		{InstanceID: "a-1", Status: api.StatusCompleted}, {InstanceID: "zzz", Status: api.StatusNotFound}, {InstanceID: "a-1", Status: api.StatusCompleted},
		{InstanceID: "b-2", Status: api.StatusRunning}, {InstanceID: "a-2", Status: api.StatusFailed},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if e := o.BulkStatus(nil); e.Statuses == nil || len(e.Statuses) != 0 {
		t.Errorf("empty request: got %#v, want an empty non-nil list", e.Statuses)
	}
}

func TestOrchestrationStats(t *testing.T) {
	o := New(fleet())
	for _, tc := range []struct {
		orch *string
		want api.OrchestrationStats
	}{
		{nil, api.OrchestrationStats{TotalCount: 8, RunningCount: 5, CompletedCount: 2, FailedCount: 1, ContinuedCount: 1}},
		{ptr("Ship"), api.OrchestrationStats{TotalCount: 5, RunningCount: 2, CompletedCount: 2, FailedCount: 1, ContinuedCount: 1}},
		{ptr("Bill"), api.OrchestrationStats{TotalCount: 2, RunningCount: 2}},
		{ptr("None"), api.OrchestrationStats{}},
	} {
		if got := o.OrchestrationStats(tc.orch); got != tc.want {
			t.Errorf("OrchestrationStats(%v) = %+v, want %+v", tc.orch, got, tc.want)
		}
	}
}

func TestPerformance(t *testing.T) {
	o := New(fleet())
	for _, tc := range []struct {
		name  string
		orch  string
		since *int64
		want  api.PerformanceMetrics
	}{
		// Durations {50, 300, 890}: avg floor(1240/3) = 413, p50 index 1,
		// p95 index floor(2.85) = 2. Running a-3/a-5 have none.
		{"all Ship", "Ship", nil, api.PerformanceMetrics{Count: 3, AvgDurationMs: 413, MinDurationMs: 50,
			MaxDurationMs: 890, P50DurationMs: 300, P95DurationMs: 890, P99DurationMs: 890}},
		{"since on created_at", "Ship", ptr[int64](T + 150), api.PerformanceMetrics{Count: 1, AvgDurationMs: 50,
			MinDurationMs: 50, MaxDurationMs: 50, P50DurationMs: 50, P95DurationMs: 50, P99DurationMs: 50}},
		{"only running", "Bill", nil, api.PerformanceMetrics{}},
		{"unknown", "None", nil, api.PerformanceMetrics{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := o.Performance(tc.orch, tc.since); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	o := New(fleet())
	now := int64(T + 1000)
	// long-running: Running and created < T+500 (a-3, a-5, b-1; b-2 at
	// exactly T+500 is not); recent failure: Failed, updated >= T+200 (a-2).
	got := o.Health(now, 500*time.Millisecond, 800*time.Millisecond)
	want := api.SystemHealth{TotalInstances: 8, RunningInstances: 5, CompletedInstances: 2, FailedInstances: 1,
		LongRunningInstances: 3, RecentFailures: 1, HealthScore: 12} // floor(100*(2-1)/8)
	if got != want {
		t.Errorf("Health = %+v, want %+v", got, want)
	}
	// a-2 updated at T+250 is outside a 700ms window (since T+300).
	if got := o.Health(now, 500*time.Millisecond, 700*time.Millisecond); got.RecentFailures != 0 {
		t.Errorf("RecentFailures with a 700ms window = %d, want 0", got.RecentFailures)
	}
	// More failed than completed: the score is clamped at 0.
	bad := New([]events.Event{
		ev("f1", 1, 1, 1, tStarted), ev("f1", 1, 2, 2, tFailed, failed("x")),
		ev("f2", 1, 1, 1, tStarted), ev("f2", 1, 2, 2, tFailed, failed("x")),
		ev("ok", 1, 1, 1, tStarted), ev("ok", 1, 2, 2, tCompleted),
	})
	if s := bad.Health(now, time.Hour, time.Hour).HealthScore; s != 0 {
		t.Errorf("HealthScore with failed > completed = %d, want 0", s)
	}
	if h := New(nil).Health(now, time.Hour, time.Hour); h != (api.SystemHealth{}) {
		t.Errorf("empty Health = %+v, want zeros", h)
	}
	good := New([]events.Event{
		ev("c1", 1, 1, 1, tStarted), ev("c1", 1, 2, 2, tCompleted),
		ev("c2", 1, 1, 1, tStarted), ev("c2", 1, 2, 2, tCompleted),
		ev("r", 1, 1, 1, tStarted),
	})
	if s := good.Health(now, time.Hour, time.Hour).HealthScore; s != 66 { // floor(200/3)
		t.Errorf("HealthScore 2 completed of 3 = %d, want 66", s)
	}
}

func TestProblems(t *testing.T) {
	o := New(fleet())
	now := int64(T + 1000)
	for _, tc := range []struct {
		name                            string
		lra, stuck, rfw                 time.Duration
		limit                           int
		longRunning, stuckIDs, failures []string
	}{
		// long-running: created < T+500, newest update first, ties by id;
		// stuck: Running, not long-running, updated < T+700 (c-1 at T+700 is not).
		{"defaults", 500 * time.Millisecond, 300 * time.Millisecond, 800 * time.Millisecond, 100,
			[]string{"a-3", "a-5", "b-1"}, []string{"b-2"}, []string{"a-2"}},
		{"limit", 500 * time.Millisecond, 300 * time.Millisecond, 800 * time.Millisecond, 1,
			[]string{"a-3"}, []string{"b-2"}, []string{"a-2"}},
		{"nothing long-running, all stuck", time.Hour, 0, 700 * time.Millisecond, 100,
			[]string{}, []string{"c-1", "b-2", "a-3", "a-5", "b-1"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := o.Problems(now, tc.lra, tc.stuck, tc.rfw, tc.limit)
			if p.LongRunning == nil || p.PotentiallyStuck == nil || p.RecentFailures == nil {
				t.Fatalf("nil list in %+v", p)
			}
			if g := ids(p.LongRunning); !reflect.DeepEqual(g, tc.longRunning) {
				t.Errorf("long_running = %q, want %q", g, tc.longRunning)
			}
			if g := ids(p.PotentiallyStuck); !reflect.DeepEqual(g, tc.stuckIDs) {
				t.Errorf("potentially_stuck = %q, want %q", g, tc.stuckIDs)
			}
			if g := ids(p.RecentFailures); !reflect.DeepEqual(g, tc.failures) {
				t.Errorf("recent_failures = %q, want %q", g, tc.failures)
			}
		})
	}
}

func activityFleet() []events.Event {
	return []events.Event{
		ev("x", 1, 1, 0, tStarted, name("Flow")),
		ev("x", 1, 2, 100, tActSched, name("Pay")),
		ev("x", 1, 3, 150, events.TypeActivityCompleted, src(2)),
		ev("x", 1, 4, 160, events.TypeActivityFailed, src(2)), // later outcome: ignored
		ev("x", 1, 5, 200, tActSched, name("Pay")),
		ev("x", 1, 6, 190, events.TypeActivityFailed, src(5)), // clock skew: -10 is kept
		ev("x", 1, 7, 300, tActSched, name("Pay")),
		ev("x", 1, 8, 310, events.TypeActivityCancelRequested, src(7)),
		ev("x", 1, 9, 300, tActSched, name("__duroxide_syscall:now")),
		ev("x", 1, 10, 301, events.TypeActivityCompleted, src(9)),
		ev("x", 1, 11, 400, tActSched, name("Ship")),
		ev("x", 1, 12, 410, events.TypeActivityCompleted, src(1)), // points at a Started: ignored
		ev("y", 1, 1, 0, tStarted, name("Other")),
		ev("y", 1, 2, 1000, tActSched, name("Pay")),
		ev("y", 1, 3, 1010, events.TypeActivityCompleted, src(2)),
		ev("z", 1, 4, 5, tActSched, name("Pay")), // its execution's name is not known yet
	}
}

func TestActivityStats(t *testing.T) {
	o := New(activityFleet())
	type row = api.ActivityStats
	for _, tc := range []struct {
		name   string
		orch   *string
		since  *int64
		system bool
		want   []row
	}{
		{"all", nil, nil, false, []row{
			// durations {-10, 10, 50}: avg floor(50/3) = 16, p50 index 1, p95 index 2
			{ActivityName: "Pay", TotalScheduled: 5, TotalCompleted: 2, TotalFailed: 1, TotalCancelled: 1,
				AvgDurationMs: 16, P50DurationMs: 10, P95DurationMs: 50, P99DurationMs: 50, FailureRate: 1.0 / 3},
			{ActivityName: "Ship", TotalScheduled: 1},
		}},
		{"with system", nil, nil, true, []row{
			{ActivityName: "Pay", TotalScheduled: 5, TotalCompleted: 2, TotalFailed: 1, TotalCancelled: 1,
				AvgDurationMs: 16, P50DurationMs: 10, P95DurationMs: 50, P99DurationMs: 50, FailureRate: 1.0 / 3},
			{ActivityName: "Ship", TotalScheduled: 1},
			{ActivityName: "__duroxide_syscall:now", TotalScheduled: 1, TotalCompleted: 1,
				AvgDurationMs: 1, P50DurationMs: 1, P95DurationMs: 1, P99DurationMs: 1},
		}},
		// durations {-10, 50}: avg floor(40/2) = 20, p50 index 1
		{"orchestration", ptr("Flow"), nil, false, []row{
			{ActivityName: "Pay", TotalScheduled: 3, TotalCompleted: 1, TotalFailed: 1, TotalCancelled: 1,
				AvgDurationMs: 20, P50DurationMs: 50, P95DurationMs: 50, P99DurationMs: 50, FailureRate: 0.5},
			{ActivityName: "Ship", TotalScheduled: 1},
		}},
		{"orchestration unknown yet", ptr(""), nil, false, []row{{ActivityName: "Pay", TotalScheduled: 1}}},
		{"since on scheduled time", nil, ptr[int64](300), false, []row{
			{ActivityName: "Pay", TotalScheduled: 2, TotalCompleted: 1, TotalCancelled: 1,
				AvgDurationMs: 10, P50DurationMs: 10, P95DurationMs: 10, P99DurationMs: 10},
			{ActivityName: "Ship", TotalScheduled: 1},
		}},
		{"none", ptr("Nothing"), nil, true, []row{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := o.ActivityStats(tc.orch, tc.since, tc.system)
			if !reflect.DeepEqual(got.Activities, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got.Activities, tc.want)
			}
		})
	}
}

// pendingHistory exercises every pending-work rule in one Running execution.
func pendingHistory() []events.Event {
	return []events.Event{
		ev("p", 1, 1, 0, tStarted, name("P")),
		ev("p", 1, 2, 10, events.TypeExternalSubscribed, name("go")),
		ev("p", 1, 3, 11, events.TypeExternalSubscribed, name("go")),
		ev("p", 1, 4, 12, events.TypeExternalSubscribedCancelled, src(2)),
		ev("p", 1, 5, 13, events.TypeExternalSubscribed, name("go")),
		ev("p", 1, 6, 14, events.TypeExternalEvent, name("go")), // satisfies 3 (2 is cancelled)
		ev("p", 1, 7, 15, events.TypeExternalSubscribedPersistent, name("go")),
		ev("p", 1, 8, 16, events.TypeExternalEventPersistent, name("other")),
		ev("p", 1, 9, 17, events.TypeExternalEvent, name("late")), // counts before its subscription
		ev("p", 1, 10, 18, events.TypeExternalSubscribed, name("late")),
		ev("p", 1, 11, 20, events.TypeTimerCreated, fire(5)), // fires in the past: delay 0
		ev("p", 1, 12, 21, events.TypeTimerCreated, fire(100)),
		ev("p", 1, 13, 100, events.TypeTimerFired, src(12), fire(100)),
		ev("p", 1, 14, 101, events.TypeTimerFired, src(5)), // wrong target type: ignored
		ev("p", 1, 15, 102, events.TypeSubOrchestrationScheduled, name("C"), inst("sub::15")),
		ev("p", 1, 16, 103, events.TypeSubOrchestrationScheduled, name("D"), inst("explicit-child")),
		ev("p", 1, 17, 104, events.TypeSubOrchestrationScheduled, name("E"), inst("sub::17")),
		ev("p", 1, 18, 105, events.TypeSubOrchestrationFailed, src(17)),
		ev("p", 1, 19, 106, tActSched, name("A"), tag("gpu"), input("in")),
		ev("p", 1, 20, 107, tActSched, name("__duroxide_syscall:x")),
		ev("p", 1, 21, 108, events.TypeCustomStatusUpdated, status(ptr("s1"))),
		ev("p", 1, 22, 109, events.TypeCustomStatusUpdated, status(nil)), // sets null
		// q ended with ContinuedAsNew; execution 2 has not started.
		ev("q", 1, 1, 0, tStarted, name("Q"), initialStatus("init")),
		ev("q", 1, 2, 1, tActSched, name("A")),
		ev("q", 1, 3, 5, tCAN),
		// r: only execution 2, out of order, with an unknown type.
		ev("r", 2, 3, 50, "FutureThing"),
		ev("r", 2, 2, 40, tActSched, name("B")),
	}
}

func TestPendingWork(t *testing.T) {
	o := New(pendingHistory())

	d, ok := o.Details("p")
	if !ok {
		t.Fatal("p not found")
	}
	if d.Summary.CustomStatus != nil {
		t.Errorf("custom_status = %q, want null (a null CustomStatusUpdated is a candidate)", *d.Summary.CustomStatus)
	}
	want := &api.ExecutionDetails{
		ExecutionID: 1, Status: api.StatusRunning, LastEventAt: 109,
		PendingActivities: []api.PendingActivity{
			{CorrelationID: 19, Name: "A", Input: "in", Tag: ptr("gpu"), ScheduledAt: 106},
			{CorrelationID: 20, Name: "__duroxide_syscall:x", ScheduledAt: 107},
		},
		PendingTimers: []api.PendingTimer{{CorrelationID: 11, DelayMs: 0, ScheduledAt: 20, FireAt: 5}},
		PendingEvents: []api.PendingEvent{
			{CorrelationID: 5, Name: "go", Persistent: false, SubscribedAt: 13},
			{CorrelationID: 7, Name: "go", Persistent: true, SubscribedAt: 15},
		},
		PendingSubOrchestrations: []api.PendingSubOrchestration{
			{CorrelationID: 15, Name: "C", Instance: "p::sub::15", ScheduledAt: 102},
			{CorrelationID: 16, Name: "D", Instance: "explicit-child", ScheduledAt: 103},
		},
	}
	if !reflect.DeepEqual(d.CurrentExecution, want) {
		t.Errorf("current_execution\n got %+v\nwant %+v", d.CurrentExecution, want)
	}

	q, _ := o.Details("q")
	wantQ := &api.ExecutionDetails{ExecutionID: 1, Status: api.StatusContinuedAsNew, LastEventAt: 5,
		PendingActivities: []api.PendingActivity{}, PendingTimers: []api.PendingTimer{},
		PendingEvents: []api.PendingEvent{}, PendingSubOrchestrations: []api.PendingSubOrchestration{}}
	if q.Summary.Status != api.StatusRunning || !reflect.DeepEqual(q.CurrentExecution, wantQ) {
		t.Errorf("q: status %s, current_execution %+v; want Running with %+v", q.Summary.Status, q.CurrentExecution, wantQ)
	}
	if q.Summary.CustomStatus == nil || *q.Summary.CustomStatus != "init" {
		t.Errorf("q custom_status = %v, want init", q.Summary.CustomStatus)
	}
	// Empty pending lists must marshal as [], not null.
	b, _ := json.Marshal(q.CurrentExecution)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"pending_activities", "pending_timers", "pending_events", "pending_sub_orchestrations"} {
		if string(m[k]) != "[]" {
			t.Errorf("q %s = %s, want []", k, m[k])
		}
	}

	r, _ := o.Details("r")
	wantR := api.InstanceDetails{
		Summary: api.InstanceSummary{InstanceID: "r", Status: api.StatusRunning, CreatedAt: 40, UpdatedAt: 50,
			ExecutionCount: 1, CurrentExecutionID: 2},
		Executions: []api.ExecutionSummary{{ExecutionID: 2, Status: api.StatusRunning, StartedAt: 40, EventCount: 2}},
		CurrentExecution: &api.ExecutionDetails{ExecutionID: 2, Status: api.StatusRunning, LastEventAt: 50,
			PendingActivities: []api.PendingActivity{{CorrelationID: 2, Name: "B", ScheduledAt: 40}},
			PendingTimers:     []api.PendingTimer{}, PendingEvents: []api.PendingEvent{},
			PendingSubOrchestrations: []api.PendingSubOrchestration{}},
	}
	if !reflect.DeepEqual(r, wantR) {
		t.Errorf("r\n got %+v\nwant %+v", r, wantR)
	}

	// Completed instances have no current execution.
	f := New(fleet())
	if d, _ := f.Details("a-1"); d.CurrentExecution != nil {
		t.Errorf("a-1 (Completed) current_execution = %+v, want null", d.CurrentExecution)
	}
}

func TestExecutionsAndCustomStatus(t *testing.T) {
	o := New([]events.Event{
		ev("cs", 1, 1, 10, tStarted, name("N"), parent("pp", 9)),
		ev("cs", 1, 2, 11, events.TypeCustomStatusUpdated, status(ptr("one"))),
		ev("cs", 1, 3, 15, tCAN),
		ev("cs", 2, 1, 20, tStarted, name("N2"), parent("zz", 1)), // no initial status: not a candidate
		ev("cs", 2, 2, 30, tFailed, failed("bad")),
		ev("cs2", 1, 1, 10, tStarted, name("N"), initialStatus("zero")),
		ev("cs2", 1, 2, 11, events.TypeCustomStatusUpdated, status(ptr("one"))),
		ev("cs2", 1, 3, 15, tCAN),
		ev("cs2", 2, 1, 20, tStarted, name("N"), initialStatus("two")),
		// Execution 1 unseen: created_at is the smallest timestamp, not
		// execution 2's Started.
		ev("m", 2, 1, 100, tStarted, name("M")),
		ev("m", 2, 5, 90, "FutureThing"),
	})
	if m, _ := o.Instance("m"); m.CreatedAt != 90 || m.UpdatedAt != 100 || m.OrchestrationName != "M" {
		t.Errorf("m summary = %+v, want created_at 90, updated_at 100, name M", m)
	}
	s, _ := o.Instance("cs")
	if s.CustomStatus == nil || *s.CustomStatus != "one" || s.OrchestrationName != "N2" ||
		s.ParentInstance == nil || *s.ParentInstance != "pp" || *s.ParentID != 9 || s.CreatedAt != 10 {
		t.Errorf("cs summary = %+v", s)
	}
	if s2, _ := o.Instance("cs2"); s2.CustomStatus == nil || *s2.CustomStatus != "two" {
		t.Errorf("cs2 custom_status = %v, want two", s2.CustomStatus)
	}
	xl, _ := o.Executions("cs")
	want := []api.ExecutionSummary{
		{ExecutionID: 1, Status: api.StatusContinuedAsNew, StartedAt: 10, CompletedAt: ptr[api.Time](15), EventCount: 3, DurationMs: ptr[int64](5)},
		{ExecutionID: 2, Status: api.StatusFailed, StartedAt: 20, CompletedAt: ptr[api.Time](30), EventCount: 2, DurationMs: ptr[int64](10),
			Error: &api.Error{Category: "application", Kind: "OrchestrationFailed", Message: "bad"}},
	}
	if !reflect.DeepEqual(xl.Executions, want) {
		t.Errorf("executions\n got %+v\nwant %+v", xl.Executions, want)
	}
	// Instance duration: latest terminal (30) - created_at (10).
	if p := o.Performance("N2", nil); p.Count != 1 || p.AvgDurationMs != 20 {
		t.Errorf("Performance(N2) = %+v, want one duration of 20", p)
	}
}

func TestQueues(t *testing.T) {
	o := New(append(pendingHistory(), fleet()...))
	// p: 2 activities, 1 timer, 2 events, 2 sub-orchestrations; q (CAN): none;
	// r: 1 activity; fleet: a-3, a-5, b-2, c-1 one activity each, b-1 one timer.
	for _, tc := range []struct {
		name  string
		snaps []events.QueueSnapshot
		orch  uint64
		work  uint64
	}{
		{"no snapshot", nil, 0, 0},
		{"newest by timestamp", []events.QueueSnapshot{
			{OrchestratorQueue: 9, WorkerQueue: 9, TimestampMs: 100},
			{OrchestratorQueue: 3, WorkerQueue: 4, TimestampMs: 300},
			{OrchestratorQueue: 7, WorkerQueue: 8, TimestampMs: 200},
		}, 3, 4},
		{"tie broken by largest values", []events.QueueSnapshot{
			{OrchestratorQueue: 1, WorkerQueue: 50, TimestampMs: 300},
			{OrchestratorQueue: 2, WorkerQueue: 0, TimestampMs: 300},
		}, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := o.Queues(tc.snaps)
			want := api.QueueMetrics{PendingActivities: 7, PendingTimers: 2, PendingEvents: 2,
				PendingSubOrchestrations: 2, OrchestratorQueueDepth: tc.orch, ActivityQueueDepth: tc.work}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestHistory(t *testing.T) {
	o := New([]events.Event{
		ev("h", 2, 1, 5, tStarted, raw(`"2/1"`)),
		ev("h", 1, 2, 2, tCAN, raw(`"1/2"`)),
		ev("h", 1, 1, 1, tStarted, raw(`"1/1 first"`)),
		ev("h", 1, 1, 1, tStarted, raw(`"1/1 second copy"`)),
		ev("h", 2, 1, 5, tStarted, raw(`"2/1 again"`)),
		ev("h", 1, 10, 3, "FutureThing", raw(`"1/10"`)),
	})
	str := func(h api.History) []string {
		out := []string{}
		for _, r := range h.Events {
			out = append(out, string(r))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		id    string
		exec  *uint64
		found bool
		want  []string
	}{
		{"all, ordered, one copy", "h", nil, true, []string{`"1/1 first"`, `"1/2"`, `"1/10"`, `"2/1"`}},
		{"one execution", "h", ptr[uint64](2), true, []string{`"2/1"`}},
		{"missing execution", "h", ptr[uint64](3), false, nil},
		{"missing instance", "nope", nil, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, found := o.History(tc.id, tc.exec)
			if found != tc.found {
				t.Fatalf("found = %v, want %v", found, tc.found)
			}
			if found && !reflect.DeepEqual(str(h), tc.want) {
				t.Errorf("events = %q, want %q", str(h), tc.want)
			}
		})
	}
	if xl, _ := o.Executions("h"); len(xl.Executions) != 2 || xl.Executions[0].EventCount != 3 {
		t.Errorf("executions of h = %+v, want 2 with 3 events in the first", xl.Executions)
	}
}

func TestSummarize(t *testing.T) {
	seq := func(n int) []int64 {
		v := make([]int64, n)
		for i := range v {
			v[n-1-i] = int64(i + 1) // descending on purpose: summarize sorts
		}
		return v
	}
	for _, tc := range []struct {
		name string
		in   []int64
		want distribution
	}{
		{"empty", nil, distribution{}},
		{"one", []int64{7}, distribution{avg: 7, min: 7, max: 7, p50: 7, p95: 7, p99: 7}},
		{"negative sum floors down", []int64{-3, 0}, distribution{avg: -2, min: -3, max: 0, p50: 0, p95: 0, p99: 0}},
		{"1..20", seq(20), distribution{avg: 10, min: 1, max: 20, p50: 11, p95: 20, p99: 20}},
		{"1..100", seq(100), distribution{avg: 50, min: 1, max: 100, p50: 51, p95: 96, p99: 100}},
		{"1..1000", seq(1000), distribution{avg: 500, min: 1, max: 1000, p50: 501, p95: 951, p99: 991}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := summarize(tc.in); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ a, b, want int64 }{{7, 2, 3}, {-7, 2, -4}, {-8, 2, -4}, {0, 3, 0}, {-1, 100, -1}} {
		if got := floorDiv(tc.a, tc.b); got != tc.want {
			t.Errorf("floorDiv(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
