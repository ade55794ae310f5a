package projection

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/duroscope/duroscope/events"
)

// testInstance is the instance id of hand-written histories.
const testInstance = "inst-1"

type opt func(*events.Event)

// ev builds one event of testInstance.
func ev(exec, id, ts uint64, typ string, opts ...opt) events.Event {
	e := events.Event{
		EventID:     id,
		InstanceID:  testInstance,
		ExecutionID: exec,
		TimestampMs: ts,
		Type:        typ,
		Known:       isKnownForGen(typ),
	}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func src(id uint64) opt {
	return func(e *events.Event) { e.SourceEventID = events.OptUint{Value: id, Valid: true} }
}
func name(s string) opt     { return func(e *events.Event) { e.Name = s } }
func version(s string) opt  { return func(e *events.Event) { e.Version = s } }
func input(s string) opt    { return func(e *events.Event) { e.Input = s } }
func output(s string) opt   { return func(e *events.Event) { e.Output = s } }
func fireAt(ms uint64) opt  { return func(e *events.Event) { e.FireAtMs = ms } }
func child(s string) opt    { return func(e *events.Event) { e.Instance = s } }
func instance(s string) opt { return func(e *events.Event) { e.InstanceID = s } }
func tag(s string) opt {
	return func(e *events.Event) { e.Tag = events.OptString{Value: s, Valid: true} }
}
func status(s string) opt {
	return func(e *events.Event) { e.Status = events.OptString{Value: s, Valid: true} }
}
func initStatus(s string) opt {
	return func(e *events.Event) { e.InitialCustomStatus = events.OptString{Value: s, Valid: true} }
}
func parent(inst string, id uint64) opt {
	return func(e *events.Event) {
		e.ParentInstance = events.OptString{Value: inst, Valid: true}
		e.ParentID = events.OptUint{Value: id, Valid: true}
	}
}
func failed(kind, msg string) opt {
	return func(e *events.Event) {
		e.Details = &events.ErrorDetails{Category: "application", Kind: kind, Message: msg}
	}
}

func some(s string) events.OptString { return events.OptString{Value: s, Valid: true} }
func someInt(v int64) OptInt         { return OptInt{Value: v, Valid: true} }

// shuffledWithDuplicates returns a random permutation of h with up to half
// of its events delivered a second (or third) time, as identical copies.
func shuffledWithDuplicates(r *rand.Rand, h []events.Event) []events.Event {
	out := slices.Clone(h)
	for range r.IntN(len(h)/2 + 2) {
		out = append(out, h[r.IntN(len(h))])
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// mustDerive derives h and checks the invariants every derivation has.
func mustDerive(t testing.TB, h []events.Event) Rows {
	t.Helper()
	r, err := Derive(h)
	if err != nil {
		t.Fatalf("Derive: %v", err)
	}
	checkInvariants(t, r)
	return r
}

// checkInvariants checks properties that hold for every derivation,
// whatever the history: they tie the rows to each other.
func checkInvariants(t testing.TB, r Rows) {
	t.Helper()
	in := r.Instance
	if in.EventCount != r.Version {
		t.Errorf("instance event_count %d != version %d", in.EventCount, r.Version)
	}
	var sum uint64
	for i, x := range r.Executions {
		sum += x.EventCount
		if i > 0 && r.Executions[i-1].ExecutionID >= x.ExecutionID {
			t.Errorf("executions not strictly ascending at %d", i)
		}
		if (x.Status == StatusRunning) == x.CompletedAtMs.Valid || x.CompletedAtMs.Valid != x.DurationMs.Valid {
			t.Errorf("execution %d: status %s with completed_at %v duration %v", x.ExecutionID, x.Status, x.CompletedAtMs, x.DurationMs)
		}
		if x.Output.Valid != (x.Status == StatusCompleted) || (x.Error != nil && x.Status != StatusFailed) {
			t.Errorf("execution %d: status %s with output %v error %v", x.ExecutionID, x.Status, x.Output, x.Error)
		}
	}
	if sum != r.Version {
		t.Errorf("execution event counts sum to %d, version %d", sum, r.Version)
	}
	if uint64(len(r.Executions)) != in.ExecutionCount || in.CurrentExecutionID != r.Executions[len(r.Executions)-1].ExecutionID {
		t.Errorf("execution_count %d / current %d do not match %d executions", in.ExecutionCount, in.CurrentExecutionID, len(r.Executions))
	}
	if in.Status != StatusRunning && in.Status != StatusCompleted && in.Status != StatusFailed {
		t.Errorf("instance status %q", in.Status)
	}
	if in.DurationMs.Valid != (in.Status != StatusRunning) {
		t.Errorf("instance duration %v with status %s", in.DurationMs, in.Status)
	}
	counts := map[string]uint32{}
	for i, w := range r.Work {
		if i > 0 {
			p := r.Work[i-1]
			if p.ExecutionID > w.ExecutionID || (p.ExecutionID == w.ExecutionID && p.CorrelationID >= w.CorrelationID) {
				t.Errorf("work rows not ascending by (execution, correlation) at %d", i)
			}
		}
		if w.Pending {
			counts[w.Kind]++
			if w.ExecutionID != in.CurrentExecutionID {
				t.Errorf("pending %s %d in execution %d, not the current %d", w.Kind, w.CorrelationID, w.ExecutionID, in.CurrentExecutionID)
			}
		}
	}
	want := map[string]uint32{KindActivity: in.PendingActivities, KindTimer: in.PendingTimers,
		KindEvent: in.PendingEvents, KindSubOrchestration: in.PendingSubOrchestrations}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("instance pending %s = %d, %d pending work rows", k, n, counts[k])
		}
	}
	if last := r.Executions[len(r.Executions)-1]; last.Status != StatusRunning && len(counts) > 0 {
		t.Errorf("pending work while the latest execution is %s", last.Status)
	}
	nAct := 0
	for _, w := range r.Work {
		if w.Kind == KindActivity {
			nAct++
		}
	}
	if nAct != len(r.Activities) {
		t.Errorf("%d activity work rows, %d activity rows", nAct, len(r.Activities))
	}
	for i, a := range r.Activities {
		if i > 0 {
			p := r.Activities[i-1]
			if p.ExecutionID > a.ExecutionID || (p.ExecutionID == a.ExecutionID && p.EventID >= a.EventID) {
				t.Errorf("activity rows not ascending at %d", i)
			}
		}
		if a.DurationMs.Valid != (a.Outcome == OutcomeCompleted || a.Outcome == OutcomeFailed) ||
			a.OutcomeAtMs.Valid != (a.Outcome != OutcomePending) {
			t.Errorf("activity %d/%d: outcome %s with duration %v outcome_at %v", a.ExecutionID, a.EventID, a.Outcome, a.DurationMs, a.OutcomeAtMs)
		}
	}
}
