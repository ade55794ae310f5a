package duroxide_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/duroxide"
	"github.com/duroscope/duroscope/internal/testenv"
)

// TestScenarioSQLite runs the scenario against a real Duroxide on a SQLite
// file, then checks Duroxide's own answers and the rows of its store.
func TestScenarioSQLite(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "duroxide.db")
	d := duroxide.Driver{Store: "sqlite:" + path}

	sc, answers := runAndAnswer(ctx, t, d)
	checkAnswers(t, sc, answers)

	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	checkHistoryRows(ctx, t, db, "history", "", answers)
}

// TestScenarioRetriesLockFailure runs the scenario with its first attempt
// given up as Duroxide's lock failures make the driver do: the second
// attempt's instances answer as planned, and the first attempt's stay in
// the store beside them, outside the plan.
func TestScenarioRetriesLockFailure(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := duroxide.Driver{Store: "sqlite:" + filepath.Join(t.TempDir(), "duroxide.db"), InjectLockFailure: true}
	sc, answers := runAndAnswer(ctx, t, d)
	if len(sc.Abandoned) != 1 || sc.Abandoned[0].Prefix != "scn" || !strings.Contains(sc.Abandoned[0].Error, "database is locked") {
		t.Fatalf("abandoned attempts %+v, want the first (scn) on an injected lock failure", sc.Abandoned)
	}
	if sc.Prefix != "scn-again2" {
		t.Fatalf("scenario prefix %q, want the second attempt's scn-again2", sc.Prefix)
	}
	checkAnswers(t, sc, answers)
	abandonedInStore := 0
	for _, id := range sc.AbandonedIDs() {
		if slices.Contains(answers.AllInstances, id) {
			abandonedInStore++
		}
	}
	if abandonedInStore == 0 {
		t.Errorf("none of the abandoned attempt's instances %v is in the store (%v)", sc.AbandonedIDs(), answers.AllInstances)
	}
}

// TestScenarioPostgres is the same against a private PostgreSQL 15 server,
// with Duroxide in its own schema.
func TestScenarioPostgres(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	pg := testenv.StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const schema = "duroxide_scn"
	d := duroxide.Driver{Store: pg.URL, Schema: schema}

	sc, answers := runAndAnswer(ctx, t, d)
	checkAnswers(t, sc, answers)

	db, err := sql.Open("pgx", pg.URL)
	if err != nil {
		t.Fatalf("open %s: %v", pg.URL, err)
	}
	defer db.Close()
	// duroxide-pg writes the constant "Event" in history.event_type.
	checkHistoryRows(ctx, t, db, schema+".history", "Event", answers)
}

