package chwrite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/projection"
)

func wptr[T any](v T) *T { return &v }

// derivedRows returns hand-made rows for one instance at the given version.
// The values differ by version so that a test can tell which one was kept.
// With full=true every nullable field is set (including an empty string,
// which must stay distinct from NULL); with full=false none is.
func derivedRows(id string, version uint64, full bool) projection.Rows {
	v := int64(version)
	s := func(x string) events.OptString { return events.OptString{Value: x, Valid: full} }
	i := func(x int64) projection.OptInt { return projection.OptInt{Value: x, Valid: full} }
	var errd *events.ErrorDetails
	if full {
		errd = &events.ErrorDetails{Category: "application", Kind: "ActivityFailed", Message: fmt.Sprintf("boom <&> \"v%d\"", version), Retryable: true}
	}
	status := "Running"
	if full {
		status = "Failed"
	}
	return projection.Rows{
		Version: version,
		Instance: projection.InstanceRow{
			InstanceID: id, OrchestrationName: "Orch", OrchestrationVersion: fmt.Sprintf("1.%d", version),
			Status: status, CreatedAtMs: 1000, UpdatedAtMs: 1000 + v, ExecutionCount: 2, CurrentExecutionID: 2,
			ParentInstance: s("parent"), ParentID: events.OptUint{Value: 7, Valid: full},
			Output: s(""), Error: errd, CustomStatus: s("cs"), DurationMs: i(v * 10),
			PendingActivities: uint32(version), PendingTimers: 2, PendingEvents: 3, PendingSubOrchestrations: 4,
			EventCount: version,
		},
		Executions: []projection.ExecutionRow{
			{InstanceID: id, ExecutionID: 1, OrchestrationName: "Orch", Status: "ContinuedAsNew", StartedAtMs: 1000,
				CompletedAtMs: projection.OptInt{Value: 1001, Valid: true}, LastEventAtMs: 1001, EventCount: 2,
				DurationMs: projection.OptInt{Value: 1, Valid: true}},
			{InstanceID: id, ExecutionID: 2, OrchestrationName: "Orch", Status: status, StartedAtMs: 1002,
				CompletedAtMs: i(1000 + v), LastEventAtMs: 1000 + v, EventCount: version - 2,
				DurationMs: i(v - 2), Output: s(""), Error: errd},
		},
		Activities: []projection.ActivityRow{
			{InstanceID: id, ExecutionID: 2, EventID: 2, ActivityName: "A", OrchestrationName: "Orch",
				IsSystem: !full, ScheduledAtMs: 1002, Outcome: map[bool]string{true: "Failed", false: "Pending"}[full],
				OutcomeAtMs: i(1000 + v), DurationMs: i(v - 2), Error: errd},
		},
		Work: []projection.WorkRow{
			{InstanceID: id, ExecutionID: 2, Kind: projection.KindTimer, CorrelationID: 3, Pending: !full,
				Name: fmt.Sprintf("t%d", version), Input: "in", Tag: s("tag"), ChildInstance: "", Persistent: full,
				ScheduledAtMs: 1003, FireAtMs: 5000, DelayMs: 3997},
		},
	}
}

// instanceFinal is the instances row as read back with FINAL.
type instanceFinal struct {
	Version, Status                   string
	UpdatedAt                         int64
	ParentInstance, Output, Err, CS   *string
	ParentID                          *uint64
	Duration                          *int64
	PendAct                           uint32
	EventCount, RowVersion, ExecCount uint64
}

func readInstanceFinal(t *testing.T, conn driver.Conn, db, id string) instanceFinal {
	t.Helper()
	var r instanceFinal
	err := conn.QueryRow(context.Background(), `SELECT orchestration_version, status, updated_at_ms, parent_instance, parent_id,
		output, error, custom_status, duration_ms, pending_activities, event_count, row_version, execution_count
		FROM `+db+`.instances FINAL WHERE instance_id = ?`, id).Scan(
		&r.Version, &r.Status, &r.UpdatedAt, &r.ParentInstance, &r.ParentID,
		&r.Output, &r.Err, &r.CS, &r.Duration, &r.PendAct, &r.EventCount, &r.RowVersion, &r.ExecCount)
	if err != nil {
		t.Fatalf("read instance %q: %v", id, err)
	}
	return r
}

