package projection

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/events"
)

const (
	tA = events.TypeActivityScheduled
	tS = events.TypeOrchestrationStarted
)

// pendingIDs lists the correlation ids of pending work of one kind.
func pendingIDs(r Rows, kind string) []uint64 {
	var ids []uint64
	for _, w := range r.Work {
		if w.Pending && w.Kind == kind {
			ids = append(ids, w.CorrelationID)
		}
	}
	return ids
}

func work(r Rows, exec, corr uint64) WorkRow {
	for _, w := range r.Work {
		if w.ExecutionID == exec && w.CorrelationID == corr {
			return w
		}
	}
	return WorkRow{}
}

func activity(r Rows, exec, id uint64) ActivityRow {
	for _, a := range r.Activities {
		if a.ExecutionID == exec && a.EventID == id {
			return a
		}
	}
	return ActivityRow{}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func TestDeriveStatus(t *testing.T) {
	appErr := &events.ErrorDetails{Category: "application", Kind: "OrchestrationFailed", Message: "bad"}
	tests := []struct {
		name     string
		h        []events.Event
		wantInst InstanceRow
		wantExec []ExecutionRow
	}{
		{
			name: "started only is Running",
			h: []events.Event{
				ev(1, 1, 100, tS, name("Order"), version("1.0")),
				ev(1, 2, 110, tA, name("Charge")),
			},
			wantInst: InstanceRow{InstanceID: testInstance, OrchestrationName: "Order", OrchestrationVersion: "1.0",
				Status: StatusRunning, CreatedAtMs: 100, UpdatedAtMs: 110, ExecutionCount: 1, CurrentExecutionID: 1,
				PendingActivities: 1, EventCount: 2},
			wantExec: []ExecutionRow{{InstanceID: testInstance, ExecutionID: 1, OrchestrationName: "Order",
				Status: StatusRunning, StartedAtMs: 100, LastEventAtMs: 110, EventCount: 2}},
		},
		{
			name: "completed",
			h: []events.Event{
				ev(1, 1, 100, tS, name("Order"), version("1.0")),
				ev(1, 2, 150, events.TypeOrchestrationCompleted, output("done")),
			},
			wantInst: InstanceRow{InstanceID: testInstance, OrchestrationName: "Order", OrchestrationVersion: "1.0",
				Status: StatusCompleted, CreatedAtMs: 100, UpdatedAtMs: 150, ExecutionCount: 1, CurrentExecutionID: 1,
				Output: some("done"), DurationMs: someInt(50), EventCount: 2},
			wantExec: []ExecutionRow{{InstanceID: testInstance, ExecutionID: 1, OrchestrationName: "Order",
				Status: StatusCompleted, StartedAtMs: 100, CompletedAtMs: someInt(150), LastEventAtMs: 150,
				EventCount: 2, DurationMs: someInt(50), Output: some("done")}},
		},
		{
			name: "failed; a later event keeps updated_at and last_event_at moving",
			h: []events.Event{
				ev(1, 1, 100, tS, name("Order")),
				ev(1, 2, 120, events.TypeOrchestrationFailed, failed("OrchestrationFailed", "bad")),
				ev(1, 3, 130, events.TypeKeyValuesCleared),
			},
			wantInst: InstanceRow{InstanceID: testInstance, OrchestrationName: "Order", Status: StatusFailed,
				CreatedAtMs: 100, UpdatedAtMs: 130, ExecutionCount: 1, CurrentExecutionID: 1, Error: appErr,
				DurationMs: someInt(20), EventCount: 3},
			wantExec: []ExecutionRow{{InstanceID: testInstance, ExecutionID: 1, OrchestrationName: "Order",
				Status: StatusFailed, StartedAtMs: 100, CompletedAtMs: someInt(120), LastEventAtMs: 130,
				EventCount: 3, DurationMs: someInt(20), Error: appErr}},
		},
		{
			name: "the lifecycle event with the highest event id decides; output only with Completed",
			h: []events.Event{
				ev(1, 1, 100, tS, name("Order")),
				ev(1, 3, 140, events.TypeOrchestrationCompleted, output("early")),
				ev(1, 5, 120, events.TypeOrchestrationFailed, failed("OrchestrationFailed", "bad")),
			},
			wantInst: InstanceRow{InstanceID: testInstance, OrchestrationName: "Order", Status: StatusFailed,
				CreatedAtMs: 100, UpdatedAtMs: 140, ExecutionCount: 1, CurrentExecutionID: 1, Error: appErr,
				DurationMs: someInt(20), EventCount: 3},
			wantExec: []ExecutionRow{{InstanceID: testInstance, ExecutionID: 1, OrchestrationName: "Order",
				Status: StatusFailed, StartedAtMs: 100, CompletedAtMs: someInt(120), LastEventAtMs: 140,
				EventCount: 3, DurationMs: someInt(20), Error: appErr}},
		},
		{
			name: "two Started in one execution: the lowest event id gives name and started_at",
			h: []events.Event{
				ev(1, 3, 130, tS, name("Second"), version("2")),
				ev(1, 1, 100, tS, name("First"), version("1")),
			},
			wantInst: InstanceRow{InstanceID: testInstance, OrchestrationName: "First", OrchestrationVersion: "1",
				Status: StatusRunning, CreatedAtMs: 100, UpdatedAtMs: 130, ExecutionCount: 1, CurrentExecutionID: 1,
				EventCount: 2},
			wantExec: []ExecutionRow{{InstanceID: testInstance, ExecutionID: 1, OrchestrationName: "First",
				Status: StatusRunning, StartedAtMs: 100, LastEventAtMs: 130, EventCount: 2}},
		},
		{
			name: "no OrchestrationStarted yet: Running, started_at and created_at = smallest timestamp, no name",
			h: []events.Event{
				ev(1, 3, 300, events.TypeActivityCompleted, src(2)),
				ev(1, 2, 200, tA, name("Charge")),
			},
			wantInst: InstanceRow{InstanceID: testInstance, Status: StatusRunning, CreatedAtMs: 200, UpdatedAtMs: 300,
				ExecutionCount: 1, CurrentExecutionID: 1, EventCount: 2},
			wantExec: []ExecutionRow{{InstanceID: testInstance, ExecutionID: 1, Status: StatusRunning,
				StartedAtMs: 200, LastEventAtMs: 300, EventCount: 2}},
		},
		{
			name: "terminal event without its Started: duration from the smallest timestamp",
			h: []events.Event{
				ev(1, 2, 200, tA, name("Charge")),
				ev(1, 4, 260, events.TypeOrchestrationCompleted, output("x")),
			},
			wantInst: InstanceRow{InstanceID: testInstance, Status: StatusCompleted, CreatedAtMs: 200, UpdatedAtMs: 260,
				ExecutionCount: 1, CurrentExecutionID: 1, Output: some("x"), DurationMs: someInt(60), EventCount: 2},
			wantExec: []ExecutionRow{{InstanceID: testInstance, ExecutionID: 1, Status: StatusCompleted,
				StartedAtMs: 200, CompletedAtMs: someInt(260), LastEventAtMs: 260, EventCount: 2,
				DurationMs: someInt(60), Output: some("x")}},
		},
		{
			name: "clock skew: negative durations are kept",
			h: []events.Event{
				ev(1, 1, 500, tS, name("Order")),
				ev(1, 2, 450, events.TypeOrchestrationCompleted, output("")),
			},
			wantInst: InstanceRow{InstanceID: testInstance, OrchestrationName: "Order", Status: StatusCompleted,
				CreatedAtMs: 500, UpdatedAtMs: 500, ExecutionCount: 1, CurrentExecutionID: 1, Output: some(""),
				DurationMs: someInt(-50), EventCount: 2},
			wantExec: []ExecutionRow{{InstanceID: testInstance, ExecutionID: 1, OrchestrationName: "Order",
				Status: StatusCompleted, StartedAtMs: 500, CompletedAtMs: someInt(450), LastEventAtMs: 500,
				EventCount: 2, DurationMs: someInt(-50), Output: some("")}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustDerive(t, tc.h)
			eq(t, "instance", r.Instance, tc.wantInst)
			eq(t, "executions", r.Executions, tc.wantExec)
			eq(t, "version", r.Version, uint64(len(tc.h)))
		})
	}
}

func TestDeriveContinueAsNew(t *testing.T) {
	exec1 := []events.Event{
		ev(1, 1, 100, tS, name("Counter"), version("1"), parent("root", 7)),
		ev(1, 2, 110, tA, name("Echo")), // never completed: not pending after CAN
		ev(1, 3, 120, events.TypeOrchestrationContinuedAsNew, input("1")),
	}
	t.Run("latest execution running", func(t *testing.T) {
		h := append(exec1[:3:3],
			ev(2, 1, 130, tS, name("Counter"), version("2"), parent("other", 9)),
			ev(2, 2, 140, tA, name("Echo")),
		)
		r := mustDerive(t, h)
		eq(t, "instance", r.Instance, InstanceRow{InstanceID: testInstance, OrchestrationName: "Counter",
			OrchestrationVersion: "2", Status: StatusRunning, CreatedAtMs: 100, UpdatedAtMs: 140, ExecutionCount: 2,
			CurrentExecutionID: 2, ParentInstance: some("root"), ParentID: events.OptUint{Value: 7, Valid: true},
			PendingActivities: 1, EventCount: 5})
		eq(t, "execution 1", r.Executions[0], ExecutionRow{InstanceID: testInstance, ExecutionID: 1,
			OrchestrationName: "Counter", Status: StatusContinuedAsNew, StartedAtMs: 100, CompletedAtMs: someInt(120),
			LastEventAtMs: 120, EventCount: 3, DurationMs: someInt(20)})
		eq(t, "pending activities", pendingIDs(r, KindActivity), []uint64{2})
		if w := work(r, 1, 2); w.Pending || w.Kind != KindActivity {
			t.Errorf("execution 1's open activity: %+v, want a non-pending activity row", w)
		}
		eq(t, "activity in execution 1", activity(r, 1, 2).Outcome, OutcomePending)
	})
	t.Run("continued, next execution not started", func(t *testing.T) {
		r := mustDerive(t, exec1)
		eq(t, "status", r.Instance.Status, StatusRunning)
		eq(t, "execution status", r.Executions[0].Status, StatusContinuedAsNew)
		eq(t, "current", r.Instance.CurrentExecutionID, uint64(1))
		eq(t, "duration", r.Instance.DurationMs, OptInt{})
		eq(t, "pending", pendingIDs(r, KindActivity), []uint64(nil))
		eq(t, "pending counter", r.Instance.PendingActivities, uint32(0))
	})
	t.Run("next execution seen without its Started", func(t *testing.T) {
		h := append(exec1[:3:3], ev(2, 2, 140, tA, name("Echo")), ev(2, 3, 90, events.TypeKeyValuesCleared))
		r := mustDerive(t, h)
		// Name and version from the highest execution with a Started.
		eq(t, "name", r.Instance.OrchestrationName, "Counter")
		eq(t, "version", r.Instance.OrchestrationVersion, "1")
		eq(t, "execution 2", r.Executions[1], ExecutionRow{InstanceID: testInstance, ExecutionID: 2,
			Status: StatusRunning, StartedAtMs: 90, LastEventAtMs: 140, EventCount: 2})
		eq(t, "activity orchestration name", activity(r, 2, 2).OrchestrationName, "")
		// created_at is execution 1's Started even though a smaller timestamp exists.
		eq(t, "created_at", r.Instance.CreatedAtMs, int64(100))
		eq(t, "pending", pendingIDs(r, KindActivity), []uint64{2})
	})
	t.Run("output and error come from the latest execution", func(t *testing.T) {
		h := append(exec1[:3:3],
			ev(2, 1, 130, tS, name("Counter")),
			ev(2, 2, 170, events.TypeOrchestrationCompleted, output("final")))
		r := mustDerive(t, h)
		eq(t, "status", r.Instance.Status, StatusCompleted)
		eq(t, "output", r.Instance.Output, some("final"))
		eq(t, "duration = terminal - created_at", r.Instance.DurationMs, someInt(70))
		eq(t, "execution 1 output", r.Executions[0].Output, events.OptString{})
	})
	t.Run("a gap in execution ids", func(t *testing.T) {
		h := append(exec1[:3:3], ev(3, 1, 200, tS, name("CounterV3"), version("3")))
		r := mustDerive(t, h)
		eq(t, "execution_count", r.Instance.ExecutionCount, uint64(2))
		eq(t, "current", r.Instance.CurrentExecutionID, uint64(3))
		eq(t, "name", r.Instance.OrchestrationName, "CounterV3")
		eq(t, "version", r.Instance.OrchestrationVersion, "3")
	})
}

func TestDeriveParentAndCreatedAt(t *testing.T) {
	tests := []struct {
		name        string
		h           []events.Event
		wantParent  events.OptString
		wantPID     events.OptUint
		wantCreated int64
	}{
		{
			name:        "parent from execution 1",
			h:           []events.Event{ev(1, 1, 100, tS, parent("p", 2)), ev(1, 2, 90, events.TypeKeyValuesCleared)},
			wantParent:  some("p"),
			wantPID:     events.OptUint{Value: 2, Valid: true},
			wantCreated: 100,
		},
		{
			name: "execution 2's parent is ignored",
			h: []events.Event{ev(1, 1, 100, tS), ev(1, 2, 101, events.TypeOrchestrationContinuedAsNew),
				ev(2, 1, 102, tS, parent("p", 2))},
			wantCreated: 100,
		},
		{
			name:        "execution 1 not seen: no parent, created_at = smallest timestamp",
			h:           []events.Event{ev(2, 1, 300, tS, parent("p", 2)), ev(2, 2, 250, events.TypeKeyValuesCleared)},
			wantCreated: 250,
		},
		{
			name: "execution 1 seen without its Started",
			h: []events.Event{ev(1, 2, 120, tA), ev(2, 1, 300, tS, parent("p", 2)),
				ev(1, 5, 110, events.TypeOrchestrationContinuedAsNew)},
			wantCreated: 110,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustDerive(t, tc.h)
			eq(t, "parent_instance", r.Instance.ParentInstance, tc.wantParent)
			eq(t, "parent_id", r.Instance.ParentID, tc.wantPID)
			eq(t, "created_at", r.Instance.CreatedAtMs, tc.wantCreated)
		})
	}
}

