package e2e

// The real-Duroxide differential test on Postgres (issue 13 item 3): real
// Duroxide runs the scenario on a private Postgres 15 (duroxide-pg's
// schema, created by connectWithSchema) while the connector binary follows
// it in cdc or in poll mode; the binary is SIGKILLed mid-backfill and
// mid-stream, and Postgres is restarted mid-stream. Once the
// connector has caught up, every answer of the query service must equal
// Duroxide's own client's and the oracle's (diffRealDuroxide).

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/connector/postgres"
	"github.com/duroscope/duroscope/internal/duroxide"
	"github.com/duroscope/duroscope/internal/testenv"
)

func TestRealDuroxidePostgres(t *testing.T) {
	ctx := requireDuroxide(t, 6*time.Minute)
	binary := buildConnector(t, t.TempDir())
	// The modes run side by side, each on its own Postgres server (each
	// run restarts its server); poll's keeps the default wal_level.
	for _, mode := range []string{postgres.ModeCDC, postgres.ModePoll} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var opts []testenv.PostgresOption
			if mode == postgres.ModeCDC {
				opts = append(opts, testenv.WithLogicalReplication())
			}
			pgDifferential(ctx, t, testenv.StartPostgres(t, opts...), binary, mode)
		})
	}
}

// pgDifferential runs one mode on its own schema, stream and ClickHouse
// database:
//
//  1. scenario "<mode>-pre" before the connector starts (the backfill);
//  2. the connector binary, reading 5 rows per batch so that the backfill
//     takes many stored positions, is SIGKILLed once it has stored one
//     and before the backfill is over, then restarted;
//  3. once it follows new rows, scenario "<mode>-mid" runs and the binary
//     is SIGKILLed after 40 of its rows reached the stream, then
//     restarted;
//  4. Postgres is restarted (fast shutdown) while the connector follows
//     it, with the scenario's last commits not yet taken (the connector
//     was frozen while they were made), and scenario "<mode>-post" runs
//     on the restarted server (cdc reconnects to the slot; poll's reads
//     fail until the server is back);
//  5. catching up: cdc waits until the slot has confirmed the WAL written
//     by the scenarios; poll waits for two reconciliations that started
//     after the last commit (deletions and prunes are found only by them);
//     the binary is then stopped with SIGTERM.
//
// DUROSCOPE_HEAVY=1 adds real Duroxide's load mix (10 instances/s for 20 s,
// every 5th deleted, continue-as-new instances pruned) after scenario
// "<mode>-post", and compares every instance the connector published.
func pgDifferential(ctx context.Context, t *testing.T, pg *testenv.Postgres, binary, mode string) {
	heavy := os.Getenv("DUROSCOPE_HEAVY") == "1"
	schema := "dx_" + mode
	d := duroxide.Driver{Store: pg.URL, Schema: schema}
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "rdxpg_"+mode)
	stopProjector := startProjector(t, n, db, nil)
	began := time.Now()
	step := func(format string, args ...any) {
		t.Logf("%6.1fs "+format, append([]any{time.Since(began).Seconds()}, args...)...)
	}

	pre, err := d.RunScenario(ctx, mode+"-pre")
	if err != nil {
		t.Fatal(err)
	}
	step("scenario %s-pre: %d instances", mode, len(pre.Instances))
	env := []string{"DUROSCOPE_SOURCE=" + pg.URL, "DUROSCOPE_SOURCE_SCHEMA=" + schema, "DUROSCOPE_SOURCE_MODE=" + mode,
		"DUROSCOPE_CONNECTOR_BATCH_SIZE=5", "DUROSCOPE_POLL_INTERVAL=20ms", "DUROSCOPE_RECONCILE_INTERVAL=300ms"}
	start := func() *connectorProc {
		t.Helper()
		p, err := startConnectorProc(t, binary, n.URL, env...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// 2. SIGKILL mid-backfill.
	p := start()
	midBackfill, err := killWhen(ctx, p, func() bool {
		return p.metric("duroscope_connector_source_position") > 0 && p.metric("duroscope_connector_caught_up") == 0
	})
	if err != nil {
		t.Fatal(err)
	}
	if !midBackfill {
		t.Error("the connector was not killed mid-backfill (no stored position seen before the backfill ended)")
	}
	step("connector SIGKILLed mid-backfill; stream holds %d messages", streamCount(ctx, t, n))
	p = start()
	waitUntil(ctx, t, "the restarted connector's backfill", func() bool { return p.metric("duroscope_connector_caught_up") == 1 })
	step("backfill done after the restart")

	// 3. SIGKILL mid-stream.
	before := streamCount(ctx, t, n)
	type result struct {
		sc  *duroxide.Scenario
		err error
	}
	mid := make(chan result, 1)
	go func() { sc, err := d.RunScenario(ctx, mode+"-mid"); mid <- result{sc, err} }()
	midStream, err := killWhen(ctx, p, func() bool { return streamCount(ctx, t, n) >= before+40 && len(mid) == 0 })
	if err != nil {
		t.Fatal(err)
	}
	if !midStream {
		t.Error("the connector was not killed mid-stream (the scenario ended first)")
	}
	step("connector SIGKILLed mid-stream (%d messages past the backfill)", streamCount(ctx, t, n)-before)
	p = start()
	// 4. Postgres restarted mid-stream: the restarted connector follows,
	// then is frozen (SIGSTOP) while the scenario's last transactions
	// commit and let go (SIGCONT) just before Postgres stops, so that the
	// restart meets it with work in hand.
	waitUntil(ctx, t, "the restarted connector to follow", func() bool { return p.metric("duroscope_connector_caught_up") == 1 })
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	m := <-mid
	if m.err != nil {
		t.Fatal(m.err)
	}
	scs := []*duroxide.Scenario{pre, m.sc}
	step("scenario %s-mid: %d instances, %d deleted, %d prunes", mode, len(m.sc.Instances), len(m.sc.Deleted), len(m.sc.Prunes))
	slot := postgres.SlotName(events.DefaultStream + "_CONNECTOR")
	if mode == postgres.ModeCDC {
		step("the slot has %d bytes of WAL to confirm", unconfirmedWAL(ctx, t, pg.URL, slot))
	}
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	step("Postgres restarted")
	post, err := d.RunScenario(ctx, mode+"-post")
	if err != nil {
		t.Fatal(err)
	}
	scs = append(scs, post)
	step("scenario %s-post: %d instances", mode, len(post.Instances))
	if heavy {
		// Real Duroxide's load mix, followed live: more rows, commits
		// further out of created_at order, deletions and prunes throughout.
		load, err := d.RunLoad(ctx, duroxide.LoadOptions{Prefix: mode + "-load", Rate: 10, Duration: 20 * time.Second, DeleteEvery: 5, Prune: true})
		if err != nil {
			t.Fatal(err)
		}
		step("load %s-load: %d started, %d deleted, %d executions pruned", mode, load.Started, load.Deleted, load.Pruned)
	}

	// 5. Catch up, then stop the connector.
	sdb, err := sql.Open("pgx", pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	if mode == postgres.ModeCDC {
		var written string
		if err := sdb.QueryRowContext(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&written); err != nil {
			t.Fatal(err)
		}
		waitUntil(ctx, t, "the slot to confirm "+written, func() bool {
			var ok bool
			err := sdb.QueryRowContext(ctx, "SELECT confirmed_flush_lsn >= $1::pg_lsn FROM pg_replication_slots WHERE slot_name = $2", written, slot).Scan(&ok)
			return err == nil && ok && len(p.done) == 0
		})
	} else {
		r0 := p.metric("duroscope_connector_reconciliations_total")
		waitUntil(ctx, t, "two reconciliations after the last commit", func() bool {
			return r0 >= 0 && p.metric("duroscope_connector_reconciliations_total") >= r0+2
		})
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	step("connector caught up and stopped")
	settleProjection(ctx, t, n, stopProjector)
	step("projection complete")

	rows, maxTS := storeEvents(ctx, t, sdb, "SELECT instance_id, execution_id, event_data FROM "+schema+
		".history ORDER BY created_at, instance_id, execution_id, event_id")
	ids := scenarioIDs(scs...)
	if heavy {
		// The load's ids: every instance published, deleted ones included.
		evs, _ := streamMessages(ctx, t, n)
		for _, e := range evs {
			ids = append(ids, e.InstanceID)
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
	}
	diffRealDuroxide(ctx, t, d, n, db, ids, rows, maxTS)
	step("compared")
}

// killWhen SIGKILLs the process once cond holds (checked every 5 ms); if
// the process exits or ctx ends first, it is an error. It reports whether
// cond held (false: cond never held before the process was killed at
// ctx's end).
func killWhen(ctx context.Context, p *connectorProc, cond func() bool) (bool, error) {
	for !cond() {
		select {
		case err := <-p.done:
			p.done <- err
			return false, fmt.Errorf("connector exited before the kill: %v", err)
		case <-ctx.Done():
			return false, p.kill()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true, p.kill()
}

// waitUntil waits for cond (checked every 50 ms) for at most a minute.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unconfirmedWAL is how far (bytes) the slot's confirmed position is behind
// the server's WAL.
func unconfirmedWAL(ctx context.Context, t *testing.T, url, slot string) int64 {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var behind int64
	if err := conn.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&behind); err != nil {
		t.Fatalf("slot %s: %v", slot, err)
	}
	return behind
}

// streamCount is how many messages the history stream holds.
func streamCount(ctx context.Context, t *testing.T, n *testenv.NATS) uint64 {
	t.Helper()
	s, err := n.JS.Stream(ctx, events.DefaultStream)
	if err != nil {
		return 0 // not created yet
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}
