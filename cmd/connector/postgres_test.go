package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/duroscope/duroscope/internal/connector/postgres/pgtest"
	"github.com/duroscope/duroscope/internal/duroxide"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/testenv"
)

// syncBuffer collects a process's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

const pgPassword = "pw-Zq7-never-shown"

func startPG(t *testing.T, source, mode, natsURL string, logs io.Writer, extra ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(binary, extra...)
	cmd.Env = append(os.Environ(), "DUROSCOPE_SOURCE="+source, "DUROSCOPE_SOURCE_SCHEMA=dx", "DUROSCOPE_SOURCE_MODE="+mode,
		"DUROSCOPE_NATS_URL="+natsURL, "DUROSCOPE_CONNECTOR_HTTP_ADDR="+addr, "DUROSCOPE_POLL_INTERVAL=50ms",
		"DUROSCOPE_RECONCILE_INTERVAL=1s", "DUROSCOPE_LOG_LEVEL=info")
	cmd.Stderr = io.MultiWriter(os.Stderr, logs)
	cmd.Stdout = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, addr: addr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	return p
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.done <- nil
}

func (p *proc) metrics() string {
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// setupStore starts a private Postgres 15 with wal_level=logical, has real
// Duroxide create its schema dx, and makes the least-privilege role the
// docs name: LOGIN with a password, REPLICATION, USAGE on the schema and
// SELECT on its tables; the publication is created by the owner (a role
// that owns no table may not). It returns the role's URL.
func setupStore(t *testing.T) (*testenv.Postgres, string) {
	t.Helper()
	pg := testenv.StartPostgres(t, testenv.WithLogicalReplication())
	ctx := context.Background()
	if _, err := (duroxide.Driver{Store: pg.URL, Schema: "dx"}).Answers(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		"CREATE ROLE duroscope LOGIN REPLICATION PASSWORD '" + pgPassword + "'",
		"GRANT USAGE ON SCHEMA dx TO duroscope",
		"GRANT SELECT ON ALL TABLES IN SCHEMA dx TO duroscope",
		"CREATE PUBLICATION duroscope_dx FOR TABLE dx.history, dx.executions, dx.instances WITH (publish = 'insert, delete')",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return pg, fmt.Sprintf("postgres://duroscope:%s@127.0.0.1:%d/postgres?sslmode=disable", pgPassword, pg.Port)
}

// The connector process in cdc mode, as the least-privilege role: SIGKILL
// during the backfill, SIGKILL during the stream, Postgres restarted during
// the stream; every row reaches the stream, and the password never shows
// in the logs or the metrics.
func TestPostgresCDCKillAndRestart(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	pg, url := setupStore(t)
	ctx := context.Background()
	want, err := pgtest.Fill(ctx, pg.URL, "dx", gen.Config{Seed: 7, Instances: 1500, SpreadMs: 86_400_000}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	n := testenv.StartNATS(t)
	var logs syncBuffer
	p := startPG(t, url, "cdc", n.URL, &logs)
	waitFor(t, "backfill progress", 60*time.Second, func() bool { return p.metric("duroscope_connector_source_position") > 5000 })
	p.kill(t)
	p = startPG(t, url, "cdc", n.URL, &logs)
	waitFor(t, "backfill done", 120*time.Second, func() bool { return p.metric("duroscope_connector_caught_up") == 1 })
	metrics := p.metrics()
	if !strings.Contains(metrics, "duroscope_connector_slot_wal_bytes") {
		t.Errorf("metrics lack the slot's WAL gauge:\n%s", metrics)
	}
	fill := func(seed int64, prefix string) {
		more, err := pgtest.Fill(ctx, pg.URL, "dx", gen.Config{Seed: seed, Instances: 200, IDPrefix: prefix}, 50)
		if err != nil {
			t.Error(err)
		}
		for k, v := range more {
			want[k] = v
		}
	}
	// SIGKILL during the stream.
	done := make(chan struct{})
	go func() { fill(8, "tail1-"); close(done) }()
	time.Sleep(300 * time.Millisecond)
	p.kill(t)
	<-done
	p = startPG(t, url, "cdc", n.URL, &logs)
	// Postgres restarted during the stream (the connector reconnects).
	fill(9, "tail2-")
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	fill(10, "tail3-")
	deadline := time.Now().Add(120 * time.Second)
	for {
		got := msgIDs(t, n.JS)
		lost := map[string]int{}
		example := ""
		for id := range want {
			if !got[id] {
				lost[strings.SplitN(id, "-", 2)[0]]++
				example = id
			}
		}
		if len(lost) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rows lost by id prefix: %v (e.g. %s); the stream holds %d messages", lost, example, len(got))
		}
		time.Sleep(500 * time.Millisecond)
	}
	metrics = p.metrics()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	p.done <- nil
	// Decommission: --drop-slot removes the slot.
	drop := exec.Command(binary, "--drop-slot")
	drop.Env = append(os.Environ(), "DUROSCOPE_SOURCE="+url, "DUROSCOPE_SOURCE_SCHEMA=dx")
	out, err := drop.CombinedOutput()
	if err != nil {
		t.Fatalf("--drop-slot: %v\n%s", err, out)
	}
	logs.Write(out)
	var slots int
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots").Scan(&slots); err != nil || slots != 0 {
		t.Fatalf("slots after --drop-slot: %d, %v", slots, err)
	}
	if strings.Contains(logs.String()+metrics, pgPassword) {
		t.Fatal("the password shows in the logs or the metrics")
	}
	if !strings.Contains(logs.String(), "xxxxx") && !strings.Contains(logs.String(), "slot") {
		t.Fatalf("no logs were captured: %q", logs.String())
	}
}

// Errors name the missing privilege and never the password: a role
// without REPLICATION in cdc mode, and one without SELECT.
func TestPostgresPrivilegeErrors(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	pg, url := setupStore(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	n := testenv.StartNATS(t)
	run := func(mode string) (string, error) {
		var logs syncBuffer
		p := startPG(t, url, mode, n.URL, &logs, "--once")
		err := <-p.done
		p.done <- err
		return logs.String(), err
	}
	if _, err := conn.Exec(ctx, "ALTER ROLE duroscope NOREPLICATION"); err != nil {
		t.Fatal(err)
	}
	// --once polls; a long-running cdc connector must refuse clearly.
	var logs syncBuffer
	p := startPG(t, url, "cdc", n.URL, &logs)
	if err := <-p.done; err == nil {
		t.Fatal("cdc without REPLICATION started")
	}
	p.done <- nil
	if !strings.Contains(logs.String(), "REPLICATION") || strings.Contains(logs.String(), pgPassword) {
		t.Fatalf("cdc without REPLICATION: %s", logs.String())
	}
	// auto falls back to poll and says why.
	var autoLogs syncBuffer
	p = startPG(t, url, "auto", n.URL, &autoLogs)
	waitFor(t, "auto's choice", 30*time.Second, func() bool {
		return strings.Contains(autoLogs.String(), "cdc is not possible, polling") && strings.Contains(autoLogs.String(), "REPLICATION")
	})
	p.kill(t)
	if _, err := conn.Exec(ctx, "REVOKE SELECT ON dx.history FROM duroscope"); err != nil {
		t.Fatal(err)
	}
	out, err := run("poll")
	if err == nil || !strings.Contains(out, "no SELECT on dx.history") || strings.Contains(out, pgPassword) {
		t.Fatalf("poll without SELECT: %v\n%s", err, out)
	}
}