func TestDeriveCustomStatus(t *testing.T) {
	cs := events.TypeCustomStatusUpdated
	nullStatus := func(e *events.Event) { e.Status = events.OptString{} }
	tests := []struct {
		name string
		h    []events.Event
		want events.OptString
	}{
		{"none", []events.Event{ev(1, 1, 1, tS)}, events.OptString{}},
		{"latest update wins", []events.Event{ev(1, 1, 1, tS), ev(1, 3, 3, cs, status("b")), ev(1, 2, 2, cs, status("a"))}, some("b")},
		{"null status is a candidate", []events.Event{ev(1, 1, 1, tS), ev(1, 2, 2, cs, status("a")), ev(1, 3, 3, cs, nullStatus)}, events.OptString{}},
		{"empty string is a value", []events.Event{ev(1, 2, 2, cs, status(""))}, some("")},
		{"initial_custom_status counts", []events.Event{ev(1, 1, 1, tS, initStatus("n=0"))}, some("n=0")},
		{"update after initial wins", []events.Event{ev(1, 1, 1, tS, initStatus("n=0")), ev(1, 2, 2, cs, status("x"))}, some("x")},
		{
			"initial of a later execution beats updates of an earlier one",
			[]events.Event{ev(1, 9, 9, cs, status("old")), ev(1, 10, 10, events.TypeOrchestrationContinuedAsNew), ev(2, 1, 11, tS, initStatus("n=1"))},
			some("n=1"),
		},
		{
			"a Started without initial_custom_status is not a candidate",
			[]events.Event{ev(1, 9, 9, cs, status("old")), ev(1, 10, 10, events.TypeOrchestrationContinuedAsNew), ev(2, 1, 11, tS)},
			some("old"),
		},
		{
			"execution order beats timestamps",
			[]events.Event{ev(1, 2, 500, cs, status("exec1")), ev(2, 2, 100, cs, status("exec2"))},
			some("exec2"),
		},
		{
			"null in the latest execution",
			[]events.Event{ev(1, 2, 1, cs, status("a")), ev(2, 1, 2, tS, initStatus("b")), ev(2, 2, 3, cs, nullStatus)},
			events.OptString{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eq(t, "custom_status", mustDerive(t, tc.h).Instance.CustomStatus, tc.want)
		})
	}
}

