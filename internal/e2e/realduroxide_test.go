package e2e

// The real-Duroxide differential test (issue 12 item 4): a real Duroxide
// runtime (the Node addon, internal/duroxide) runs the scenario on a SQLite
// file while the connector tails it; the projector writes a private
// ClickHouse database and the query service answers over it. Every answer
// must equal Duroxide's own client's and the oracle's over the store's rows
// and the notices the connector published.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	_ "modernc.org/sqlite"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/client"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/connector"
	"github.com/duroscope/duroscope/internal/connector/sqlite"
	"github.com/duroscope/duroscope/internal/duroxide"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
)

// requireDuroxideEnv makes a missing node a failure (scripts/test.sh sets it).
const requireDuroxideEnv = "DUROSCOPE_REQUIRE_DUROXIDE"

func TestRealDuroxide(t *testing.T) {
	ctx := requireDuroxide(t, 2*time.Minute)
	path := filepath.Join(t.TempDir(), "duroxide.db")
	d := duroxide.Driver{Store: "sqlite:" + path}
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "realdx")
	stopProjector := startProjector(t, n, db, nil)

	// The connector binary tails the store while the scenario runs (so that
	// deletions and prunes of published instances reach the stream as
	// notices) and is SIGKILLed mid-tail, then restarted; an in-process
	// --once connector on the same KV bucket then finishes the tail and
	// reconciles once more.
	binary := buildConnector(t, t.TempDir())
	began := time.Now()
	liveCtx, stopLive := context.WithCancel(ctx)
	type tailResult struct {
		killedMidTail bool
		err           error
	}
	liveDone := make(chan tailResult, 1)
	go func() {
		k, err := tailWithKill(liveCtx, t, binary, path, n.URL, 60)
		liveDone <- tailResult{k, err}
	}()
	sc, err := d.RunScenario(ctx, "rdx")
	stopLive()
	live := <-liveDone
	if live.err != nil {
		t.Fatalf("live connector: %v", live.err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !live.killedMidTail {
		t.Error("the scenario ended before the connector was killed mid-tail")
	}
	t.Log("connector binary SIGKILLed mid-tail (stored position past 60 rows), restarted, stopped with SIGTERM")
	t.Logf("scenario: %d instances, %d deleted, %d reused, %d prunes (%v)",
		len(sc.Instances), len(sc.Deleted), len(sc.Reused), len(sc.Prunes), time.Since(began).Round(time.Millisecond))
	src, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	c, err := connector.New(connector.Config{Source: src, NC: n.NC, Once: true, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := c.Run(ctx)
	if err != nil {
		t.Fatalf("connector --once: %v", err)
	}
	t.Logf("connector --once: %d rows, %d notices, position %d", sum.Rows, sum.Notices, sum.Position)
	settleProjection(ctx, t, n, stopProjector)

	sdb, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	rows, maxTS := storeEvents(ctx, t, sdb, "SELECT instance_id, execution_id, event_data FROM history ORDER BY rowid")
	diffRealDuroxide(ctx, t, d, n, db, scenarioIDs(sc), rows, maxTS)
}

// settleProjection waits until the projector has acked the whole stream,
// then stops it: its drain recounts the report cells at once, where a
// running projector waits five times its last recount's duration between
// two (seconds on a busy ClickHouse). The projection is then complete.
func settleProjection(ctx context.Context, t *testing.T, n *testenv.NATS, stopProjector func()) {
	t.Helper()
	last, _ := lastPublishTime(t, n.JS)
	waitUntil(ctx, t, "the projector to ack the stream", func() bool { return ackFloor(t, n.JS, projector.ConsumerPrefix) >= last })
	stopProjector()
	projtest.WaitCaughtUp(t, n.JS, time.Minute)
}

// requireDuroxide skips the test when node is missing (fails it when
// DUROSCOPE_REQUIRE_DUROXIDE is set), installs the addon if needed, and
// returns a context bounded by timeout.
func requireDuroxide(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv(requireDuroxideEnv) == "" {
			t.Skipf("node not found (%v) and %s is not set", err, requireDuroxideEnv)
		}
		t.Fatalf("node not found (%v) and %s is set", err, requireDuroxideEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	if _, err := duroxide.EnsureAddon(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// diffRealDuroxide is the comparison once the connector has caught up and
// the projector has stored everything: the stream must hold every row the
// store still has (byte for byte), and every answer of the query service
// about ids and about the whole store must equal Duroxide's own client's
// and the oracle's over the stream's events and notices. rows are the
// store's history rows (storeEvents), maxTS the newest event timestamp.
func diffRealDuroxide(ctx context.Context, t *testing.T, d duroxide.Driver, n *testenv.NATS, db *testenv.Database, ids []string, rows []events.Event, maxTS int64) {
	t.Helper()
	asked := time.Now()
	answers, err := d.Answers(ctx, ids, false)
	if err != nil {
		t.Fatal(err)
	}
	phases := []string{fmt.Sprintf("Duroxide's answers %v", time.Since(asked).Round(time.Millisecond))}
	evs, notices := streamMessages(ctx, t, n)
	t.Logf("store: %d history rows; stream: %d events, %d notices", len(rows), len(evs), len(notices))
	if len(notices) == 0 {
		t.Error("the connector published no deletion or prune notice although the scenario deleted and pruned published instances")
	}

	// The query service's clock (health, problems): 7 minutes after the
	// newest event.
	nowMs := maxTS + 7*60_000
	srv := httptest.NewServer(newQueryHandler(t, n, db, func() time.Time { return time.UnixMilli(nowMs).UTC() }))
	t.Cleanup(srv.Close)
	cl, err := client.New(srv.URL, client.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	env := &diffEnv{nats: n, db: db, cl: cl, oracle: oracle.New(evs, notices...), nowMs: nowMs}

	r := newDiffReport(t)
	defer r.summary()
	phase := func(name string, f func()) {
		start := time.Now()
		f()
		phases = append(phases, fmt.Sprintf("%s %v", name, time.Since(start).Round(time.Millisecond)))
	}
	defer func() { t.Logf("comparison phases: %s", strings.Join(phases, ", ")) }()
	checkStoreRows(r.prefixed("store: ").sides("stream", "store"), ids, rows, evs, env.oracle)
	dr := r.prefixed("duroxide: ").sides("duroscope", "duroxide")
	phase("duroxide per id", func() { compareWithDuroxide(ctx, dr, cl, answers) })
	phase("duroxide store-wide", func() { compareStoreWide(ctx, dr, cl, answers) })
	o := r.prefixed("oracle: ")
	phase("oracle per id", func() {
		inParallel(ids, func(id string) {
			diffDeletedOne(ctx, env, o, id) // the instance's endpoints, or 404s when the oracle has none
		})
	})
	phase("bulk", func() { diffBulkStatus(t, env, o) })
	phase("list", func() { diffList(t, env, o) })
	phase("stats", func() { diffStats(t, env, o) })
	phase("health", func() { diffHealthProblems(t, env, o) })
}

// inParallel calls f for each item, four at a time (the query service
// answers concurrent calls; the report is safe for concurrent use).
func inParallel[T any](items []T, f func(T)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(it)
		}()
	}
	wg.Wait()
}

// tailWithKill tails the store with the connector binary while the
// scenario runs: it starts once Duroxide has created and migrated the store,
// is SIGKILLed once it has stored a position past killAfter rows (mid-tail:
// the scenario writes about 200), and a second process takes over from the
// KV bucket until ctx ends; it is then stopped with SIGTERM. It reports
// whether the kill happened while the scenario still ran.
func tailWithKill(ctx context.Context, t *testing.T, binary, store, natsURL string, killAfter float64) (killedMidTail bool, err error) {
	for {
		src, err := sqlite.Open(ctx, sqlite.Config{Path: store})
		if err == nil {
			src.Close()
			break
		}
		if ctx.Err() != nil {
			return false, fmt.Errorf("the store was never ready: %w", err)
		}
		time.Sleep(50 * time.Millisecond) // not created or not migrated yet
	}
	env := []string{"DUROSCOPE_SOURCE=sqlite:" + store, "DUROSCOPE_POLL_INTERVAL=20ms", "DUROSCOPE_RECONCILE_INTERVAL=300ms"}
	first, err := startConnectorProc(t, binary, natsURL, env...)
	if err != nil {
		return false, err
	}
	for ctx.Err() == nil && first.metric("duroscope_connector_source_position") < killAfter {
		select {
		case err := <-first.done:
			return false, fmt.Errorf("connector exited before the kill: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	killedMidTail = ctx.Err() == nil
	if err := first.kill(); err != nil {
		return false, err
	}
	second, err := startConnectorProc(t, binary, natsURL, env...)
	if err != nil {
		return false, err
	}
	select {
	case err := <-second.done:
		return false, fmt.Errorf("restarted connector exited: %v", err)
	case <-ctx.Done():
	}
	if err := second.stop(); err != nil {
		return false, fmt.Errorf("restarted connector: %w", err)
	}
	return killedMidTail, nil
}

// connectorProc is a running connector binary.
type connectorProc struct {
	cmd  *exec.Cmd
	addr string
	done chan error
}

// startConnectorProc starts the connector binary with the source's
// settings (env, "NAME=value") on a free status address, logging warnings.
func startConnectorProc(t *testing.T, binary, natsURL string, env ...string) (*connectorProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(binary)
	cmd.Env = append(append(os.Environ(), "DUROSCOPE_NATS_URL="+natsURL, "DUROSCOPE_CONNECTOR_HTTP_ADDR="+addr, "DUROSCOPE_LOG_LEVEL=warn"), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	p := &connectorProc{cmd: cmd, addr: addr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return p, nil
}

// kill SIGKILLs the process and waits for its end.
func (p *connectorProc) kill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

// stop ends the process with SIGTERM; it must exit cleanly.
func (p *connectorProc) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := <-p.done; err != nil {
		return fmt.Errorf("connector on SIGTERM: %w", err)
	}
	return nil
}

// metric reads one value of the connector's /metrics (-1 while the server
// is not up).
func (p *connectorProc) metric(name string) float64 {
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var v float64
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			if _, err := fmt.Sscan(f[1], &v); err == nil {
				return v
			}
		}
	}
	return -1
}

// buildConnector builds cmd/connector into dir.
func buildConnector(t *testing.T, dir string) string {
	t.Helper()
	binary := filepath.Join(dir, "connector")
	if out, err := exec.Command("go", "build", "-o", binary, "../../cmd/connector").CombinedOutput(); err != nil {
		t.Fatalf("build the connector: %v\n%s", err, out)
	}
	return binary
}

// scenarioIDs is every id the scenarios created, present or deleted, with
// those of attempts abandoned on a Duroxide lock failure, sorted.
func scenarioIDs(scs ...*duroxide.Scenario) []string {
	set := map[string]bool{}
	for _, sc := range scs {
		for _, in := range sc.Instances {
			set[in.InstanceID] = true
		}
		for _, del := range sc.Deleted {
			set[del.InstanceID] = true
		}
		for _, id := range sc.AbandonedIDs() {
			set[id] = true
		}
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// storeEvents decodes every history row query returns (instance_id,
// execution_id, event_data), with the repair EVENTS.md requires (an
// OrchestrationFailed without its key gets the row's), and returns the
// newest event timestamp.
func storeEvents(ctx context.Context, t *testing.T, sdb *sql.DB, query string) ([]events.Event, int64) {
	t.Helper()
	rows, err := sdb.QueryContext(ctx, query)
	if err != nil {
		t.Fatalf("read history: %v", err)
	}
	defer rows.Close()
	var out []events.Event
	var maxTS int64
	for rows.Next() {
		var id string
		var exec uint64
		var data []byte
		if err := rows.Scan(&id, &exec, &data); err != nil {
			t.Fatal(err)
		}
		e, err := events.Decode(data)
		if err != nil {
			t.Fatalf("history row %s/%d: %v: %s", id, exec, err, data)
		}
		if e.InstanceID == "" {
			e.InstanceID = id
		}
		if e.ExecutionID == 0 {
			e.ExecutionID = exec
		}
		if e.InstanceID != id || e.ExecutionID != exec {
			t.Fatalf("history row %s/%d holds an event of %s/%d", id, exec, e.InstanceID, e.ExecutionID)
		}
		maxTS = max(maxTS, int64(e.TimestampMs))
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out, maxTS
}

// streamMessages reads back every event and notice the connector published.
func streamMessages(ctx context.Context, t *testing.T, n *testenv.NATS) ([]events.Event, []events.Notice) {
	t.Helper()
	s, err := n.JS.Stream(ctx, events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var evs []events.Event
	var notices []events.Notice
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream message %d: %v", seq, err)
		}
		msg, err := events.DecodeMessage(m.Data)
		switch {
		case err != nil:
			t.Fatalf("stream message %d: %v: %s", seq, err, m.Data)
		case msg.IsNotice:
			notices = append(notices, msg.Notice)
		default:
			evs = append(evs, msg.Event)
		}
	}
	return evs, notices
}

// checkStoreRows checks that every history row left in the store was
// published byte for byte (or with the key repair), and that the oracle over
// the store's rows alone agrees with the stream's oracle on every
// instance's executions and history: the only answers a store that lost its
// pruned executions can still give (the summary keeps pruned executions,
// EVENTS.md, so the store alone cannot answer it).
func checkStoreRows(r *diffReport, ids []string, store, stream []events.Event, streamOracle *oracle.Oracle) {
	type key struct {
		id          string
		exec, event uint64
	}
	published := map[key][]string{}
	for _, e := range stream {
		k := key{e.InstanceID, e.ExecutionID, e.EventID}
		published[k] = append(published[k], string(e.Raw))
	}
	for _, e := range store {
		got := published[key{e.InstanceID, e.ExecutionID, e.EventID}]
		repaired := e.Type == events.TypeOrchestrationFailed && strings.Contains(string(e.Raw), `"instance_id":""`)
		if !slices.Contains(got, string(e.Raw)) && (len(got) == 0 || !repaired) {
			r.fail("stream", "store row %s/%d/%d %s: published as %q", e.InstanceID, e.ExecutionID, e.EventID, e.Raw, got)
			continue
		}
		r.ok("stream")
	}
	storeOracle := oracle.New(store)
	for _, id := range ids {
		got, gok := streamOracle.Executions(id)
		want, wok := storeOracle.Executions(id)
		r.equal("executions (store rows)", id, found[api.ExecutionList]{got, gok}, found[api.ExecutionList]{want, wok})
		gh, gok := streamOracle.History(id, nil)
		wh, wok := storeOracle.History(id, nil)
		r.equal("history (store rows)", id, found[api.History]{gh, gok}, found[api.History]{wh, wok})
	}
}

// found pairs a lookup's answer with its found flag.
type found[T any] struct {
	Answer T
	Found  bool
}

// duroxideDisplay is Duroxide's display message of a failure
// (ErrorDetails::display_message), from Duroscope's projection of it. A
// cancellation's projected message already reads "canceled: <reason>".
func duroxideDisplay(e *api.Error) string {
	switch {
	case e.Category == "configuration" && e.Kind == "Nondeterminism":
		return "nondeterministic: " + e.Message
	case e.Category == "application" && e.Kind == "Panicked":
		return "orchestration panicked: " + e.Message
	}
	return e.Message
}

// compareWithDuroxide holds the query service's answers to Duroxide's own
// client's. Timestamps are not compared: on SQLite Duroxide answers
// createdAt, updatedAt and startedAt as 0 (STORE.md), and its history
// timestamps are the events' own, which the oracle comparison covers.
func compareWithDuroxide(ctx context.Context, r *diffReport, cl *client.Client, a *duroxide.Answers) {
	inParallel(a.Instances, func(want duroxide.InstanceAnswers) { compareInstanceWithDuroxide(ctx, r, cl, want) })
}

// compareInstanceWithDuroxide compares one instance's summary, executions
// and histories with Duroxide's answers about it.
func compareInstanceWithDuroxide(ctx context.Context, r *diffReport, cl *client.Client, want duroxide.InstanceAnswers) {
	const (
		epSummary    = "GET /v1/instances/{id}"
		epExecutions = "GET /v1/instances/{id}/executions"
		epHistory    = "GET /v1/instances/{id}/history"
	)
	id := want.InstanceID
	if !want.Found {
		_, err := cl.Instance(ctx, id)
		want404(r, epSummary+" (Duroxide: NotFound)", id, err)
		return
	}
	got, err := cl.Instance(ctx, id)
	if err != nil {
		r.fail(epSummary, "%s: %v (Duroxide: %s)", id, err, want.Status.Status)
		return
	}
	info := want.Info
	r.equal(epSummary, id+" status", got.Status, want.Status.Status)
	r.equal(epSummary, id+" orchestration_name", got.OrchestrationName, info.OrchestrationName)
	r.equal(epSummary, id+" version", got.Version, info.OrchestrationVersion)
	r.equal(epSummary, id+" current_execution_id", got.CurrentExecutionID, uint64(info.CurrentExecutionID))
	r.equal(epSummary, id+" parent_instance", got.ParentInstance, info.ParentInstanceID)
	r.equal(epSummary, id+" custom_status", got.CustomStatus, want.Status.CustomStatus)
	if info.CreatedAt > 0 { // Postgres: Duroxide answers its ack times
		// An instance pruned before the connector read its first
		// execution: Duroscope's created_at is the first it saw.
		if len(want.Executions) > 0 && want.Executions[0].ExecutionID == 1 {
			sameTurn(r, epSummary, id+" created_at", got.CreatedAt, info.CreatedAt)
		}
		sameTurn(r, epSummary, id+" updated_at", got.UpdatedAt, info.UpdatedAt)
	}
	if want.Status.Status == api.StatusFailed {
		// Duroxide's getStatus.error is the failure's display message:
		// the thrown message, "canceled: <reason>" for a cancellation.
		if got.Error == nil || want.Status.Error == nil {
			r.fail(epSummary, "%s error: %+v, Duroxide %v", id, got.Error, want.Status.Error)
		} else {
			r.equal(epSummary, id+" error (display message)", duroxideDisplay(got.Error), *want.Status.Error)
		}
	} else {
		r.equal(epSummary, id+" output", got.Output, want.Status.Output)
		r.equal(epSummary, id+" error", got.Error, (*api.Error)(nil))
	}

	execs, err := cl.Executions(ctx, id)
	if err != nil {
		r.fail(epExecutions, "%s: %v", id, err)
		return
	}
	gotIDs := make([]uint64, len(execs))
	for i, x := range execs {
		gotIDs[i] = x.ExecutionID
	}
	var wantIDs []uint64
	for _, x := range want.Executions {
		wantIDs = append(wantIDs, uint64(x.ExecutionID))
	}
	if !r.equal(epExecutions, id+" execution ids", gotIDs, wantIDs) {
		return
	}
	for i, wx := range want.Executions {
		x := execs[i]
		what := fmt.Sprintf("%s execution %d", id, x.ExecutionID)
		r.equal(epExecutions, what+" status", x.Status, wx.Info.Status)
		r.equal(epExecutions, what+" event_count", x.EventCount, uint64(wx.Info.EventCount))
		// Duroscope's execution output is its own OrchestrationCompleted's
		// (EVENTS.md); Duroxide's executions.output also holds a
		// continue-as-new's next input, "" while Running and the
		// failure message when Failed.
		if wx.Info.Status == api.StatusCompleted {
			r.equal(epExecutions, what+" output", x.Output, wx.Info.Output)
		}
		if wx.Info.Status != api.StatusRunning && wx.Info.CompletedAt != nil && *wx.Info.CompletedAt > 0 {
			if r.equal(epExecutions, what+" completed_at", x.CompletedAt != nil, true) {
				sameTurn(r, epExecutions, what+" completed_at", *x.CompletedAt, *wx.Info.CompletedAt)
			}
		}
		if wx.Info.StartedAt > 0 {
			sameTurn(r, epExecutions, what+" started_at", x.StartedAt, wx.Info.StartedAt)
		}
		raw, err := cl.History(ctx, id, client.HistoryParams{ExecutionID: x.ExecutionID})
		if err != nil {
			r.fail(epHistory, "%s: %v", what, err)
			continue
		}
		r.equal(epHistory, what+" events (event_id kind timestamp_ms)", historyKeys(r, raw), duroxideKeys(wx.History))
	}
}

// compareStoreWide compares the answers about the whole store:
// listAllInstances, listInstancesByStatus, getSystemMetrics, and
// getInstanceTree (id and its descendants) against the descendants
// Duroscope's parent links give.
func compareStoreWide(ctx context.Context, r *diffReport, cl *client.Client, a *duroxide.Answers) {
	var all []api.InstanceSummary
	for s, err := range cl.Instances(ctx, client.ListParams{Limit: 1000}) {
		if err != nil {
			r.fail("GET /v1/instances", "%v", err)
			return
		}
		all = append(all, s)
	}
	ids := func(list []api.InstanceSummary, keep func(api.InstanceSummary) bool) []string {
		out := []string{}
		for _, s := range list {
			if keep(s) {
				out = append(out, s.InstanceID)
			}
		}
		sort.Strings(out)
		return out
	}
	sorted := func(l []string) []string {
		out := append([]string{}, l...)
		sort.Strings(out)
		return out
	}
	r.equal("GET /v1/instances", "all ids (listAllInstances)", ids(all, func(api.InstanceSummary) bool { return true }), sorted(a.AllInstances))
	for _, st := range []string{api.StatusRunning, api.StatusCompleted, api.StatusFailed} {
		r.equal("GET /v1/instances", "status="+st+" (listInstancesByStatus)",
			ids(all, func(s api.InstanceSummary) bool { return s.Status == st }), sorted(a.ByStatus[st]))
	}

	// getSystemMetrics counts instances by their current status and every
	// execution and history row left in the store.
	var m duroxide.SystemMetrics
	var mu sync.Mutex
	failed := false
	inParallel(all, func(s api.InstanceSummary) {
		execs, err := cl.Executions(ctx, s.InstanceID)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			r.fail("GET /v1/instances/{id}/executions", "%s: %v", s.InstanceID, err)
			failed = true
			return
		}
		for _, x := range execs {
			m.TotalExecutions++
			m.TotalEvents += int64(x.EventCount)
		}
	})
	if failed {
		return
	}
	children := map[string][]string{}
	for _, s := range all {
		m.TotalInstances++
		switch s.Status {
		case api.StatusRunning:
			m.RunningInstances++
		case api.StatusCompleted:
			m.CompletedInstances++
		case api.StatusFailed:
			m.FailedInstances++
		}
		if s.ParentInstance != nil {
			children[*s.ParentInstance] = append(children[*s.ParentInstance], s.InstanceID)
		}
	}
	r.equal("GET /v1/instances + /executions", "counts (getSystemMetrics)", m, a.SystemMetrics)

	for _, in := range a.Instances {
		if in.Tree == nil {
			continue
		}
		tree := []string{in.InstanceID}
		for i := 0; i < len(tree); i++ {
			tree = append(tree, children[tree[i]]...)
		}
		r.equal("parent_instance links", in.InstanceID+" tree (getInstanceTree)", sorted(tree), sorted(in.Tree.AllIDs))
	}
}

// sameTurn checks a time Duroxide answers from its tables (Postgres: the
// application's clock around the turn, mostly its ack) against
// Duroscope's, taken from the turn's events (EVENTS.md): they differ by
// at most the turn's duration (bounded here by 10 s), mostly with
// Duroxide's later (an execution's started_at may come before its
// OrchestrationStarted's timestamp).
func sameTurn(r *diffReport, endpoint, what string, duroscope api.Time, duroxideMs int64) {
	if lag := duroxideMs - int64(duroscope); lag < -10_000 || lag > 10_000 {
		r.fail(endpoint, "%s: Duroscope %d, Duroxide %d (%+d ms)", what, duroscope, duroxideMs, lag)
		return
	}
	r.ok(endpoint)
}

// eventKey is what Duroscope's and Duroxide's history entries share.
type eventKey struct {
	EventID     int64
	Kind        string
	TimestampMs int64
}

func historyKeys(r *diffReport, raw []json.RawMessage) []eventKey {
	out := make([]eventKey, 0, len(raw))
	for _, b := range raw {
		var e struct {
			EventID     int64  `json:"event_id"`
			Type        string `json:"type"`
			TimestampMs int64  `json:"timestamp_ms"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			r.fail("GET /v1/instances/{id}/history", "undecodable event %s: %v", b, err)
		}
		out = append(out, eventKey{e.EventID, e.Type, e.TimestampMs})
	}
	return out
}

func duroxideKeys(h []duroxide.Event) []eventKey {
	out := make([]eventKey, 0, len(h))
	for _, e := range h {
		out = append(out, eventKey{e.EventID, e.Kind, e.TimestampMs})
	}
	slices.SortFunc(out, func(a, b eventKey) int { return int(a.EventID - b.EventID) })
	return out
}