// TestDeleteAndPrune triggers deletions and prunes at a chosen moment, as
// the connector's tests will: a refused deletion (a sub-orchestration), a
// bulk deletion, a prune of an already pruned instance.
func TestDeleteAndPrune(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := duroxide.Driver{Store: "sqlite:" + filepath.Join(t.TempDir(), "duroxide.db")}
	sc, err := d.RunScenario(ctx, "dp")
	if err != nil {
		t.Fatal(err)
	}
	child := sc.ByKind[duroxide.KindChildCompleted][0]
	timer := sc.ByKind[duroxide.KindTimer][0]
	rep, err := d.Delete(ctx, []string{timer, child}, false)
	if err == nil {
		t.Fatalf("deleting sub-orchestration %s: no error, report %+v", child, rep)
	}
	if len(rep.Results) != 2 || rep.Results[0].Result == nil || rep.Results[0].Result.InstancesDeleted != 1 || rep.Results[1].Error == "" {
		t.Fatalf("delete report %+v: want %s deleted and %s refused", rep, timer, child)
	}

	loop := sc.ByKind[duroxide.KindContinueAsNew][0]
	pr, err := d.Prune(ctx, loop, duroxide.PruneOptions{KeepLast: 2})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Result.ExecutionsDeleted != 2 {
		t.Fatalf("prune %s keeping 2 of 4: %+v", loop, pr.Result)
	}

	before, err := d.Answers(ctx, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	bulk, err := d.DeleteBulk(ctx, duroxide.InstanceFilter{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	after, err := d.Answers(ctx, []string{timer, loop}, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := int64(len(before.AllInstances) - len(after.AllInstances)); got != bulk.Result.InstancesDeleted || got < 3 {
		t.Fatalf("bulk delete of 3 roots: %d instances gone, Duroxide says %+v", got, bulk.Result)
	}
	if after.Instance(timer).Found {
		t.Fatalf("%s still found after its deletion", timer)
	}
	if a := after.Instance(loop); a.Found && !slices.Equal(executionIDs(a), []int64{3, 4}) {
		t.Fatalf("%s executions after prune: %v, want [3 4]", loop, executionIDs(a))
	}
}

func runAndAnswer(ctx context.Context, t *testing.T, d duroxide.Driver) (*duroxide.Scenario, *duroxide.Answers) {
	t.Helper()
	began := time.Now()
	sc, err := d.RunScenario(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scenario on %s: %d instances, %d deleted, %v (driver %d ms)", sc.Store, len(sc.Instances), len(sc.Deleted), time.Since(began).Round(time.Millisecond), sc.ElapsedMs)
	var ids []string
	for _, del := range sc.Deleted {
		ids = append(ids, del.InstanceID)
	}
	answers, err := d.Answers(ctx, ids, true)
	if err != nil {
		t.Fatal(err)
	}
	return sc, answers
}

// checkAnswers compares Duroxide's answers with what the scenario planned.
func checkAnswers(t *testing.T, sc *duroxide.Scenario, a *duroxide.Answers) {
	t.Helper()
	if len(sc.Refusals) != 2 {
		t.Errorf("refusals: %+v, want a sub-orchestration and a running instance refused", sc.Refusals)
	}
	present := map[string]bool{}
	wantByStatus := map[string][]string{}
	for _, want := range sc.Instances {
		present[want.InstanceID] = true
		wantByStatus[want.ExpectedStatus] = append(wantByStatus[want.ExpectedStatus], want.InstanceID)
		got := a.Instance(want.InstanceID)
		if got == nil || !got.Found {
			t.Errorf("%s (%s): not found", want.InstanceID, want.Kind)
			continue
		}
		if got.Status.Status != want.ExpectedStatus || got.Info.Status != want.ExpectedStatus {
			t.Errorf("%s (%s): getStatus %s, getInstanceInfo %s, want %s", want.InstanceID, want.Kind, got.Status.Status, got.Info.Status, want.ExpectedStatus)
		}
		if got.Info.OrchestrationName != want.Orchestration {
			t.Errorf("%s: orchestration %q, want %q", want.InstanceID, got.Info.OrchestrationName, want.Orchestration)
		}
		if parent := deref(got.Info.ParentInstanceID); parent != want.ParentInstanceID {
			t.Errorf("%s: parent %q, want %q", want.InstanceID, parent, want.ParentInstanceID)
		}
		if ids := executionIDs(got); !slices.Equal(ids, want.ExpectedExecutionIDs) {
			t.Errorf("%s: executions %v, want %v", want.InstanceID, ids, want.ExpectedExecutionIDs)
			continue
		}
		for i, ex := range got.Executions {
			wantStatus := "ContinuedAsNew"
			if i == len(got.Executions)-1 {
				wantStatus = want.ExpectedStatus
			}
			if ex.Info.Status != wantStatus {
				t.Errorf("%s execution %d: status %s, want %s", want.InstanceID, ex.ExecutionID, ex.Info.Status, wantStatus)
			}
			if len(ex.History) == 0 || ex.History[0].Kind != events.TypeOrchestrationStarted || int64(len(ex.History)) != ex.Info.EventCount {
				t.Errorf("%s execution %d: %d events (first %+v), eventCount %d", want.InstanceID, ex.ExecutionID, len(ex.History), first(ex.History), ex.Info.EventCount)
			}
			// A Running execution answers completedAt 0 on SQLite, nil on
			// Postgres; a ContinuedAsNew one has it on SQLite only.
			completedAt := int64(0)
			if ex.Info.CompletedAt != nil {
				completedAt = *ex.Info.CompletedAt
			}
			if wantStatus != "ContinuedAsNew" && (completedAt > 0) == (wantStatus == "Running") {
				t.Errorf("%s execution %d: completedAt %d with status %s", want.InstanceID, ex.ExecutionID, completedAt, wantStatus)
			}
		}
	}
	for _, del := range sc.Deleted {
		if slices.Contains(sc.Reused, del.InstanceID) {
			continue
		}
		if got := a.Instance(del.InstanceID); got == nil || got.Found || got.Status.Status != "NotFound" {
			t.Errorf("deleted %s (%s, %s): still there: %+v", del.InstanceID, del.Kind, del.How, got)
		}
		if slices.Contains(a.AllInstances, del.InstanceID) {
			t.Errorf("deleted %s listed by listAllInstances", del.InstanceID)
		}
	}
	// An abandoned attempt's instances (a lock failure on SQLite) are in
	// the store but outside the plan: the store-wide answers are compared
	// without them, and the counts only when there are none.
	abandoned := map[string]bool{}
	for _, id := range sc.AbandonedIDs() {
		abandoned[id] = true
	}
	planned := func(ids []string) []string {
		return sorted(slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return abandoned[id] }))
	}
	if got, want := planned(a.AllInstances), sorted(keys(present)); !slices.Equal(got, want) {
		t.Errorf("listAllInstances %v, want %v", got, want)
	}
	for _, status := range []string{"Running", "Completed", "Failed"} {
		if got, want := planned(a.ByStatus[status]), sorted(wantByStatus[status]); !slices.Equal(got, want) {
			t.Errorf("listInstancesByStatus(%s) = %v, want %v", status, got, want)
		}
	}
	if len(sc.Abandoned) > 0 {
		t.Logf("getSystemMetrics not compared: %d attempts abandoned on Duroxide lock failures (%s)", len(sc.Abandoned), sc.Abandoned[0].Error)
	} else if m := a.SystemMetrics; m.TotalInstances != int64(len(sc.Instances)) || m.RunningInstances != int64(len(wantByStatus["Running"])) ||
		m.CompletedInstances != int64(len(wantByStatus["Completed"])) || m.FailedInstances != int64(len(wantByStatus["Failed"])) {
		t.Errorf("getSystemMetrics %+v, want %d instances (%d running, %d completed, %d failed)", m, len(sc.Instances),
			len(wantByStatus["Running"]), len(wantByStatus["Completed"]), len(wantByStatus["Failed"]))
	}

	act := a.Instance(sc.ByKind[duroxide.KindActivities][0])
	if deref(act.Status.CustomStatus) != `{"phase":"done"}` || act.Status.CustomStatusVersion != 3 {
		t.Errorf("%s custom status %q version %d, want {\"phase\":\"done\"} version 3", act.InstanceID, deref(act.Status.CustomStatus), act.Status.CustomStatusVersion)
	}
	kinds := map[string]int{}
	for _, e := range act.Executions[0].History {
		kinds[e.Kind]++
	}
	// Echo + 2 system calls + 3 Flaky attempts + Broken; 2 retry backoffs + 1 timer.
	if kinds[events.TypeActivityScheduled] != 7 || kinds[events.TypeActivityFailed] != 3 || kinds[events.TypeTimerFired] != 3 || kinds[events.TypeCustomStatusUpdated] != 3 {
		t.Errorf("%s history kinds %v", act.InstanceID, kinds)
	}

	parent := a.Instance(sc.ByKind[duroxide.KindParent][0])
	if parent.Tree == nil || parent.Tree.Size != 3 || parent.Tree.RootID != parent.InstanceID {
		t.Errorf("%s tree %+v, want itself and its two children", parent.InstanceID, parent.Tree)
	}

	early := a.Instance(sc.ByKind[duroxide.KindEarlyEvent][0])
	if got := kindsOf(early.Executions[0].History); !slices.Equal(got, []string{
		events.TypeOrchestrationStarted, events.TypeExternalEvent, events.TypeCustomStatusUpdated, events.TypeExternalSubscribed,
	}) {
		t.Errorf("%s history %v: want the event recorded before its subscription", early.InstanceID, got)
	}
	cancelled := a.Instance(sc.ByKind[duroxide.KindCancelled][0])
	if err := deref(cancelled.Status.Error); !strings.HasPrefix(err, "canceled: ") || !slices.Contains(kindsOf(cancelled.Executions[0].History), events.TypeOrchestrationCancelRequested) {
		t.Errorf("%s error %q, history %v: want a cancellation", cancelled.InstanceID, err, kindsOf(cancelled.Executions[0].History))
	}

	drifting := a.Instance(sc.ByKind[duroxide.KindNondeterminism][0])
	if err := deref(drifting.Status.Error); !strings.HasPrefix(err, "nondeterministic: ") {
		t.Errorf("%s error %q, want a nondeterminism failure", drifting.InstanceID, err)
	}

	reused := a.Instance(sc.Reused[0])
	var started struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(deref(reused.Executions[0].History[0].Data)), &started); err != nil || started.Name != "Timer" {
		t.Errorf("%s second life starts %q (%v), want Timer", reused.InstanceID, started.Name, err)
	}
}

// checkHistoryRows reads Duroxide's history table directly: every row's
// event_data must decode with Duroscope's event decoder and agree with the
// row's key columns, the rows must match the client's answers one for one,
// and deleted or pruned executions must have no rows. The event_type column
// holds the event's type, or typeColumn when the store writes a constant.
func checkHistoryRows(ctx context.Context, t *testing.T, db *sql.DB, table, typeColumn string, a *duroxide.Answers) {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT instance_id, execution_id, event_id, event_type, event_data FROM "+table)
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	type execKey struct {
		instance  string
		execution int64
	}
	perExecution := map[execKey]int64{}
	types := map[string]int{}
	n := 0
	for rows.Next() {
		var inst, typ, data string
		var exec, id int64
		if err := rows.Scan(&inst, &exec, &id, &typ, &data); err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		n++
		perExecution[execKey{inst, exec}]++
		ev, err := events.Decode([]byte(data))
		if err != nil {
			t.Errorf("%s/%d/%d %s: event_data does not decode: %v\n%s", inst, exec, id, typ, err, data)
			continue
		}
		types[ev.Type]++
		wantColumn := ev.Type
		if typeColumn != "" {
			wantColumn = typeColumn
		}
		if typ != wantColumn || ev.InstanceID != inst || int64(ev.ExecutionID) != exec || int64(ev.EventID) != id || !ev.Known {
			t.Errorf("row (%s, %d, %d, %s) holds event (%s, %d, %d, %s, known=%v)", inst, exec, id, typ, ev.InstanceID, ev.ExecutionID, ev.EventID, ev.Type, ev.Known)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	want := map[execKey]int64{}
	for _, inst := range a.Instances {
		for _, ex := range inst.Executions {
			want[execKey{inst.InstanceID, ex.ExecutionID}] = ex.Info.EventCount
		}
	}
	for k, c := range perExecution {
		if want[k] != c {
			t.Errorf("%s execution %d: %d history rows, the client answers %d events (deleted or pruned rows left?)", k.instance, k.execution, c, want[k])
		}
	}
	for k, c := range want {
		if perExecution[k] != c {
			t.Errorf("%s execution %d: the client answers %d events, %d history rows", k.instance, k.execution, c, perExecution[k])
		}
	}
	if int64(n) != a.SystemMetrics.TotalEvents {
		t.Errorf("%d history rows, getSystemMetrics.totalEvents %d", n, a.SystemMetrics.TotalEvents)
	}
	for _, typ := range []string{
		events.TypeOrchestrationStarted, events.TypeOrchestrationCompleted, events.TypeOrchestrationFailed,
		events.TypeOrchestrationContinuedAsNew, events.TypeOrchestrationChained,
		events.TypeActivityScheduled, events.TypeActivityCompleted, events.TypeActivityFailed,
		events.TypeTimerCreated, events.TypeTimerFired, events.TypeExternalSubscribed, events.TypeExternalEvent,
		events.TypeSubOrchestrationScheduled, events.TypeSubOrchestrationCompleted, events.TypeSubOrchestrationFailed,
		events.TypeCustomStatusUpdated, events.TypeOrchestrationCancelRequested, events.TypeExternalSubscribedCancelled,
	} {
		if types[typ] == 0 {
			t.Errorf("no %s row in %s; types seen: %v", typ, table, types)
		}
	}
	t.Logf("%s: %d rows, %d executions, types %v", table, n, len(perExecution), types)
}

func kindsOf(h []duroxide.Event) []string {
	var out []string
	for _, e := range h {
		out = append(out, e.Kind)
	}
	return out
}

func executionIDs(a *duroxide.InstanceAnswers) []int64 {
	var ids []int64
	for _, ex := range a.Executions {
		ids = append(ids, ex.ExecutionID)
	}
	return ids
}

func first(h []duroxide.Event) string {
	if len(h) == 0 {
		return "none"
	}
	return fmt.Sprintf("%s#%d", h[0].Kind, h[0].EventID)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// TestLoadSQLite runs a short load with churn (deletions, prunes) and checks
// that every planned instance ended as planned.
func TestLoadSQLite(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := duroxide.Driver{Store: "sqlite:" + filepath.Join(t.TempDir(), "duroxide.db")}
	res, err := d.RunLoad(ctx, duroxide.LoadOptions{Rate: 20, Count: 40, RunningEvery: 20, DeleteEvery: 5, Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load: %+v", *res)
	finished := res.Completed + res.Failed + len(res.InfrastructureFailed)
	if res.Started != 40 || res.LeftRunning != 2 || finished != 38 || res.Deleted < 7 || res.Pruned == 0 {
		t.Fatalf("load of 40 (2 left running, every 5th finished deleted, loops pruned): %+v", *res)
	}
	a, err := d.Answers(ctx, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(a.ByStatus["Running"]); got != res.LeftRunning {
		t.Fatalf("%d instances Running after the load, want the %d left running", got, res.LeftRunning)
	}
}