func TestDeriveActivities(t *testing.T) {
	boom := &events.ErrorDetails{Category: "application", Kind: "ActivityFailed", Message: "boom"}
	base := []events.Event{ev(1, 1, 100, tS, name("Order")), ev(1, 2, 110, tA, name("Charge"), input("in"), tag("gpu"))}
	tests := []struct {
		name    string
		extra   []events.Event
		want    ActivityRow // InstanceID..ScheduledAtMs are filled in below
		pending bool
	}{
		{"pending", nil, ActivityRow{Outcome: OutcomePending}, true},
		{"completed", []events.Event{ev(1, 3, 150, events.TypeActivityCompleted, src(2))},
			ActivityRow{Outcome: OutcomeCompleted, OutcomeAtMs: someInt(150), DurationMs: someInt(40)}, false},
		{"failed", []events.Event{ev(1, 3, 170, events.TypeActivityFailed, src(2), failed("ActivityFailed", "boom"))},
			ActivityRow{Outcome: OutcomeFailed, OutcomeAtMs: someInt(170), DurationMs: someInt(60), Error: boom}, false},
		{"cancelled: no duration", []events.Event{ev(1, 3, 180, events.TypeActivityCancelRequested, src(2))},
			ActivityRow{Outcome: OutcomeCancelled, OutcomeAtMs: someInt(180)}, false},
		{"lowest event id wins over later outcomes", []events.Event{
			ev(1, 6, 300, events.TypeActivityCompleted, src(2)),
			ev(1, 4, 200, events.TypeActivityCancelRequested, src(2)),
			ev(1, 5, 150, events.TypeActivityFailed, src(2), failed("ActivityFailed", "boom")),
		}, ActivityRow{Outcome: OutcomeCancelled, OutcomeAtMs: someInt(200)}, false},
		{"lowest event id wins even with an earlier timestamp elsewhere", []events.Event{
			ev(1, 3, 400, events.TypeActivityFailed, src(2), failed("ActivityFailed", "boom")),
			ev(1, 4, 120, events.TypeActivityCompleted, src(2)),
		}, ActivityRow{Outcome: OutcomeFailed, OutcomeAtMs: someInt(400), DurationMs: someInt(290), Error: boom}, false},
		{"clock skew: negative duration kept", []events.Event{ev(1, 3, 100, events.TypeActivityCompleted, src(2))},
			ActivityRow{Outcome: OutcomeCompleted, OutcomeAtMs: someInt(100), DurationMs: someInt(-10)}, false},
		{"outcome with null source is ignored", []events.Event{ev(1, 3, 150, events.TypeActivityCompleted)},
			ActivityRow{Outcome: OutcomePending}, true},
		{"outcome pointing at nothing is ignored", []events.Event{ev(1, 3, 150, events.TypeActivityCompleted, src(99))},
			ActivityRow{Outcome: OutcomePending}, true},
		{"outcome pointing at the wrong type is ignored", []events.Event{
			ev(1, 3, 150, events.TypeTimerFired, src(2)),
			ev(1, 4, 150, events.TypeSubOrchestrationCompleted, src(2)),
			ev(1, 5, 150, events.TypeExternalSubscribedCancelled, src(2)),
			ev(1, 6, 150, "FutureCompletion", src(2)),
			ev(1, 7, 150, events.TypeActivityCompleted, src(1)), // points at the Started
		}, ActivityRow{Outcome: OutcomePending}, true},
		{"outcome in another execution is ignored", []events.Event{
			ev(1, 3, 150, events.TypeOrchestrationContinuedAsNew),
			ev(2, 1, 160, tS, name("Order")),
			ev(2, 2, 170, events.TypeActivityCompleted, src(2)),
		}, ActivityRow{Outcome: OutcomePending}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustDerive(t, append(base[:2:2], tc.extra...))
			want := tc.want
			want.InstanceID, want.ExecutionID, want.EventID = testInstance, 1, 2
			want.ActivityName, want.OrchestrationName, want.ScheduledAtMs = "Charge", "Order", 110
			eq(t, "activity", activity(r, 1, 2), want)
			eq(t, "work row", work(r, 1, 2), WorkRow{InstanceID: testInstance, ExecutionID: 1, Kind: KindActivity,
				CorrelationID: 2, Pending: tc.pending, Name: "Charge", Input: "in", Tag: some("gpu"), ScheduledAtMs: 110})
		})
	}
	t.Run("system calls are marked and still pending work", func(t *testing.T) {
		r := mustDerive(t, []events.Event{ev(1, 1, 1, tS), ev(1, 2, 2, tA, name(events.SystemCallPrefix+"new_guid")), ev(1, 3, 3, tA, name("X"))})
		eq(t, "system", activity(r, 1, 2).IsSystem, true)
		eq(t, "not system", activity(r, 1, 3).IsSystem, false)
		eq(t, "pending", pendingIDs(r, KindActivity), []uint64{2, 3})
		eq(t, "counter", r.Instance.PendingActivities, uint32(2))
	})
	t.Run("sparse event ids (history partly arrived)", func(t *testing.T) {
		r := mustDerive(t, []events.Event{
			ev(1, 13, 60, events.TypeTimerFired, src(12)),
			ev(1, 4, 20, tA, name("X")),
			ev(1, 12, 50, events.TypeTimerCreated, fireAt(90)),
			ev(1, 9, 40, events.TypeActivityCompleted, src(4)),
			ev(1, 1, 10, tS),
			ev(1, 20, 70, tA, name("Y")),
			ev(1, 30, 80, events.TypeActivityCompleted, src(20)),
		})
		eq(t, "activity 4", activity(r, 1, 4).Outcome, OutcomeCompleted)
		eq(t, "activity 20", activity(r, 1, 20).Outcome, OutcomeCompleted)
		eq(t, "pending", len(pendingIDs(r, KindActivity))+len(pendingIDs(r, KindTimer)), 0)
	})
	t.Run("terminal instance has no pending work", func(t *testing.T) {
		r := mustDerive(t, append(base[:2:2], ev(1, 3, 200, events.TypeOrchestrationFailed, failed("OrchestrationFailed", "x"))))
		eq(t, "pending", len(pendingIDs(r, KindActivity)), 0)
		eq(t, "outcome", activity(r, 1, 2).Outcome, OutcomePending)
	})
}

