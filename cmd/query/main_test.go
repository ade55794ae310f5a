package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/natsembed"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chwrite"
	"github.com/duroscope/duroscope/schema"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParse(t *testing.T) {
	s, err := parse(nil, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.HTTPAddr != "127.0.0.1:8080" || s.NATSURL != "nats://127.0.0.1:4222" || s.Stream != "DUROXIDE_HISTORY" ||
		strings.Join(s.ClickHouseAddrs, ",") != "127.0.0.1:9000" || s.ClickHouseDatabase != "duroscope" ||
		s.ClickHouseUser != "default" || s.ClickHousePassword != "" || s.APIToken != "" || s.LogLevel != "info" ||
		s.QueryTimeout != 10*time.Second || s.MaxInFlight != 64 || s.MaxScans != 8 || s.Retention != 0 {
		t.Errorf("defaults: %+v %+v", s, s.Common)
	}
	env := envOf(map[string]string{
		"DUROSCOPE_NATS_URL": "nats://n1:4222,nats://n2:4222", "DUROSCOPE_STREAM": "S",
		"DUROSCOPE_CLICKHOUSE_ADDR": "c1:9000, c2:9000", "DUROSCOPE_CLICKHOUSE_DATABASE": "db1",
		"DUROSCOPE_CLICKHOUSE_USER": "u", "DUROSCOPE_CLICKHOUSE_PASSWORD": "pw",
		"DUROSCOPE_HTTP_ADDR": ":9999", "DUROSCOPE_API_TOKEN": "tok", "DUROSCOPE_LOG_LEVEL": "debug",
		"DUROSCOPE_QUERY_TIMEOUT": "3s", "DUROSCOPE_MAX_IN_FLIGHT": "8", "DUROSCOPE_MAX_SCANS": "3",
		"DUROSCOPE_RETENTION": "12h",
	})
	s, err = parse(nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if s.NATSURL != "nats://n1:4222,nats://n2:4222" || s.Stream != "S" || strings.Join(s.ClickHouseAddrs, "|") != "c1:9000|c2:9000" ||
		s.ClickHouseDatabase != "db1" || s.ClickHouseUser != "u" || s.ClickHousePassword != "pw" || s.HTTPAddr != ":9999" ||
		s.APIToken != "tok" || s.LogLevel != "debug" || s.QueryTimeout != 3*time.Second || s.MaxInFlight != 8 || s.MaxScans != 3 ||
		s.Retention != 12*time.Hour {
		t.Errorf("from env: %+v %+v", s, s.Common)
	}
	// Flags win over the environment.
	s, err = parse([]string{"-http-addr", "127.0.0.1:1", "-api-token", "flagtok", "-clickhouse-addr", "x:1",
		"-query-timeout", "1s", "-max-in-flight", "2", "-max-scans", "1", "-nats-url", "nats://f:1"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if s.HTTPAddr != "127.0.0.1:1" || s.APIToken != "flagtok" || strings.Join(s.ClickHouseAddrs, ",") != "x:1" ||
		s.QueryTimeout != time.Second || s.MaxInFlight != 2 || s.MaxScans != 1 || s.NATSURL != "nats://f:1" {
		t.Errorf("flags: %+v", s)
	}
	for _, c := range []struct {
		args []string
		env  map[string]string
		has  string
	}{
		{[]string{"-query-timeout", "0s"}, nil, "query-timeout"},
		{nil, map[string]string{"DUROSCOPE_RETENTION": "3 months"}, "DUROSCOPE_RETENTION"},
		{[]string{"-max-scans", "0"}, nil, "max-scans"},
		{[]string{"-max-in-flight", "4", "-max-scans", "5"}, nil, "max-scans"},
		{nil, map[string]string{"DUROSCOPE_QUERY_TIMEOUT": "ten"}, "query-timeout"},
		{[]string{"-max-in-flight", "0"}, nil, "max-in-flight"},
		{nil, map[string]string{"DUROSCOPE_MAX_IN_FLIGHT": "x"}, "max-in-flight"},
		{[]string{"-log-level", "loud"}, nil, "log-level"},
		{[]string{"-clickhouse-database", "a-b"}, nil, "clickhouse-database"},
		{[]string{"-clickhouse-addr", " , "}, nil, "clickhouse-addr"},
		{[]string{"-http-addr", ""}, nil, "http-addr"},
		{[]string{"extra"}, nil, "unexpected"},
		{nil, map[string]string{"DUROSCOPE_MAX_IN_FLIGHT": "64abc"}, "DUROSCOPE_MAX_IN_FLIGHT (flag -max-in-flight): want an integer from 1 to 100000"},
		{nil, map[string]string{"DUROSCOPE_SHUTDOWN_WAIT": "ten"}, "DUROSCOPE_SHUTDOWN_WAIT"},
		{nil, map[string]string{"DUROSCOPE_MAX_SCANS": "9", "DUROSCOPE_MAX_IN_FLIGHT": "4"}, "DUROSCOPE_MAX_SCANS: want an integer from 1 to max-in-flight (4)"},
		{nil, map[string]string{"DUROSCOPE_CLICKHOUSE_TLS": "y"}, "DUROSCOPE_CLICKHOUSE_TLS"},
		{[]string{"-nope"}, nil, "nope"},
	} {
		_, err := parse(c.args, envOf(c.env))
		if err == nil || !strings.Contains(err.Error(), c.has) {
			t.Errorf("parse(%q, %v) = %v; want an error about %s", c.args, c.env, err, c.has)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startRun runs the service in-process and returns its base URL.
func startRun(t *testing.T, s *settings, logs io.Writer) (string, context.CancelFunc, chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, s, zerolog.New(logs).Level(zerolog.DebugLevel), func(a net.Addr) { addrc <- a })
	}()
	select {
	case a := <-addrc:
		return "http://" + a.String(), cancel, done
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("service did not start listening")
	}
	return "", cancel, done
}

func get(t *testing.T, url, token string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// TestRunWithoutBackends starts the service with ClickHouse and NATS both
// unreachable: it serves /healthz, answers 503 elsewhere, never logs the
// secrets, and shuts down gracefully.
func TestRunWithoutBackends(t *testing.T) {
	s, err := parse([]string{"-http-addr", "127.0.0.1:0", "-clickhouse-addr", deadAddr(t),
		"-nats-url", "nats://" + deadAddr(t), "-api-token", "tok-secret-1", "-clickhouse-password", "pw-secret-2"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	base, cancel, done := startRun(t, s, logs)
	defer cancel()
	for _, c := range []struct {
		path, token string
		status      int
	}{
		{"/healthz", "", 200}, {"/readyz", "", 503}, {"/v1/instances", "tok-secret-1", 503},
		{"/v1/instances/a%2F..", "tok-secret-1", 503}, {"/v1/watermark", "tok-secret-1", 503}, {"/v1/queues", "", 401},
		{"/v1/instances/changes", "tok-secret-1", 503}, {"/v1/instances/changes", "", 401},
	} {
		if code, _, body := get(t, base+c.path, c.token); code != c.status {
			t.Errorf("GET %s: %d %s; want %d", c.path, code, body, c.status)
		}
	}
	// The background connection logs its first failure when the attempt
	// returns, which on a loaded machine may come after the requests above.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "ClickHouse not reachable yet"); {
		if time.Now().After(deadline) {
			t.Errorf("connection failures not logged within 10 s:\n%s", logs.String())
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no graceful shutdown")
	}
	if l := logs.String(); strings.Contains(l, "tok-secret-1") || strings.Contains(l, "pw-secret-2") {
		t.Errorf("a secret was logged:\n%s", l)
	}
}

// TestRunServes starts the service against the real ClickHouse (a private
// database with the schema) and an embedded NATS without the stream yet:
// ready, answering, headers absent until something is projected.
func TestRunServes(t *testing.T) {
	if os.Getenv("DUROSCOPE_SKIP_INTEGRATION") == "1" {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	addr := os.Getenv("DUROSCOPE_TEST_CLICKHOUSE_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9000"
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	db := "dstest_cmdquery_" + hex.EncodeToString(rnd[:])
	ctx := context.Background()
	conn, err := chconn.Open(ctx, chconn.ConnConfig{Addrs: []string{addr}, Database: db, User: "default"})
	if err != nil {
		t.Fatalf("clickhouse at %s: %v", addr, err)
	}
	defer func() { _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); conn.Close() }()
	if _, err := schema.Apply(ctx, conn, schema.Config{Database: db,
		Steps: chwrite.NewWriter(conn, chwrite.WriterConfig{Database: db}).SchemaSteps()}); err != nil {
		t.Fatal(err)
	}
	srv, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()

	s, err := parse([]string{"-http-addr", "127.0.0.1:0", "-clickhouse-addr", addr, "-clickhouse-database", db,
		"-nats-url", srv.ClientURL()}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	base, cancel, done := startRun(t, s, io.Discard)
	defer cancel()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, _ := get(t, base+"/readyz", "")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, hdr, body := get(t, base+"/v1/stats/orchestrations", "")
	if code != 200 || !strings.Contains(body, `"total_count":0`) || hdr.Get("X-Projection-Lag-Events") != "" {
		t.Errorf("stats: %d %v %s", code, hdr, body)
	}
	if code, _, body := get(t, base+"/v1/instances/nope", ""); code != 404 || !strings.Contains(body, "not_found") {
		t.Errorf("unknown instance: %d %s", code, body)
	}
	if code, _, _ := get(t, base+"/v1/watermark", ""); code != 503 { // no stream yet
		t.Errorf("watermark without a stream: %d", code)
	}
	// The report, export, metrics and OpenAPI routes are wired to the reader.
	for _, c := range []struct{ path, want string }{
		{"/v1/reports/timeseries?from=0&to=3600000", `"rows":[]`},
		{"/v1/reports/errors?from=0&to=3600000", `"orchestrations":[]`},
		{"/v1/instances?format=csv", "instance_id,orchestration_name"},
		{"/metrics", `duroscope_readmodel_instances{status="Running"} 0`},
		{"/openapi.json", `"/v1/reports/timeseries"`},
		{"/metrics", "duroscope_query_changes_subscribers 0"},
	} {
		if code, _, body := get(t, base+c.path, ""); code != 200 || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %.200s", c.path, code, body)
		}
	}

	// The change feed follows the stream once it exists; an open change
	// stream does not hold the graceful shutdown up.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: events.DefaultStream, Subjects: []string{events.StreamSubjects}}); err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err = http.Get(base + "/v1/instances/changes?status=Running")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 200 || time.Now().After(deadline) {
			break
		}
		resp.Body.Close()
	}
	defer resp.Body.Close()
	first := make([]byte, 64)
	n, _ := resp.Body.Read(first)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || !strings.Contains(string(first[:n]), "retry:") {
		t.Fatalf("changes: %d %v %q", resp.StatusCode, resp.Header, first[:n])
	}
	stopped := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
		if took := time.Since(stopped); took > 5*time.Second {
			t.Errorf("shutdown with an open change stream took %v", took)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no graceful shutdown with an open change stream")
	}
	rest, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(rest), "event: error") || !strings.Contains(string(rest), "the change feed stopped") {
		t.Errorf("the change stream ended without saying why: %q", rest)
	}
}
