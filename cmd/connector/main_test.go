package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/connector/storetest"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/testenv"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseRefusesBadSettings(t *testing.T) {
	base := map[string]string{"DUROSCOPE_SOURCE": "sqlite:/tmp/x.db"}
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{}, nil, "DUROSCOPE_SOURCE): required"},
		{map[string]string{"DUROSCOPE_SOURCE": "sqlite:/x"}, []string{"--drop-slot"}, "drop-slot: only for postgres:// sources"},
		{map[string]string{"DUROSCOPE_SOURCE": "mysql://x"}, nil, "want sqlite:/path/to/duroxide.db"},
		{base, []string{"stray"}, `unexpected argument "stray"`},
		{map[string]string{"DUROSCOPE_SOURCE": "sqlite:/x", "DUROSCOPE_POLL_INTERVAL": "fast"}, nil, `DUROSCOPE_POLL_INTERVAL (flag -poll-interval): want a positive Go duration`},
		{map[string]string{"DUROSCOPE_SOURCE": "sqlite:/x", "DUROSCOPE_RECONCILE_INTERVAL": "0"}, nil, `DUROSCOPE_RECONCILE_INTERVAL (flag -reconcile-interval)`},
		{map[string]string{"DUROSCOPE_SOURCE": "sqlite:/x", "DUROSCOPE_QUEUE_INTERVAL": "-1s"}, nil, `DUROSCOPE_QUEUE_INTERVAL (flag -queue-interval): want a Go duration >= 0`},
		{map[string]string{"DUROSCOPE_SOURCE": "sqlite:/x", "DUROSCOPE_SOURCE_MODE": "push"}, nil, `DUROSCOPE_SOURCE_MODE (flag -source-mode): want auto|cdc|poll`},
		{map[string]string{"DUROSCOPE_SOURCE": "sqlite:/x", "DUROSCOPE_LOG_LEVEL": "loud"}, nil, "log-level"},
		{map[string]string{"DUROSCOPE_SOURCE": "sqlite:/x", "DUROSCOPE_CONNECTOR_BATCH_SIZE": "0"}, nil, "DUROSCOPE_CONNECTOR_BATCH_SIZE (flag -batch-size): want an integer from 1"},
	}
	for _, c := range cases {
		_, err := parse(c.args, envOf(c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("env %v args %v: error %v, want it to say %q", c.env, c.args, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	s, err := parse([]string{"--once", "--queue-interval", "0"}, envOf(base))
	if err != nil || !s.Once || s.QueueInterval != 0 || s.PollInterval != 500*time.Millisecond || s.ReconcileInterval != 30*time.Second || s.HTTPAddr != "127.0.0.1:8082" || s.BatchSize != 5000 {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
}

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "connector-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "connector")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a connector process.
type proc struct {
	cmd  *exec.Cmd
	addr string
	done chan error
}

func startProc(t *testing.T, store, natsURL string, extra ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(binary, extra...)
	cmd.Env = append(os.Environ(), "DUROSCOPE_SOURCE=sqlite:"+store, "DUROSCOPE_NATS_URL="+natsURL,
		"DUROSCOPE_CONNECTOR_HTTP_ADDR="+addr, "DUROSCOPE_POLL_INTERVAL=20ms", "DUROSCOPE_RECONCILE_INTERVAL=300ms", "DUROSCOPE_LOG_LEVEL=warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, addr: addr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	return p
}

// metric reads one value of /metrics (-1 while the server is not up).
func (p *proc) metric(name string) float64 { return metricAt(p.addr, name) }

// metricAt reads one value of the /metrics served at addr (-1 while the
// server is not up).
func metricAt(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var v float64
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			fmt.Sscan(f[1], &v)
			return v
		}
	}
	return -1
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// msgIDs is the set of Nats-Msg-Ids the stream holds.
func msgIDs(t *testing.T, js jetstream.JetStream) map[string]bool {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	out := map[string]bool{}
	for n := uint64(0); n < info.State.Msgs; {
		batch, err := cons.Fetch(5000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			out[m.Headers().Get(jetstream.MsgIDHeader)] = true
			n++
		}
		if batch.Error() != nil {
			t.Fatal(batch.Error())
		}
	}
	return out
}

// SIGKILL during the backfill and during the tail, restart: every row of
// the store reaches the stream.
func TestKillDuringBackfillAndTail(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	store := storetest.Create(t, t.TempDir())
	want, err := store.Fill(gen.Config{Seed: 7, Instances: 3000, SpreadMs: 86_400_000}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	n := testenv.StartNATS(t)
	for round := 0; round < 2; round++ {
		p := startProc(t, store.Path, n.URL)
		// Kill mid-backfill, at a point that differs from round to round.
		waitFor(t, "progress", 60*time.Second, func() bool { return p.metric("duroscope_connector_source_position") > float64(1000+round*15000) })
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		p.done <- nil
	}
	p := startProc(t, store.Path, n.URL)
	waitFor(t, "backfill done", 120*time.Second, func() bool { return p.metric("duroscope_connector_caught_up") == 1 })
	// The tail: rows arrive while it runs; kill it in the middle of them.
	done := make(chan error, 1)
	go func() {
		more, err := store.Fill(gen.Config{Seed: 8, Instances: 400, IDPrefix: "tail-"}, 25)
		for k, v := range more {
			want[k] = v
		}
		done <- err
	}()
	time.Sleep(150 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.done <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rows, _ := store.Count()
	p = startProc(t, store.Path, n.URL)
	waitFor(t, "caught up after the kill in the tail", 120*time.Second, func() bool {
		return p.metric("duroscope_connector_caught_up") == 1 && p.metric("duroscope_connector_lag_rows") == 0 && p.metric("duroscope_connector_rows_read_total") >= 0
	})
	waitFor(t, "position at the head", 60*time.Second, func() bool {
		return p.metric("duroscope_connector_source_position") == p.metric("duroscope_connector_source_head") && p.metric("duroscope_connector_source_head") > 0
	})
	got := msgIDs(t, n.JS)
	missing := 0
	for id := range want {
		if !got[id] {
			if missing++; missing <= 5 {
				t.Errorf("lost %s", id)
			}
		}
	}
	if missing > 0 || len(want) != rows {
		t.Fatalf("%d of %d rows lost (store holds %d)", missing, len(want), rows)
	}
	resp, err := http.Get("http://" + p.addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	// SIGTERM: a clean stop, exit 0.
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	p.done <- nil
}

func TestOnceAndFailure(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	store := storetest.Create(t, t.TempDir())
	want, err := store.Fill(gen.Config{Seed: 9, Instances: 50}, 500)
	if err != nil {
		t.Fatal(err)
	}
	n := testenv.StartNATS(t)
	out, err := exec.Command(binary, "--once", "--source", "sqlite:"+store.Path, "--nats-url", n.URL, "--http-addr", "").CombinedOutput()
	if err != nil {
		t.Fatalf("--once: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("published %d events and 0 notices", len(want))) {
		t.Fatalf("--once summary: %s", out)
	}
	if got := msgIDs(t, n.JS); len(got) != len(want) {
		t.Fatalf("stream holds %d ids, want %d", len(got), len(want))
	}
	// No NATS: a failure exits non-zero, and the URL's password is not shown.
	cmd := exec.Command(binary, "--once", "--source", "sqlite:"+store.Path, "--nats-url", "nats://u:hunter2@127.0.0.1:1", "--http-addr", "")
	out, err = cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.ExitCode() != 1 || strings.Contains(string(out), "hunter2") {
		t.Fatalf("no NATS: exit %v, output %s", err, out)
	}
}