func TestDeriveTimers(t *testing.T) {
	h := []events.Event{
		ev(1, 1, 1000, tS),
		ev(1, 2, 1000, events.TypeTimerCreated, fireAt(6000)),
		ev(1, 3, 1100, events.TypeTimerCreated, fireAt(900)), // already due: delay 0
		ev(1, 4, 1200, events.TypeTimerCreated, fireAt(5000)),
		ev(1, 5, 5000, events.TypeTimerFired, src(4), fireAt(5000)),
		ev(1, 6, 5001, events.TypeTimerFired, src(4), fireAt(5000)), // second firing: no effect
		ev(1, 7, 5002, events.TypeTimerFired, src(1)),               // wrong type: ignored
	}
	r := mustDerive(t, h)
	eq(t, "pending timers", pendingIDs(r, KindTimer), []uint64{2, 3})
	eq(t, "counter", r.Instance.PendingTimers, uint32(2))
	eq(t, "timer 2", work(r, 1, 2), WorkRow{InstanceID: testInstance, ExecutionID: 1, Kind: KindTimer, CorrelationID: 2,
		Pending: true, ScheduledAtMs: 1000, FireAtMs: 6000, DelayMs: 5000})
	eq(t, "timer 3 delay", work(r, 1, 3).DelayMs, int64(0))
	eq(t, "fired timer", work(r, 1, 4), WorkRow{InstanceID: testInstance, ExecutionID: 1, Kind: KindTimer, CorrelationID: 4,
		ScheduledAtMs: 1200, FireAtMs: 5000, DelayMs: 3800})
}

