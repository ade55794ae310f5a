package chread

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/query"
)

// qExpected is fixtures/expected.json.
type qExpected struct {
	Instances          map[string]json.RawMessage `json:"instances"`
	ActivityStats      json.RawMessage            `json:"activity_stats"`
	OrchestrationStats json.RawMessage            `json:"orchestration_stats"`
}

func qLoadExpected(t *testing.T) qExpected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(qFixturesDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e qExpected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if len(e.Instances) == 0 {
		t.Fatal("expected.json has no instances")
	}
	return e
}

// TestReaderAnswersFixtures projects the contract's fixtures with the real
// projection and writer (each event delivered twice, the second copy in
// reverse order, so history has duplicates and rows have several versions)
// and compares the Reader's answers with expected.json.
func TestReaderAnswersFixtures(t *testing.T) {
	d := qTestDB(t, nil)
	d.stopMerges(t)
	evs, raw := qLoadFixtures(t)
	// Derivations of every prefix of the history are older versions: write
	// a half-history derivation after the full one to prove the newest wins.
	d.project(t, evs)
	half := make([]events.Event, 0, len(evs))
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].EventID%2 == 1 {
			half = append(half, evs[i])
		}
	}
	d.project(t, half)

	ctx := context.Background()
	want := qLoadExpected(t)
	for id, exp := range want.Instances {
		got, found, err := d.r.Details(ctx, id)
		if err != nil || !found {
			t.Fatalf("Details(%q) = found %v, %v", id, found, err)
		}
		var w any
		_ = json.Unmarshal(exp, &w)
		qSameJSON(t, "details of "+id, got, w)

		sum, found, err := d.r.Instance(ctx, id)
		if err != nil || !found {
			t.Fatalf("Instance(%q) = found %v, %v", id, found, err)
		}
		qSameJSON(t, "summary of "+id, sum, w.(map[string]any)["summary"])

		ex, found, err := d.r.Executions(ctx, id)
		if err != nil || !found {
			t.Fatalf("Executions(%q) = found %v, %v", id, found, err)
		}
		qSameJSON(t, "executions of "+id, ex.Executions, w.(map[string]any)["executions"])

		// History: the published bytes, once each, by (execution, event).
		h, found, err := d.r.History(ctx, id, query.HistoryRange{})
		if err != nil || !found {
			t.Fatalf("History(%q) = found %v, %v", id, found, err)
		}
		lines := raw[id]
		byKey := map[[2]uint64][]byte{}
		for _, l := range lines {
			ev, _ := events.Decode(bytes.Clone(l))
			byKey[[2]uint64{ev.ExecutionID, ev.EventID}] = l
		}
		keys := make([][2]uint64, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i][0] != keys[j][0] {
				return keys[i][0] < keys[j][0]
			}
			return keys[i][1] < keys[j][1]
		})
		if len(h.Events) != len(keys) {
			t.Fatalf("History(%q): %d events, want %d", id, len(h.Events), len(keys))
		}
		for i, k := range keys {
			if !bytes.Equal(h.Events[i], byKey[k]) {
				t.Errorf("History(%q)[%d] = %s, want %s", id, i, h.Events[i], byKey[k])
			}
		}
	}

	as, err := d.r.ActivityStats(ctx, query.ActivityFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var wa any
	_ = json.Unmarshal(want.ActivityStats, &wa)
	qSameJSON(t, "activity stats", as, wa)

	ost, err := d.r.OrchestrationStats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var wo any
	_ = json.Unmarshal(want.OrchestrationStats, &wo)
	qSameJSON(t, "orchestration stats", ost, wo)

	// System calls are left out unless asked for.
	all, err := d.r.ActivityStats(ctx, query.ActivityFilter{IncludeSystem: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Activities) <= len(as.Activities) {
		t.Errorf("include_system: %d activities, want more than %d", len(all.Activities), len(as.Activities))
	}
	var sys bool
	for _, a := range all.Activities {
		if len(a.ActivityName) > len(events.SystemCallPrefix) && a.ActivityName[:len(events.SystemCallPrefix)] == events.SystemCallPrefix {
			sys = true
		}
	}
	if !sys {
		t.Error("include_system: no system call in the answer")
	}

	// Per-execution history and a missing execution.
	h, found, err := d.r.History(ctx, "counter-1", query.HistoryRange{ExecutionID: 2})
	if err != nil || !found {
		t.Fatalf("History(counter-1, 2) = found %v, %v", found, err)
	}
	for _, e := range h.Events {
		var m struct {
			ExecutionID uint64 `json:"execution_id"`
		}
		_ = json.Unmarshal(e, &m)
		if m.ExecutionID != 2 {
			t.Errorf("History(counter-1, 2) has an event of execution %d", m.ExecutionID)
		}
	}
	if len(h.Events) == 0 {
		t.Error("History(counter-1, 2) is empty")
	}
	if _, found, err := d.r.History(ctx, "counter-1", query.HistoryRange{ExecutionID: 9}); err != nil || found {
		t.Errorf("History(counter-1, 9) = found %v, %v; want not found", found, err)
	}
	for _, call := range []func() (bool, error){
		func() (bool, error) { _, f, err := d.r.Instance(ctx, "nope"); return f, err },
		func() (bool, error) { _, f, err := d.r.Details(ctx, "nope"); return f, err },
		func() (bool, error) { _, f, err := d.r.Executions(ctx, "nope"); return f, err },
		func() (bool, error) { _, f, err := d.r.History(ctx, "nope", query.HistoryRange{}); return f, err },
	} {
		if found, err := call(); err != nil || found {
			t.Errorf("unknown instance: found %v, %v", found, err)
		}
	}

	// Orchestration filters.
	po, err := d.r.OrchestrationStats(ctx, "ProcessOrder")
	if err != nil {
		t.Fatal(err)
	}
	if po.TotalCount == 0 || po.TotalCount >= 9 {
		t.Errorf("OrchestrationStats(ProcessOrder).total = %d, want a part of 9", po.TotalCount)
	}
	pa, err := d.r.ActivityStats(ctx, query.ActivityFilter{Orchestration: "ImportBatch", IncludeSystem: true})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, a := range pa.Activities {
		names = append(names, a.ActivityName)
	}
	if len(names) != 2 || names[0] != "FetchRemoteFile" || names[1] != "__duroxide_syscall:new_guid" {
		t.Errorf("ActivityStats(ImportBatch, system) names = %q", names)
	}
	bs, err := d.r.BulkStatus(ctx, []string{"retry-3", "nope", "counter-1", "retry-3"})
	if err != nil {
		t.Fatal(err)
	}
	qSameJSON(t, "bulk status", bs, api.BulkStatusResponse{Statuses: []api.InstanceStatus{
		{InstanceID: "retry-3", Status: "Failed"}, {InstanceID: "nope", Status: "NotFound"},
		{InstanceID: "counter-1", Status: "Running"}, {InstanceID: "retry-3", Status: "Failed"}}})
}

// TestHistoryResultGuard: a history larger than MaxHistoryBytes is an error,
// not an unbounded answer.
func TestHistoryResultGuard(t *testing.T) {
	d := qTestDB(t, nil)
	evs, _ := qLoadFixtures(t)
	d.project(t, evs)
	small, err := NewReader(d.conn, ReaderConfig{Database: d.name, MaxHistoryBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := small.History(ctx, "welcome-1", query.HistoryRange{}); err == nil || !strings.Contains(err.Error(), "Limit for result exceeded") {
		t.Errorf("history over MaxHistoryBytes: %v; want ClickHouse's result limit error", err)
	}
	if h, found, err := d.r.History(ctx, "approval-42", query.HistoryRange{}); err != nil || !found || len(h.Events) == 0 {
		t.Errorf("history under the default bound: %v %v", found, err)
	}
}
