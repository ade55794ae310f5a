package connector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/connector"
	"github.com/duroscope/duroscope/internal/connector/sqlite"
	"github.com/duroscope/duroscope/internal/connector/storetest"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/testenv"
)

// streamContents is everything the history stream holds, by Nats-Msg-Id.
type streamContents struct {
	byID    map[string][]byte
	subject map[string]string
	notices []events.Notice
	msgs    int
}

func readStream(t *testing.T, js jetstream.JetStream, stream string) streamContents {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := streamContents{byID: map[string][]byte{}, subject: map[string]string{}}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		out.msgs++
		id := m.Header.Get(jetstream.MsgIDHeader)
		out.byID[id] = m.Data
		out.subject[id] = m.Subject
		if n, err := events.DecodeNotice(m.Data); err == nil {
			out.notices = append(out.notices, n)
		}
	}
	return out
}

type running struct {
	c      *connector.Connector
	stop   context.CancelFunc
	done   chan error
	halted sync.Once
}

func start(t *testing.T, cfg connector.Config) *running {
	t.Helper()
	c, err := connector.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, stop: cancel, done: make(chan error, 1)}
	go func() { _, err := c.Run(ctx); r.done <- err }()
	t.Cleanup(func() { r.halt(t) })
	return r
}

func (r *running) halt(t *testing.T) {
	r.halted.Do(func() {
		r.stop()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("connector: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("connector did not stop")
		}
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type env struct {
	store *storetest.Store
	src   *sqlite.Source
	nats  *testenv.NATS
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	st := storetest.Create(t, t.TempDir())
	src, err := sqlite.Open(context.Background(), sqlite.Config{Path: st.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return &env{store: st, src: src, nats: testenv.StartNATS(t)}
}

func (e *env) config() connector.Config {
	return connector.Config{
		Source: e.src, NC: e.nats.NC, BatchSize: 500, InventoryPage: 50,
		PollInterval: 20 * time.Millisecond, ReconcileInterval: 200 * time.Millisecond,
		Logger: zerolog.Nop(),
	}
}

// storedSubject is the subject the history stream stores an instance's
// events under: events.Subject tagged with the instance's slot by the
// stream's subject transform (projector.EnsureStreams).
func storedSubject(instanceID string) string {
	return events.SubjectPrefix + strconv.Itoa(projector.Slot(instanceID)) + "." + events.SubjectToken(instanceID)
}

// expectAll checks that the stream holds every row, byte for byte, on its
// instance's subject.
func expectAll(t *testing.T, got streamContents, want map[string][]byte) {
	t.Helper()
	missing := 0
	for id, data := range want {
		g, ok := got.byID[id]
		if !ok {
			if missing++; missing <= 5 {
				t.Errorf("missing %s", id)
			}
			continue
		}
		if !bytes.Equal(g, data) {
			t.Errorf("%s: payload differs:\n got %s\nwant %s", id, g, data)
		}
		inst := id[:strings.LastIndexByte(id[:strings.LastIndexByte(id, '/')], '/')]
		if s := got.subject[id]; s != storedSubject(inst) {
			t.Errorf("%s on subject %s", id, s)
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d rows missing from the stream", missing, len(want))
	}
}

func TestBackfillThenTail(t *testing.T) {
	e := newEnv(t)
	want, err := e.store.Fill(gen.Config{Seed: 1, Instances: 150, SpreadMs: 3_600_000}, 400)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e.config())
	st := r.c.Stats()
	waitFor(t, "backfill", 30*time.Second, func() bool { return st.CaughtUp.Load() && st.EventsPublished.Load() >= uint64(len(want)) })
	// The tail: rows written while it runs.
	more, err := e.store.Fill(gen.Config{Seed: 2, Instances: 40, IDPrefix: "late-", StartMs: gen.DefaultStartMs + 7_200_000}, 50)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range more {
		want[k] = v
	}
	waitFor(t, "tail", 30*time.Second, func() bool { return st.EventsPublished.Load() >= uint64(len(want)) })
	r.halt(t)
	got := readStream(t, e.nats.JS, events.DefaultStream)
	expectAll(t, got, want)
	if got.msgs != len(want) || len(got.notices) != 0 {
		t.Fatalf("stream holds %d messages (%d notices), want exactly the %d rows", got.msgs, len(got.notices), len(want))
	}
	// A restart resumes at the stored position: nothing is read again.
	r2 := start(t, e.config())
	waitFor(t, "caught up again", 10*time.Second, func() bool { return r2.c.Stats().CaughtUp.Load() })
	if n := r2.c.Stats().RowsRead.Load(); n != 0 {
		t.Fatalf("restart read %d rows again, want 0", n)
	}
}

// The rows with the highest rowids are deleted, and new rows take their
// rowids: a position alone would skip them, the anchors do not, whether
// the connector runs meanwhile or not.
func TestRowidReuse(t *testing.T) {
	for _, live := range []bool{true, false} {
		t.Run(fmt.Sprintf("live=%v", live), func(t *testing.T) {
			e := newEnv(t)
			var rows []storetest.Row
			for i := 1; i <= 3; i++ {
				for ev := uint64(1); ev <= 4; ev++ {
					rows = append(rows, row(fmt.Sprintf("keep-%d", i), 1, ev, 1000+ev))
				}
			}
			for ev := uint64(1); ev <= 10; ev++ {
				rows = append(rows, row("top", 1, ev, 2000+ev)) // the highest rowids
			}
			if err := e.store.Append(rows); err != nil {
				t.Fatal(err)
			}
			r := start(t, e.config())
			waitFor(t, "first pass", 10*time.Second, func() bool { return r.c.Stats().EventsPublished.Load() == 22 })
			if !live {
				r.halt(t)
			}
			if err := e.store.DeleteInstance("top"); err != nil {
				t.Fatal(err)
			}
			var reused []storetest.Row
			for ev := uint64(1); ev <= 3; ev++ {
				reused = append(reused, row("new", 1, ev, 3000+ev))
			}
			if err := e.store.Append(reused); err != nil {
				t.Fatal(err)
			}
			var maxRowid int
			if err := e.store.DB.QueryRow("SELECT max(rowid) FROM history").Scan(&maxRowid); err != nil {
				t.Fatal(err)
			}
			if maxRowid != 15 {
				t.Fatalf("SQLite gave the new rows rowids up to %d, want reuse (15)", maxRowid)
			}
			if !live {
				r = start(t, e.config())
			}
			waitFor(t, "reused rowids published", 10*time.Second, func() bool {
				return r.c.Stats().Reconciliations.Load() > 0 && r.c.Stats().Rewinds.Load() > 0
			})
			waitFor(t, "new rows", 10*time.Second, func() bool {
				_, ok := readStream(t, e.nats.JS, events.DefaultStream).byID["new/1/3"]
				return ok
			})
			got := readStream(t, e.nats.JS, events.DefaultStream)
			for _, r := range reused {
				if !bytes.Equal(got.byID[events.MsgID(r.InstanceID, 1, r.EventID)], r.Data) {
					t.Errorf("row %s/1/%d (a reused rowid) not published", r.InstanceID, r.EventID)
				}
			}
			waitFor(t, "deletion notice", 10*time.Second, func() bool {
				for _, n := range readStream(t, e.nats.JS, events.DefaultStream).notices {
					if n.Type == events.TypeInstanceDeleted && n.InstanceID == "top" {
						return true
					}
				}
				return false
			})
		})
	}
}

// row is a minimal valid event row of (id, exec, ev) at ts.
func row(id string, exec, ev, ts uint64) storetest.Row {
	typ, extra := events.TypeTimerCreated, `,"fire_at_ms":1`
	if ev == 1 {
		typ, extra = events.TypeOrchestrationStarted, `,"name":"n","version":"1.0.0","input":"","parent_instance":null,"parent_id":null`
	}
	data := fmt.Sprintf(`{"event_id":%d,"source_event_id":null,"instance_id":%q,"execution_id":%d,"timestamp_ms":%d,"duroxide_version":"0.1.29","type":%q%s}`,
		ev, id, exec, ts, typ, extra)
	return storetest.Row{InstanceID: id, ExecutionID: exec, EventID: ev, Type: typ, Data: []byte(data)}
}

// Rows the projector must dead-letter are published anyway, as they are;
// Duroxide's OrchestrationFailed without its key gets it from the row key.
func TestBadRowsAndRepair(t *testing.T) {
	e := newEnv(t)
	failed := `{"event_id":5,"source_event_id":null,"instance_id":"","execution_id":0,"timestamp_ms":9,"duroxide_version":"0.1.29","type":"OrchestrationFailed","details":{"Application":{"kind":"OrchestrationFailed","message":"boom \"instance_id\":\"\"","retryable":false}}}`
	rows := []storetest.Row{
		row("ok", 1, 1, 1),
		{InstanceID: "bad", ExecutionID: 1, EventID: 1, Type: "OrchestrationStarted", Data: []byte("not json at all")},
		{InstanceID: "bad", ExecutionID: 1, EventID: 2, Type: "TimerCreated", Data: []byte(`{"event_id":"two"}`)},
		{InstanceID: "f a.il", ExecutionID: 3, EventID: 5, Type: "OrchestrationFailed", Data: []byte(failed)},
	}
	if err := e.store.Append(rows); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Once = true
	c, err := connector.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 4 {
		t.Fatalf("published %d rows, want 4", sum.Rows)
	}
	got := readStream(t, e.nats.JS, events.DefaultStream)
	for _, r := range rows[:3] {
		if !bytes.Equal(got.byID[events.MsgID(r.InstanceID, r.ExecutionID, r.EventID)], r.Data) {
			t.Errorf("%s/%d/%d not published byte for byte", r.InstanceID, r.ExecutionID, r.EventID)
		}
	}
	fixed := got.byID["f a.il/3/5"]
	wantFixed := strings.Replace(strings.Replace(failed, `"instance_id":""`, `"instance_id":"f a.il"`, 1), `"execution_id":0`, `"execution_id":3`, 1)
	if string(fixed) != wantFixed {
		t.Fatalf("repaired OrchestrationFailed:\n got %s\nwant %s", fixed, wantFixed)
	}
	if ev, err := events.Decode(fixed); err != nil || ev.InstanceID != "f a.il" || ev.ExecutionID != 3 {
		t.Fatalf("repaired event does not decode to its key: %+v, %v", ev, err)
	}
}

// Deletions and prunes become notices; an id reused after its deletion gets
// the msg-id suffix, also when the deletion and the reuse fall between two
// reconciliations.
func TestDeletionsAndPrunes(t *testing.T) {
	e := newEnv(t)
	var rows []storetest.Row
	for exec := uint64(1); exec <= 3; exec++ {
		for ev := uint64(1); ev <= 2; ev++ {
			rows = append(rows, row("poller", exec, ev, exec*100+ev))
		}
	}
	rows = append(rows, row("gone", 1, 1, 10), row("gone", 1, 2, 11), row("reused", 1, 1, 20), row("reused", 1, 2, 21), row("stay", 1, 1, 30))
	if err := e.store.Append(rows); err != nil {
		t.Fatal(err)
	}
	// History without inventory rows is not a deletion.
	if err := e.store.AppendHistoryOnly([]storetest.Row{row("orphan", 1, 1, 40), row("poller", 4, 1, 401)}); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.ReconcileInterval = time.Hour // reconciliations by restart only, to control them
	r := start(t, cfg)
	st := r.c.Stats()
	waitFor(t, "first reconciliation", 10*time.Second, func() bool { return st.Reconciliations.Load() == 1 })
	// Reused: deleted and started again before any reconciliation sees it.
	if err := e.store.DeleteInstance("reused"); err != nil {
		t.Fatal(err)
	}
	again := []storetest.Row{row("reused", 1, 1, 5000), row("reused", 1, 2, 5001)}
	if err := e.store.Append(again); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reincarnation", 10*time.Second, func() bool { return st.NoticesPublished.Load() == 1 })
	if err := e.store.DeleteInstance("gone"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Prune("poller", 1, 2); err != nil {
		t.Fatal(err)
	}
	r.halt(t)
	// Deleted while the connector was down: the stored state still knows.
	r = start(t, cfg)
	waitFor(t, "notices", 10*time.Second, func() bool { return r.c.Stats().NoticesPublished.Load() == 2 })
	got := readStream(t, e.nats.JS, events.DefaultStream)
	var deleted, pruned []string
	for _, n := range got.notices {
		switch n.Type {
		case events.TypeInstanceDeleted:
			deleted = append(deleted, n.InstanceID)
			if n.InstanceID == "reused" && n.TimestampMs != 4999 {
				t.Errorf("reincarnation notice at %d, want 4999 (just before the new start)", n.TimestampMs)
			}
		case events.TypeExecutionsPruned:
			pruned = append(pruned, fmt.Sprint(n.InstanceID, n.ExecutionIDs))
		}
		if got.subject[n.MsgID()] != storedSubject(n.InstanceID) {
			t.Errorf("notice %s not on its instance's subject", n.MsgID())
		}
	}
	if fmt.Sprint(deleted) != "[reused gone]" || fmt.Sprint(pruned) != "[poller[1 2]]" {
		t.Fatalf("deleted %v, pruned %v", deleted, pruned)
	}
	for _, r := range again {
		id := events.ReincarnatedMsgID("reused", 1, r.EventID, 4999)
		if !bytes.Equal(got.byID[id], r.Data) {
			t.Errorf("new incarnation's event %s missing", id)
		}
	}
	// Nothing more: the notices are not sent twice.
	time.Sleep(300 * time.Millisecond)
	if n := r.c.Stats().NoticesPublished.Load(); n != 2 {
		t.Fatalf("%d notices after the restart, want 2", n)
	}
}

// A restart reads the state checkpoint and only the state changed after
// it, and still knows every instance it published: deletions made while
// it was down, of instances in the checkpoint and of instances published
// after it, are reported.
func TestCheckpointRestart(t *testing.T) {
	e := newEnv(t)
	var rows []storetest.Row
	for i := uint64(0); i < 40; i++ {
		id := fmt.Sprintf("inst-%02d", i)
		rows = append(rows, row(id, 1, 1, 100+i), row(id, 1, 2, 200+i))
	}
	if err := e.store.Append(rows); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.CheckpointMin = 1
	cfg.ReconcileInterval = time.Hour
	run := func(notices uint64) {
		t.Helper()
		r := start(t, cfg)
		st := r.c.Stats()
		waitFor(t, "caught up and reconciled", 10*time.Second, func() bool {
			return st.CaughtUp.Load() && st.Reconciliations.Load() == 1 && st.NoticesPublished.Load() == notices
		})
		r.halt(t)
	}
	run(0)
	kv, err := e.nats.JS.KeyValue(context.Background(), events.DefaultStream+"_CONNECTOR")
	if err != nil {
		t.Fatal(err)
	}
	manifest := func() map[string]any {
		t.Helper()
		m, err := kv.Get(context.Background(), "ckpt")
		if err != nil {
			t.Fatalf("no checkpoint: %v", err)
		}
		var v map[string]any
		if err := json.Unmarshal(m.Value(), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if m := manifest(); m["instances"] != float64(40) || m["slot"] != float64(0) {
		t.Fatalf("checkpoint after the backfill: %v", m)
	}
	// Down: one checkpointed instance deleted, a new one written.
	if err := e.store.DeleteInstance("inst-07"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Append([]storetest.Row{row("late", 1, 1, 900), row("late", 1, 2, 901)}); err != nil {
		t.Fatal(err)
	}
	cfg.CheckpointMin = 1000 // no new checkpoint: "late" lives only in its state key
	var log bytes.Buffer     // read once the connector has stopped
	cfg.Logger = zerolog.New(zerolog.SyncWriter(&log))
	run(1)
	// It resumed from the checkpoint alone: no state changed after it (the
	// position and the checkpoint's own keys are not state).
	if !strings.Contains(log.String(), `"instances":40,"checkpointed":40,"changes_after_checkpoint":0`) {
		t.Fatalf("the restart did not resume from the checkpoint:\n%s", log.String())
	}
	if m := manifest(); m["instances"] != float64(40) {
		t.Fatalf("a checkpoint was written: %v", m)
	}
	if err := e.store.DeleteInstance("late"); err != nil {
		t.Fatal(err)
	}
	// Enough changes (a quarter of the state) for the next checkpoint,
	// which goes to the other slot.
	var more []storetest.Row
	for i := uint64(0); i < 12; i++ {
		more = append(more, row(fmt.Sprintf("more-%02d", i), 1, 1, 1000+i))
	}
	if err := e.store.Append(more); err != nil {
		t.Fatal(err)
	}
	cfg.CheckpointMin = 1
	run(1)
	if m := manifest(); m["slot"] != float64(1) || m["instances"] != float64(53) {
		t.Fatalf("second checkpoint: %v", m)
	}
	// The journal the second checkpoint covers is purged (what is left is
	// the reconciliation's deletion of "late", after it); the state is whole.
	kvStream, err := e.nats.JS.Stream(context.Background(), "KV_"+events.DefaultStream+"_CONNECTOR")
	if err != nil {
		t.Fatal(err)
	}
	info, err := kvStream.Info(context.Background(), jetstream.WithSubjectFilter("$KV."+events.DefaultStream+"_CONNECTOR.j.>"))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.State.Subjects) != 1 {
		t.Fatalf("journal after the second checkpoint: %v", info.State.Subjects)
	}
	if err := e.store.DeleteInstance("more-03"); err != nil {
		t.Fatal(err)
	}
	run(1)
	got := readStream(t, e.nats.JS, events.DefaultStream)
	var deleted []string
	for _, n := range got.notices {
		deleted = append(deleted, n.InstanceID)
	}
	if fmt.Sprint(deleted) != "[inst-07 late more-03]" {
		t.Fatalf("notices for %v, want inst-07, late, more-03", deleted)
	}
}

func TestOnceNeedsNoTail(t *testing.T) {
	e := newEnv(t)
	want, err := e.store.Fill(gen.Config{Seed: 3, Instances: 30}, 100)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Once = true
	cfg.QueueInterval = time.Second
	sub, err := e.nats.NC.SubscribeSync(events.QueueSubject)
	if err != nil {
		t.Fatal(err)
	}
	c, err := connector.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != uint64(len(want)) {
		t.Fatalf("summary: %d rows, want %d", sum.Rows, len(want))
	}
	expectAll(t, readStream(t, e.nats.JS, events.DefaultStream), want)
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no queue snapshot: %v", err)
	}
	if _, err := events.DecodeQueueSnapshot(m.Data); err != nil {
		t.Fatalf("queue snapshot %s: %v", m.Data, err)
	}
}

func TestSourceRefusesWhatIsNotADuroxideStore(t *testing.T) {
	dir := t.TempDir()
	if _, err := sqlite.Open(context.Background(), sqlite.Config{Path: dir + "/none.db"}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	other, err := storetest.Open(dir + "/other.db")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.DB.Exec("CREATE TABLE history (x)"); err != nil {
		t.Fatal(err)
	}
	other.DB.Close()
	if _, err := sqlite.Open(context.Background(), sqlite.Config{Path: dir + "/other.db"}); err == nil || !strings.Contains(err.Error(), "not a Duroxide SQLite store") {
		t.Fatalf("other schema: %v", err)
	}
}

// The schema the tests fall back to is the one Duroxide's own migrations
// create (checked when the addon is installed).
func TestSchemaMatchesAddon(t *testing.T) {
	if _, err := os.Stat(storetest.AddonPath()); err != nil {
		t.Skipf("duroxide addon not installed: %v", err)
	}
	dir := t.TempDir()
	if err := storetest.CreateWithAddon(context.Background(), dir+"/a.db"); err != nil {
		t.Fatal(err)
	}
	a, err := storetest.Open(dir + "/a.db")
	if err != nil {
		t.Fatal(err)
	}
	defer a.DB.Close()
	got, err := a.Schema()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("storetest/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	if want := string(raw); !strings.Contains(want, strings.Join(got, ";\n\n")+";") {
		t.Fatalf("storetest/schema.sql differs from the addon's schema:\n%s", strings.Join(got, ";\n\n"))
	}
}

// The queue snapshot counts what Duroxide's own getQueueDepths counts, on
// the same store.
func TestQueuesEqualDuroxide(t *testing.T) {
	if _, err := os.Stat(storetest.AddonPath()); err != nil {
		t.Skipf("duroxide addon not installed: %v", err)
	}
	e := newEnv(t)
	for _, q := range []string{
		`INSERT INTO orchestrator_queue (instance_id, work_item) VALUES ('a', '{}'), ('b', '{}')`,
		`INSERT INTO orchestrator_queue (instance_id, work_item, lock_token) VALUES ('c', '{}', 'tok')`,
		`INSERT INTO orchestrator_queue (instance_id, work_item, visible_at) VALUES ('d', '{}', '2999-01-01 00:00:00')`,
		`INSERT INTO worker_queue (work_item) VALUES ('{}'), ('{}'), ('{}')`,
		`INSERT INTO worker_queue (work_item, lock_token) VALUES ('{}', 't')`,
		`INSERT INTO timer_queue (work_item, fire_at) VALUES ('{}', '2030-01-01')`,
	} {
		if _, err := e.store.DB.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.src.Queues(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	script := `const m = require(process.argv[1]);
(async () => { const p = await m.JsSqliteProvider.open("sqlite:" + process.argv[2]);
  console.log(JSON.stringify(await new m.JsClient(p).getQueueDepths())); })().catch((e) => { console.error(e); process.exit(1); });`
	out, err := exec.Command("node", "-e", script, storetest.AddonPath(), e.store.Path).Output()
	if err != nil {
		t.Fatalf("duroxide getQueueDepths: %v", err)
	}
	var want struct{ OrchestratorQueue, WorkerQueue, TimerQueue uint64 }
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if got.OrchestratorQueue != want.OrchestratorQueue || got.WorkerQueue != want.WorkerQueue || got.TimerQueue != want.TimerQueue || want.OrchestratorQueue != 3 {
		t.Fatalf("connector counts %+v, Duroxide %+v", got, want)
	}
}