func TestDeriveExternalEvents(t *testing.T) {
	sub, subP := events.TypeExternalSubscribed, events.TypeExternalSubscribedPersistent
	raise, raiseP := events.TypeExternalEvent, events.TypeExternalEventPersistent
	cancel, cancelP := events.TypeExternalSubscribedCancelled, events.TypeExternalSubscribedPersistentCancelled
	tests := []struct {
		name string
		h    []events.Event
		want []uint64
	}{
		{"unsatisfied subscription", []events.Event{ev(1, 2, 2, sub, name("A"))}, []uint64{2}},
		{"one event satisfies the first", []events.Event{ev(1, 2, 2, sub, name("A")), ev(1, 3, 3, sub, name("A")), ev(1, 4, 4, raise, name("A"))}, []uint64{3}},
		{"events count wherever they are", []events.Event{ev(1, 2, 2, raise, name("A")), ev(1, 3, 3, sub, name("A")), ev(1, 4, 4, raise, name("A")), ev(1, 5, 5, sub, name("A"))}, nil},
		{"more events than subscriptions", []events.Event{ev(1, 2, 2, raise, name("A")), ev(1, 3, 3, raise, name("A")), ev(1, 4, 4, sub, name("A"))}, nil},
		{"per name", []events.Event{ev(1, 2, 2, sub, name("A")), ev(1, 3, 3, sub, name("B")), ev(1, 4, 4, raise, name("B"))}, []uint64{2}},
		{"cancelled subscriptions are skipped when counting", []events.Event{
			ev(1, 2, 2, sub, name("A")), ev(1, 3, 3, sub, name("A")), ev(1, 4, 4, sub, name("A")),
			ev(1, 5, 5, cancel, src(2)), ev(1, 6, 6, raise, name("A")),
		}, []uint64{4}},
		{"cancelled and unsatisfied is not pending", []events.Event{ev(1, 2, 2, sub, name("A")), ev(1, 3, 3, cancel, src(2))}, nil},
		{"persistent counted separately", []events.Event{
			ev(1, 2, 2, sub, name("A")), ev(1, 3, 3, subP, name("A")), ev(1, 4, 4, raiseP, name("A")),
		}, []uint64{2}},
		{"non-persistent event does not satisfy a persistent subscription", []events.Event{
			ev(1, 2, 2, subP, name("A")), ev(1, 3, 3, raise, name("A")),
		}, []uint64{2}},
		{"persistent cancel", []events.Event{
			ev(1, 2, 2, subP, name("A")), ev(1, 3, 3, subP, name("A")), ev(1, 4, 4, cancelP, src(2)),
		}, []uint64{3}},
		{"cancel of the wrong kind is ignored", []events.Event{
			ev(1, 2, 2, subP, name("A")), ev(1, 3, 3, sub, name("B")), ev(1, 4, 4, cancel, src(2)), ev(1, 5, 5, cancelP, src(3)),
		}, []uint64{2, 3}},
		{"events of an earlier execution do not count", []events.Event{
			ev(1, 2, 2, raise, name("A")), ev(1, 3, 3, events.TypeOrchestrationContinuedAsNew),
			ev(2, 1, 4, tS), ev(2, 2, 5, sub, name("A")),
		}, []uint64{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := append([]events.Event{ev(1, 1, 1, tS)}, tc.h...)
			r := mustDerive(t, h)
			eq(t, "pending events", pendingIDs(r, KindEvent), tc.want)
			eq(t, "counter", r.Instance.PendingEvents, uint32(len(tc.want)))
		})
	}
	t.Run("row fields", func(t *testing.T) {
		r := mustDerive(t, []events.Event{ev(1, 1, 1, tS), ev(1, 2, 20, subP, name("inbox")), ev(1, 3, 30, sub, name("x"))})
		eq(t, "persistent", work(r, 1, 2), WorkRow{InstanceID: testInstance, ExecutionID: 1, Kind: KindEvent,
			CorrelationID: 2, Pending: true, Name: "inbox", Persistent: true, ScheduledAtMs: 20})
		eq(t, "plain", work(r, 1, 3).Persistent, false)
	})
}