func TestWriteDerivedKeepsHighestVersion(t *testing.T) {
	conn, w, db := writerTestDB(t)
	ctx := context.Background()

	// Version 9 (full) lands first, then the stale version 5 (empty
	// nullables): FINAL must show version 9 in every table. A second
	// instance is written only at version 5 to see the other shape.
	high, low := derivedRows("i-1", 9, true), derivedRows("i-1", 5, false)
	if err := w.WriteDerived(ctx, []projection.Rows{high}); err != nil {
		t.Fatalf("WriteDerived(high): %v", err)
	}
	if err := w.WriteDerived(ctx, []projection.Rows{low, derivedRows("i-2", 5, false)}); err != nil {
		t.Fatalf("WriteDerived(low): %v", err)
	}

	// Without FINAL both versions of i-1 are there (unless a merge already
	// ran): the test would prove nothing if the writer dropped the second.
	var raw uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".instances").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw < 2 {
		t.Fatalf("instances holds %d rows, want at least 2", raw)
	}

	wantErr := `{"category":"application","kind":"ActivityFailed","message":"boom <&> \"v9\"","retryable":true}`
	got := readInstanceFinal(t, conn, db, "i-1")
	want := instanceFinal{
		Version: "1.9", Status: "Failed", UpdatedAt: 1009,
		ParentInstance: wptr("parent"), ParentID: wptr(uint64(7)), Output: wptr(""), Err: wptr(wantErr),
		CS: wptr("cs"), Duration: wptr(int64(90)), PendAct: 9, EventCount: 9, RowVersion: 9, ExecCount: 2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("instance i-1 FINAL =\n %s\nwant\n %s", wdump(got), wdump(want))
	}
	var decoded events.ErrorDetails
	if err := json.Unmarshal([]byte(*got.Err), &decoded); err != nil || decoded != *high.Instance.Error {
		t.Errorf("error column %q decodes to %+v, %v; want %+v", *got.Err, decoded, err, *high.Instance.Error)
	}

	got2 := readInstanceFinal(t, conn, db, "i-2")
	want2 := instanceFinal{Version: "1.5", Status: "Running", UpdatedAt: 1005, PendAct: 5, EventCount: 5, RowVersion: 5, ExecCount: 2}
	if !reflect.DeepEqual(got2, want2) {
		t.Errorf("instance i-2 (all nullables null) FINAL =\n %s\nwant\n %s", wdump(got2), wdump(want2))
	}

	// executions: execution 2 of i-1 at version 9.
	var (
		status      string
		completedAt *int64
		duration    *int64
		output, ej  *string
		evCount, rv uint64
	)
	if err := conn.QueryRow(ctx, `SELECT status, completed_at_ms, duration_ms, output, error, event_count, row_version
		FROM `+db+`.executions FINAL WHERE instance_id = 'i-1' AND execution_id = 2`).Scan(
		&status, &completedAt, &duration, &output, &ej, &evCount, &rv); err != nil {
		t.Fatal(err)
	}
	if status != "Failed" || completedAt == nil || *completedAt != 1009 || duration == nil || *duration != 7 ||
		output == nil || *output != "" || ej == nil || *ej != wantErr || evCount != 7 || rv != 9 {
		t.Errorf("execution i-1/2 FINAL = %s %v %v %v %v %d %d", status, wdump(completedAt), wdump(duration), wdump(output), wdump(ej), evCount, rv)
	}
	if err := conn.QueryRow(ctx, `SELECT status, completed_at_ms, duration_ms, output, error, event_count, row_version
		FROM `+db+`.executions FINAL WHERE instance_id = 'i-2' AND execution_id = 2`).Scan(
		&status, &completedAt, &duration, &output, &ej, &evCount, &rv); err != nil {
		t.Fatal(err)
	}
	if status != "Running" || completedAt != nil || duration != nil || output != nil || ej != nil || rv != 5 {
		t.Errorf("execution i-2/2 FINAL = %s %v %v %v %v %d; want Running with NULLs", status, wdump(completedAt), wdump(duration), wdump(output), wdump(ej), rv)
	}
	var nExec uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".executions FINAL").Scan(&nExec); err != nil || nExec != 4 {
		t.Errorf("executions FINAL rows = %d, %v; want 4 (2 instances x 2 executions)", nExec, err)
	}

	// activities.
	var (
		outcome   string
		isSystem  uint8
		outcomeAt *int64
	)
	if err := conn.QueryRow(ctx, `SELECT outcome, is_system, outcome_at_ms, duration_ms, error, row_version
		FROM `+db+`.activities FINAL WHERE instance_id = 'i-1' AND execution_id = 2 AND event_id = 2`).Scan(
		&outcome, &isSystem, &outcomeAt, &duration, &ej, &rv); err != nil {
		t.Fatal(err)
	}
	if outcome != "Failed" || isSystem != 0 || outcomeAt == nil || *outcomeAt != 1009 || duration == nil || *duration != 7 ||
		ej == nil || *ej != wantErr || rv != 9 {
		t.Errorf("activity i-1 FINAL = %s %d %v %v %v %d", outcome, isSystem, wdump(outcomeAt), wdump(duration), wdump(ej), rv)
	}
	if err := conn.QueryRow(ctx, `SELECT outcome, is_system, outcome_at_ms, duration_ms, error, row_version
		FROM `+db+`.activities FINAL WHERE instance_id = 'i-2'`).Scan(
		&outcome, &isSystem, &outcomeAt, &duration, &ej, &rv); err != nil {
		t.Fatal(err)
	}
	if outcome != "Pending" || isSystem != 1 || outcomeAt != nil || duration != nil || ej != nil || rv != 5 {
		t.Errorf("activity i-2 FINAL = %s %d %v %v %v %d; want Pending, system, NULLs", outcome, isSystem, wdump(outcomeAt), wdump(duration), wdump(ej), rv)
	}

	// pending_work.
	var (
		pending, persistent uint8
		name                string
		tag                 *string
		fireAt, delay       int64
	)
	if err := conn.QueryRow(ctx, `SELECT pending, persistent, name, tag, fire_at_ms, delay_ms, row_version
		FROM `+db+`.pending_work FINAL WHERE instance_id = 'i-1' AND kind = 'timer'`).Scan(
		&pending, &persistent, &name, &tag, &fireAt, &delay, &rv); err != nil {
		t.Fatal(err)
	}
	if pending != 0 || persistent != 1 || name != "t9" || tag == nil || *tag != "tag" || fireAt != 5000 || delay != 3997 || rv != 9 {
		t.Errorf("work i-1 FINAL = %d %d %s %v %d %d %d", pending, persistent, name, wdump(tag), fireAt, delay, rv)
	}
	if err := conn.QueryRow(ctx, `SELECT pending, tag FROM `+db+`.pending_work FINAL WHERE instance_id = 'i-2'`).Scan(&pending, &tag); err != nil {
		t.Fatal(err)
	}
	if pending != 1 || tag != nil {
		t.Errorf("work i-2 FINAL: pending=%d tag=%v; want 1, NULL", pending, wdump(tag))
	}
}

