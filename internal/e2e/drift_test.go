package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/client"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// The drift self-check (internal/projector/drift.go) against the real
// pipeline: a workload with deletions, reused ids and prunes, shuffled and
// duplicated, projected by the real projector with the check on;
// no drift may be reported on the clean model; then rows are written wrong
// behind the projector's back, and each is found, logged with its instance
// id, repaired, and the query service answers as the oracle again.

// syncBuffer is a log sink the projector's goroutines write concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The instances table's columns, for the planted copies.
const instanceCols = `instance_id, orchestration_name, orchestration_version, status, created_at_ms, updated_at_ms,
	execution_count, current_execution_id, parent_instance, parent_id, output, error, custom_status, duration_ms,
	pending_activities, pending_timers, pending_events, pending_sub_orchestrations, event_count, row_version, deleted`

func TestDriftFoundAndRepaired(t *testing.T) {
	msgs := shuffleDupMessages(noticeWorkload(31, 150), 31, 200, 0.1)
	var (
		evs     []events.Event
		notices []events.Notice
	)
	for _, m := range msgs {
		if m.Notice != nil {
			notices = append(notices, *m.Notice)
		} else {
			evs = append(evs, *m.Event)
		}
	}
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "drift")
	logs := &syncBuffer{}
	// While the workload is projected, rows are behind their history for
	// as long as a batch takes on a busy machine: a generous grace. Once
	// caught up nothing is in flight, and the planted drifts are checked
	// with a short one.
	const ingestGrace, grace = 30 * time.Second, 3 * time.Second
	p, stop := startDriftProjector(t, n, db, logs, ingestGrace)
	publishMessages(t, n.JS, msgs)
	projtest.WaitCaughtUp(t, n.JS, 2*time.Minute)

	or := oracle.New(evs, notices...)
	all := or.ListInstances(oracle.ListFilter{})
	st := p.Stats()
	// Two whole rounds after the catch-up: a clean model has no drift.
	base := st.DriftChecked.Load()
	waitFor(t, time.Minute, "two clean rounds", func() bool { return st.DriftChecked.Load() >= base+2*uint64(len(all)) })
	if f := st.DriftFound.Load(); f != 0 {
		t.Fatalf("%d drifts reported on a clean read model:\n%s", f, driftLines(logs.String()))
	}

	var maxTS int64
	for _, e := range evs {
		maxTS = max(maxTS, int64(e.TimestampMs))
	}
	nowMs := maxTS + 7*60_000
	srv := httptest.NewServer(newQueryHandler(t, n, db, func() time.Time { return time.UnixMilli(nowMs).UTC() }))
	t.Cleanup(srv.Close)
	cl, err := client.New(srv.URL, client.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	env := &diffEnv{nats: n, db: db, cl: cl, oracle: or, nowMs: nowMs}

	stop()

	// Pick distinct instances for each kind of drift.
	var completed, multi []string
	for _, s := range all {
		switch {
		case s.ExecutionCount > 1:
			multi = append(multi, s.InstanceID)
		case s.Status == api.StatusCompleted:
			completed = append(completed, s.InstanceID)
		}
	}
	if len(completed) < 4 || len(multi) < 1 {
		t.Fatalf("workload too small: %d completed, %d continued-as-new", len(completed), len(multi))
	}
	var (
		higher  = completed[0] // status Failed at a version above the history's
		tie     = completed[1] // a second copy at the same version, other custom status
		missing = completed[2] // rows deleted
		phantom = "drift-phantom-" + completed[3]
		execs   = multi[0] // an execution row Failed at a higher version
	)
	exec := func(q string, args ...any) {
		t.Helper()
		if err := db.Conn.Exec(context.Background(), strings.ReplaceAll(q, "{db}", db.Name), args...); err != nil {
			t.Fatalf("plant drift: %v\n%s", err, q)
		}
	}
	// copyInstance inserts a copy of id's row with columns replaced by
	// expressions (pairs: old, new).
	copyInstance := func(id string, replace ...string) {
		t.Helper()
		cols := strings.NewReplacer(replace...).Replace(instanceCols)
		exec(`INSERT INTO {db}.instances (`+instanceCols+`) SELECT `+cols+` FROM {db}.instances FINAL WHERE instance_id = @id`,
			clickhouse.Named("id", id))
	}
	copyInstance(higher, "orchestration_version, status,", "orchestration_version, 'Failed',", "row_version,", "row_version + 5,")
	copyInstance(tie, "custom_status,", "'planted',")
	copyInstance(completed[3], "instance_id,", fmt.Sprintf("'%s',", phantom))
	exec(`ALTER TABLE {db}.instances DELETE WHERE instance_id = @id`, clickhouse.Named("id", missing))
	exec(`ALTER TABLE {db}.executions DELETE WHERE instance_id = @id`, clickhouse.Named("id", missing))
	exec(`INSERT INTO {db}.executions (instance_id, execution_id, orchestration_name, status, started_at_ms, completed_at_ms,
		last_event_at_ms, event_count, duration_ms, output, error, row_version, deleted)
		SELECT instance_id, execution_id, orchestration_name, 'Failed', started_at_ms, completed_at_ms,
		last_event_at_ms, event_count, duration_ms, output, error, row_version + 3, deleted
		FROM {db}.executions FINAL WHERE instance_id = @id AND execution_id = 1`, clickhouse.Named("id", execs))
	waitMutations(t, db)
	planted := []string{higher, tie, missing, phantom, execs}

	// The plants are visible to the query service (else the test proves nothing).
	bg := context.Background()
	if s, err := cl.Instance(bg, higher); err != nil || s.Status != api.StatusFailed {
		t.Fatalf("planted status of %q not visible: %+v, %v", higher, s, err)
	}
	if _, err := cl.Instance(bg, missing); !client.IsNotFound(err) {
		t.Fatalf("deleted %q still found: %v", missing, err)
	}
	if _, err := cl.Instance(bg, phantom); err != nil {
		t.Fatalf("planted %q not visible: %v", phantom, err)
	}
	if x, err := cl.Executions(bg, execs); err != nil || x[0].Status != api.StatusFailed {
		t.Fatalf("planted execution of %q not visible: %+v, %v", execs, x, err)
	}

	// A new projector process (the first is stopped, so the plants could
	// be seen before any check) finds and repairs them.
	start := time.Now()
	p, _ = startDriftProjector(t, n, db, logs, grace)
	st = p.Stats()
	waitFor(t, time.Minute, "the planted drifts repaired", func() bool { return st.DriftRepaired.Load() >= uint64(len(planted)) })
	took := time.Since(start)
	// More rounds: the repaired instances are checked again, in step.
	after := st.DriftChecked.Load()
	waitFor(t, time.Minute, "two more rounds", func() bool { return st.DriftChecked.Load() >= after+2*uint64(len(all)) })
	if f, r := st.DriftFound.Load(), st.DriftRepaired.Load(); f != uint64(len(planted)) || r != uint64(len(planted)) {
		t.Errorf("found %d, repaired %d drifted instances, want %d each:\n%s", f, r, len(planted), driftLines(logs.String()))
	}
	text := logs.String()
	for _, id := range planted {
		if !strings.Contains(text, `"instance":"`+id+`","drift":`) {
			t.Errorf("no drift logged for %q:\n%s", id, driftLines(text))
		}
	}
	var m bytes.Buffer
	p.WriteMetrics(&m)
	for _, want := range []string{
		fmt.Sprintf("duroscope_drift_found_total %d\n", len(planted)),
		fmt.Sprintf("duroscope_drift_repaired_total %d\n", len(planted)),
	} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	t.Logf("repaired in %v (grace %v); %d instance checks in all", took.Round(time.Millisecond), grace, st.DriftChecked.Load())

	// The query service answers as the oracle again.
	r := newDiffReport(t)
	defer r.summary()
	for _, id := range []string{higher, tie, missing, execs} {
		diffOneInstance(bg, env, r, id)
	}
	_, err = cl.Instance(bg, phantom)
	want404(r, "GET /v1/instances/{id}", phantom, err)
	diffBulkStatus(t, env, r)
	diffList(t, env, r)
	diffStats(t, env, r)
}