func TestDeriveSubOrchestrations(t *testing.T) {
	h := []events.Event{
		ev(1, 1, 1, tS),
		ev(1, 2, 10, events.TypeSubOrchestrationScheduled, name("Child"), child("sub::2"), input("in")),
		ev(1, 3, 11, events.TypeSubOrchestrationScheduled, name("Child"), child("explicit-id")),
		ev(1, 4, 12, events.TypeSubOrchestrationScheduled, name("Child"), child("sub:4")),
		ev(1, 5, 13, events.TypeSubOrchestrationScheduled, name("Child"), child("sub::5")),
		ev(1, 6, 14, events.TypeSubOrchestrationScheduled, name("Child"), child("sub::6")),
		ev(1, 7, 15, events.TypeSubOrchestrationScheduled, name("Child"), child("sub::7")),
		ev(1, 8, 20, events.TypeSubOrchestrationCompleted, src(5)),
		ev(1, 9, 21, events.TypeSubOrchestrationFailed, src(6), failed("OrchestrationFailed", "x")),
		ev(1, 10, 22, events.TypeSubOrchestrationCancelRequested, src(7)),
		ev(1, 11, 23, events.TypeActivityCompleted, src(2)), // wrong type
	}
	r := mustDerive(t, h)
	eq(t, "pending", pendingIDs(r, KindSubOrchestration), []uint64{2, 3, 4})
	eq(t, "counter", r.Instance.PendingSubOrchestrations, uint32(3))
	eq(t, "generated id", work(r, 1, 2), WorkRow{InstanceID: testInstance, ExecutionID: 1, Kind: KindSubOrchestration,
		CorrelationID: 2, Pending: true, Name: "Child", Input: "in", ChildInstance: testInstance + "::sub::2", ScheduledAtMs: 10})
	eq(t, "explicit id", work(r, 1, 3).ChildInstance, "explicit-id")
	eq(t, "not the sub:: form", work(r, 1, 4).ChildInstance, "sub:4")
	eq(t, "completed child still has its id", work(r, 1, 5).ChildInstance, testInstance+"::sub::5")
}

