package oracle

import (
	"reflect"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
)

// lifetime is a small fleet with every kind of notice:
//   - "gone": completed at 100..105, deleted at 200 (an event re-delivered
//     after the deletion too);
//   - "again": completed as "Order" at 100..105, deleted at 200, reused
//     at 300 as "Other", still running;
//   - "poller": three executions, 1 and 2 pruned at 500; an older prune
//     (before a deletion of an earlier life) changes nothing;
//   - "kept": never touched.
func lifetime() ([]events.Event, []events.Notice) {
	done := func(id, orch string, base uint64) []events.Event {
		return []events.Event{
			ev(id, 1, 1, base, events.TypeOrchestrationStarted, name(orch)),
			ev(id, 1, 2, base+1, events.TypeActivityScheduled, name("Charge")),
			ev(id, 1, 3, base+3, events.TypeActivityCompleted, src(2)),
			ev(id, 1, 4, base+5, events.TypeOrchestrationCompleted),
		}
	}
	var evs []events.Event
	evs = append(evs, done("gone", "Order", 100)...)
	evs = append(evs, done("again", "Order", 100)...)
	evs = append(evs,
		ev("again", 1, 1, 300, events.TypeOrchestrationStarted, name("Other")),
		ev("again", 1, 2, 301, events.TypeTimerCreated, fire(900)),
	)
	evs = append(evs, done("kept", "Order", 100)...)
	evs = append(evs,
		ev("poller", 1, 1, 250, events.TypeOrchestrationStarted, name("Poll")),
		ev("poller", 1, 2, 251, events.TypeOrchestrationContinuedAsNew),
		ev("poller", 2, 1, 260, events.TypeOrchestrationStarted, name("Poll")),
		ev("poller", 2, 2, 261, events.TypeActivityScheduled, name("Fetch")),
		ev("poller", 2, 3, 262, events.TypeActivityCompleted, src(2)),
		ev("poller", 2, 4, 263, events.TypeOrchestrationContinuedAsNew),
		ev("poller", 3, 1, 270, events.TypeOrchestrationStarted, name("Poll")),
	)
	evs = append(evs, evs[1]) // "gone"'s activity again, after its deletion
	ns := []events.Notice{
		events.InstanceDeleted("gone", 200),
		events.InstanceDeleted("again", 200),
		events.InstanceDeleted("poller", 10),
		events.ExecutionsPruned("poller", []uint64{3}, 9),
		events.ExecutionsPruned("poller", []uint64{1, 2}, 500),
		events.InstanceDeleted("gone", 200),
	}
	return evs, ns
}

func TestNoticesHideDeletedInstances(t *testing.T) {
	evs, ns := lifetime()
	o := New(evs, ns...)
	for _, id := range []string{"gone"} {
		if _, ok := o.Instance(id); ok {
			t.Errorf("%s: deleted instance found", id)
		}
		if _, ok := o.Details(id); ok {
			t.Errorf("%s: details of a deleted instance", id)
		}
		if _, ok := o.Executions(id); ok {
			t.Errorf("%s: executions of a deleted instance", id)
		}
		if _, ok := o.History(id, nil); ok {
			t.Errorf("%s: history of a deleted instance", id)
		}
	}
	if got := o.BulkStatus([]string{"gone", "again", "kept"}); got.Statuses[0].Status != api.StatusNotFound ||
		got.Statuses[1].Status != api.StatusRunning || got.Statuses[2].Status != api.StatusCompleted {
		t.Errorf("bulk status %+v", got.Statuses)
	}
	if got := ids(o.ListInstances(ListFilter{})); !reflect.DeepEqual(got, []string{"again", "poller", "kept"}) {
		t.Errorf("list %v", got)
	}
	st := o.OrchestrationStats(nil)
	if st.TotalCount != 3 || st.CompletedCount != 1 || st.RunningCount != 2 {
		t.Errorf("stats %+v: want 3 instances (again, poller running; kept completed)", st)
	}
	// Activity stats: kept's Charge and poller's Fetch (pruned, still
	// counted); none of the deleted incarnations' Charges.
	acts := o.ActivityStats(nil, nil, false).Activities
	if len(acts) != 2 || acts[0].ActivityName != "Charge" || acts[0].TotalScheduled != 1 || acts[1].TotalScheduled != 1 {
		t.Errorf("activity stats %+v", acts)
	}
	if p := o.Performance("Order", nil); p.Count != 1 {
		t.Errorf("performance of Order counts %d instances, want 1 (kept)", p.Count)
	}
	h := o.Health(1000, time.Hour, time.Hour)
	if h.TotalInstances != 3 {
		t.Errorf("health counts %d instances, want 3", h.TotalInstances)
	}
	if q := o.Queues(nil); q.PendingTimers != 1 {
		t.Errorf("queues %+v: want again's timer only", q)
	}
}