func TestWriteDerivedSkipsEmptyTables(t *testing.T) {
	conn, w, db := writerTestDB(t)
	ctx := context.Background()
	if err := w.WriteDerived(ctx, nil); err != nil {
		t.Fatalf("WriteDerived(nil): %v", err)
	}
	r := derivedRows("only-instance", 1, false)
	r.Executions, r.Activities, r.Work = nil, nil, nil
	if err := w.WriteDerived(ctx, []projection.Rows{r}); err != nil {
		t.Fatalf("WriteDerived(instance only): %v", err)
	}
	for table, want := range map[string]uint64{"instances": 1, "executions": 0, "activities": 0, "pending_work": 0} {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+"."+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s has %d rows, want %d", table, n, want)
		}
	}
}

func TestWriteQueueSnapshots(t *testing.T) {
	conn, w, db := writerTestDB(t)
	ctx := context.Background()
	if err := w.WriteQueueSnapshots(ctx, nil); err != nil {
		t.Fatalf("WriteQueueSnapshots(nil): %v", err)
	}
	snaps := []events.QueueSnapshot{
		{OrchestratorQueue: 1, WorkerQueue: 2, TimerQueue: 3, TimestampMs: 1764105600000},
		{OrchestratorQueue: 10, WorkerQueue: 20, TimerQueue: 30, TimestampMs: 1764105601000},
	}
	before := time.Now().Add(-time.Minute)
	if err := w.WriteQueueSnapshots(ctx, snaps); err != nil {
		t.Fatalf("WriteQueueSnapshots: %v", err)
	}
	rows, err := conn.Query(ctx, "SELECT orchestrator_queue, worker_queue, timer_queue, timestamp_ms, received_at FROM "+db+".queue_snapshots ORDER BY timestamp_ms")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []events.QueueSnapshot
	for rows.Next() {
		var (
			s  events.QueueSnapshot
			at time.Time
		)
		if err := rows.Scan(&s.OrchestratorQueue, &s.WorkerQueue, &s.TimerQueue, &s.TimestampMs, &at); err != nil {
			t.Fatal(err)
		}
		if at.Before(before) {
			t.Errorf("received_at = %v, want the server's insert time (default now())", at)
		}
		got = append(got, s)
	}
	if !slices.Equal(got, snaps) {
		t.Fatalf("snapshots = %+v, want %+v", got, snaps)
	}
}