func TestDeriveUnknownTypes(t *testing.T) {
	h := []events.Event{
		ev(1, 1, 100, tS, name("Chat")),
		ev(1, 2, 110, tA, name("X")),
		ev(1, 3, 500, "FutureEventKind", src(2), name("ignored"), output("ignored")),
		ev(2, 1, 600, "AnotherNewKind"),
	}
	r := mustDerive(t, h)
	// Counted: event counts, updated_at, last_event_at, execution existence.
	eq(t, "version", r.Version, uint64(4))
	eq(t, "instance", r.Instance, InstanceRow{InstanceID: testInstance, OrchestrationName: "Chat", Status: StatusRunning,
		CreatedAtMs: 100, UpdatedAtMs: 600, ExecutionCount: 2, CurrentExecutionID: 2, EventCount: 4})
	eq(t, "execution 1", r.Executions[0], ExecutionRow{InstanceID: testInstance, ExecutionID: 1, OrchestrationName: "Chat",
		Status: StatusRunning, StartedAtMs: 100, LastEventAtMs: 500, EventCount: 3})
	eq(t, "execution 2", r.Executions[1], ExecutionRow{InstanceID: testInstance, ExecutionID: 2, Status: StatusRunning,
		StartedAtMs: 600, LastEventAtMs: 600, EventCount: 1})
	// Otherwise ignored: it does not resolve the activity, which is not pending
	// because execution 2 is the latest.
	eq(t, "activity outcome", activity(r, 1, 2).Outcome, OutcomePending)
	eq(t, "pending", len(pendingIDs(r, KindActivity)), 0)
	eq(t, "work rows", len(r.Work), 1)
}