func TestNoticesReusedIDAndPrunes(t *testing.T) {
	evs, ns := lifetime()
	o := New(evs, ns...)
	s, ok := o.Instance("again")
	if !ok || s.OrchestrationName != "Other" || s.Status != api.StatusRunning || s.ExecutionCount != 1 || int64(s.CreatedAt) != 300 {
		t.Fatalf("again = %+v, %v: want the new incarnation", s, ok)
	}
	if h, _ := o.History("again", nil); len(h.Events) != 2 {
		t.Errorf("again's history has %d events, want the new incarnation's 2", len(h.Events))
	}
	p, _ := o.Instance("poller")
	if p.ExecutionCount != 3 || p.CurrentExecutionID != 3 {
		t.Errorf("poller summary %+v: a prune keeps the summary", p)
	}
	x, _ := o.Executions("poller")
	if len(x.Executions) != 1 || x.Executions[0].ExecutionID != 3 {
		t.Errorf("poller executions %+v, want only 3", x.Executions)
	}
	if _, ok := o.History("poller", ptr(uint64(1))); ok {
		t.Error("history of a pruned execution found")
	}
	if h, _ := o.History("poller", nil); len(h.Events) != 1 {
		t.Errorf("poller history has %d events, want execution 3's one", len(h.Events))
	}
	d, _ := o.Details("poller")
	if len(d.Executions) != 1 {
		t.Errorf("details.executions %+v", d.Executions)
	}
}

// The reports count every incarnation: four instances started "Order"
// (gone, again's first life, kept) + "Other" + "Poll".
func TestNoticesReportsCountEveryIncarnation(t *testing.T) {
	evs, ns := lifetime()
	o := New(evs, ns...)
	ts := o.Timeseries(ReportQuery{Bucket: api.BucketDay, FromMs: 0, ToMs: 86_400_000, GroupBy: api.GroupByOrchestration})
	got := map[string]uint64{}
	for _, r := range ts.Rows {
		got[r.Group] = r.Started
	}
	want := map[string]uint64{"Order": 3, "Other": 1, "Poll": 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("started per orchestration %v, want %v", got, want)
	}
	acts := o.Timeseries(ReportQuery{Bucket: api.BucketDay, FromMs: 0, ToMs: 86_400_000, GroupBy: api.GroupByActivity})
	got = map[string]uint64{}
	for _, r := range acts.Rows {
		got[r.Group] = r.Started
	}
	if want := map[string]uint64{"Charge": 3, "Fetch": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("activities per name %v, want %v", got, want)
	}
}

// Any order and any duplication of events and notices give the same
// answers; without notices New is what it was.
func TestNoticesOrderDoesNotMatter(t *testing.T) {
	evs, ns := lifetime()
	want := New(evs, ns...)
	rev := make([]events.Event, len(evs))
	for i := range evs {
		rev[len(evs)-1-i] = evs[i]
	}
	rns := append(append([]events.Notice(nil), ns...), ns...)
	for i, j := 0, len(rns)-1; i < j; i, j = i+1, j-1 {
		rns[i], rns[j] = rns[j], rns[i]
	}
	got := New(rev, rns...)
	if !reflect.DeepEqual(got.ListInstances(ListFilter{}), want.ListInstances(ListFilter{})) ||
		!reflect.DeepEqual(got.ActivityStats(nil, nil, true), want.ActivityStats(nil, nil, true)) {
		t.Error("answers depend on the order of events and notices")
	}
	if len(New(evs).ListInstances(ListFilter{})) != 4 {
		t.Error("without notices every instance is live")
	}
}