func TestScanInstanceIDs(t *testing.T) {
	_, w, _ := writerTestDB(t)
	ctx := context.Background()
	var rows []projection.Rows
	want := map[string]bool{}
	for i := range 50 {
		id := fmt.Sprintf("scan-%03d", i)
		r := derivedRows(id, 3, i%2 == 0)
		rows = append(rows, r)
		want[id] = true
	}
	// Written twice: ids may be seen twice, but the set must be exact.
	if err := w.WriteDerived(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteDerived(ctx, rows[:10]); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	if err := w.ScanInstanceIDs(ctx, func(id string) error { got[id] = true; return nil }); err != nil {
		t.Fatalf("ScanInstanceIDs: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("scanned %d distinct ids, want %d", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("id %q not scanned", id)
		}
	}

	stop := errors.New("stop here")
	calls := 0
	err := w.ScanInstanceIDs(ctx, func(string) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("ScanInstanceIDs with a failing fn = %v after %d calls; want the fn's error after 1", err, calls)
	}
}

func TestWriterErrorsNameTheTable(t *testing.T) {
	conn, _, _ := writerTestDB(t)
	ctx := context.Background()
	// A database without the tables: every write must fail and say where.
	w := NewWriter(conn, WriterConfig{Database: "dstest_readmodel_w_missing_db"})
	ev := events.Event{InstanceID: "x", ExecutionID: 1, EventID: 1, Type: "Whatever", Raw: []byte("{}")}
	cases := []struct {
		table string
		err   error
	}{
		{"history", w.WriteHistory(ctx, []HistoryRow{{Event: &ev}})},
		{"activities", w.WriteDerived(ctx, []projection.Rows{derivedRows("x", 1, true)})},
		{"queue_snapshots", w.WriteQueueSnapshots(ctx, []events.QueueSnapshot{{TimestampMs: 1}})},
		{"history", func() error { _, err := w.LoadHistories(ctx, []string{"x"}); return err }()},
		{"instances", w.ScanInstanceIDs(ctx, func(string) error { return nil })},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), "dstest_readmodel_w_missing_db."+c.table) {
			t.Errorf("error = %v, want one naming dstest_readmodel_w_missing_db.%s", c.err, c.table)
		}
	}
	if err := w.WriteHistory(ctx, []HistoryRow{{Event: nil}}); err == nil {
		t.Error("WriteHistory with a nil event: no error")
	}
	noRaw := ev
	noRaw.Raw = nil
	if err := w.WriteHistory(ctx, []HistoryRow{{Event: &noRaw}}); err == nil || !strings.Contains(err.Error(), "no payload") {
		t.Errorf("WriteHistory of an event without Raw: err = %v, want a 'no payload' error", err)
	}
}

// wdump renders v for failure messages, following pointers.
func wdump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}