func TestDeriveDuplicates(t *testing.T) {
	h := []events.Event{ev(1, 1, 100, tS, name("A")), ev(1, 2, 110, tA, name("X")), ev(1, 3, 120, events.TypeActivityCompleted, src(2))}
	t.Run("identical copies count once", func(t *testing.T) {
		r := mustDerive(t, append(h[:3:3], h[2], h[0], h[2]))
		eq(t, "version", r.Version, uint64(3))
		eq(t, "event_count", r.Executions[0].EventCount, uint64(3))
		eq(t, "rows", r, mustDerive(t, h))
	})
	t.Run("differing copies: the same one is kept whatever the order", func(t *testing.T) {
		alt := h[2]
		alt.TimestampMs = 999
		alt.Type = events.TypeActivityFailed
		alt.Details = &events.ErrorDetails{Category: "application", Kind: "ActivityFailed"}
		alt2 := ev(1, 1, 100, tS, name("B"))
		// Copies that differ only in their error details.
		f1 := ev(1, 4, 130, events.TypeActivityFailed, src(2), failed("ActivityFailed", "one"))
		f2 := ev(1, 4, 130, events.TypeActivityFailed, src(2), failed("ActivityFailed", "two"))
		sched := ev(1, 5, 125, tA, name("Y"))
		f1.SourceEventID.Value, f2.SourceEventID.Value = 5, 5
		in := append(h[:3:3], alt, alt2, f1, f2, sched)
		want := mustDerive(t, in)
		r := rand.New(rand.NewPCG(1, 2))
		for range 50 {
			got := mustDerive(t, shuffledWithDuplicates(r, in))
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("differing copies: order changed the rows:\n got %+v\nwant %+v", got, want)
			}
		}
	})
}

func TestDeriveErrors(t *testing.T) {
	if _, err := Derive(nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Derive(nil) error = %v, want an error naming the empty history", err)
	}
	_, err := Derive([]events.Event{ev(1, 1, 1, tS), ev(1, 2, 2, tA, instance("other"))})
	if err == nil || !strings.Contains(err.Error(), `"other"`) {
		t.Errorf("mixed instances: error = %v, want one naming both instances", err)
	}
}

func TestDeriveAll(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var batch []events.Event
	var want []Rows
	for _, id := range []string{"b", "a::sub::2", "c", "a"} {
		h := genHistory(r, id, 20)
		batch = append(batch, h...)
		want = append(want, mustDerive(t, h))
	}
	// Sorted by instance id: a, a::sub::2, b, c.
	want = []Rows{want[3], want[1], want[0], want[2]}
	for range 5 {
		got, err := DeriveAll(shuffledWithDuplicates(r, batch))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			ids := []string{}
			for _, g := range got {
				ids = append(ids, g.Instance.InstanceID)
			}
			t.Fatalf("DeriveAll differs from per-instance Derive (got instances %v)", ids)
		}
	}
	if got, err := DeriveAll(nil); err != nil || got != nil {
		t.Errorf("DeriveAll(nil) = %v, %v; want nil, nil", got, err)
	}
}