// startDriftProjector runs a projector with the drift check every 100ms
// until the test ends or stop is called; it logs to logs and the test.
func startDriftProjector(t *testing.T, n *testenv.NATS, db *testenv.Database, logs *syncBuffer, grace time.Duration) (*projector.Projector, func()) {
	t.Helper()
	w := chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name})
	p, err := projector.New(projector.Config{
		JS:            n.JS,
		NC:            n.NC,
		Store:         w,
		Drift:         w,
		DriftInterval: 100 * time.Millisecond,
		DriftSample:   5000, // more than the instances: every round checks them all
		DriftGrace:    grace,
		BatchSize:     5000,
		FlushInterval: 50 * time.Millisecond,
		AckWait:       5 * time.Second,
		Logger:        zerolog.New(zerolog.MultiLevelWriter(logs, zerolog.NewTestWriter(t))).Level(zerolog.InfoLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("projector: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return p, stop
}

// waitFor polls cond every 50ms until it holds, failing after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitMutations waits until ClickHouse has applied the database's mutations.
func waitMutations(t *testing.T, db *testenv.Database) {
	t.Helper()
	waitFor(t, time.Minute, "the planted mutations", func() bool {
		var pending uint64
		if err := db.Conn.QueryRow(context.Background(), "SELECT count() FROM system.mutations WHERE database = @db AND is_done = 0",
			clickhouse.Named("db", db.Name)).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		return pending == 0
	})
}

// driftLines is the drift check's log lines.
func driftLines(logs string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "drift") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
