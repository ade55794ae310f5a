package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/natsembed"
)

func noEnv(string) (string, bool) { return "", false }

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var fixedNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func runOut(t *testing.T, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "events.jsonl")
	var stderr bytes.Buffer
	if err := run(context.Background(), append(args, "--out", out), noEnv, os.Stdout, &stderr, fixedNow); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"message":"summary"`) {
		t.Fatalf("no summary on stderr: %s", stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestOutDeterministic(t *testing.T) {
	args := []string{"--seed", "5", "--instances", "300", "--start", "2025-11-26T00:00:00Z", "--spread", "10m", "--duplicates", "0.05", "--shuffle", "8"}
	a, b := runOut(t, args...), runOut(t, args...)
	if !bytes.Equal(a, b) {
		t.Fatal("same flags, different output")
	}
	lines := bytes.Split(bytes.TrimSuffix(a, []byte("\n")), []byte("\n"))
	keys := map[events.Key]int{}
	top := 0
	for _, l := range lines {
		e, err := events.Decode(l)
		if err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if e.TimestampMs < uint64(time.Date(2025, 11, 26, 0, 0, 0, 0, time.UTC).UnixMilli()) {
			t.Fatalf("event before --start: %s", l)
		}
		keys[e.EventKey()]++
		if e.Type == events.TypeOrchestrationStarted && e.ExecutionID == 1 && !e.ParentInstance.Valid && !strings.HasPrefix(e.InstanceID, "audit-") && keys[e.EventKey()] == 1 {
			top++
		}
	}
	if top != 300 {
		t.Fatalf("%d top-level instances, want 300", top)
	}
	dups := len(lines) - len(keys)
	if dups == 0 || dups > len(keys)/10 {
		t.Fatalf("%d duplicate lines for %d events at --duplicates 0.05", dups, len(keys))
	}
	if c := runOut(t, append(args[:1:1], append([]string{"6"}, args[2:]...)...)...); bytes.Equal(a, c) {
		t.Fatal("another seed, same output")
	}
}

func TestOutLiveEndsNow(t *testing.T) {
	data := runOut(t, "--instances", "500", "--spread", "5m", "--order", "instance")
	now := uint64(fixedNow.UnixMilli())
	var first uint64 = 1 << 63
	for l := range bytes.Lines(data) {
		e, err := events.Decode(bytes.TrimSpace(l))
		if err != nil {
			t.Fatal(err)
		}
		if e.TimestampMs > now {
			t.Fatalf("event after now: %s", l)
		}
		first = min(first, e.TimestampMs)
	}
	if first < now-5*60*1000 {
		t.Fatalf("first event %d before now minus the spread", first)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--running", "1.5"}, "running"},
		{[]string{"--duplicates", "-0.1"}, "duplicates"},
		{[]string{"--instances", "-1"}, "instances"},
		{[]string{"--start", "yesterday"}, "start"},
		{[]string{"--order", "random"}, "order"},
		{[]string{"--loop", "--out", "x.jsonl"}, "--loop"},
		{[]string{"--log-level", "loud"}, "log-level"},
		{[]string{"extra"}, "extra"},
	} {
		err := run(context.Background(), tc.args, noEnv, os.Stdout, &bytes.Buffer{}, fixedNow)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want one naming %q", tc.args, err, tc.want)
		}
	}
}

func TestNATSUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	url := "nats://" + addr
	err = run(context.Background(), []string{"--instances", "1"}, mapEnv(map[string]string{"DUROSCOPE_NATS_URL": url}),
		os.Stdout, &bytes.Buffer{}, fixedNow)
	if err == nil || !strings.Contains(err.Error(), "cannot reach NATS at "+url) {
		t.Fatalf("err %v, want one naming the unreachable URL", err)
	}
}

func startNATS(t *testing.T) (string, jetstream.JetStream) {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return srv.ClientURL(), js
}

func TestPublishCommand(t *testing.T) {
	url, js := startNATS(t)
	env := mapEnv(map[string]string{"DUROSCOPE_NATS_URL": url, "DUROSCOPE_STREAM": "GEN_TEST"})
	var stderr bytes.Buffer
	args := []string{"--instances", "200", "--duplicates", "0.1", "--start", "1764115200000", "--spread", "1m"}
	if err := run(context.Background(), args, env, os.Stdout, &stderr, fixedNow); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	// The same flags written to a file give the same events.
	want := runOut(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "GEN_TEST") // created by gen, named by the variable
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lines := uint64(bytes.Count(want, []byte("\n"))); info.State.Msgs != lines {
		t.Fatalf("stream holds %d messages, the file %d lines", info.State.Msgs, lines)
	}
	if !strings.Contains(stderr.String(), `"published":`+strconv.FormatUint(info.State.Msgs, 10)) {
		t.Fatalf("summary does not report %d published: %s", info.State.Msgs, stderr.String())
	}
}

func TestLoopAndQueues(t *testing.T) {
	url, js := startNATS(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	queues, err := nc.SubscribeSync(events.QueueSubject)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- run(ctx, []string{"--loop", "--instances", "50", "--spread", "30s", "--rate", "500", "--queues"},
			mapEnv(map[string]string{"DUROSCOPE_NATS_URL": url}), os.Stdout, &bytes.Buffer{}, start)
	}()
	if _, err := queues.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("no queue snapshot: %v", err)
	}
	time.Sleep(2500 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("loop ended with %v, want a clean stop on cancel", err)
	}
	stopped := time.Now()

	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	s, err := js.Stream(sctx, events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.OrderedConsumer(sctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(sctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs == 0 {
		t.Fatal("the loop published nothing")
	}
	live := 0
	for read := uint64(0); read < info.State.Msgs; {
		batch, err := cons.Fetch(int(min(500, info.State.Msgs-read)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			read++
			e, err := events.Decode(m.Data())
			if err != nil {
				t.Fatal(err)
			}
			// Published in real time: never an event from the future.
			if int64(e.TimestampMs) > stopped.UnixMilli() {
				t.Fatalf("event from the future published: %s", m.Data())
			}
			if int64(e.TimestampMs) >= start.UnixMilli() {
				live++
			}
			if prefix := strconv.FormatInt(start.UnixMilli()/1000-30, 36) + "-"; !strings.HasPrefix(e.InstanceID, prefix) &&
				!strings.HasPrefix(e.InstanceID, "audit-"+prefix) {
				t.Fatalf("instance id %q lacks the loop's prefix %q", e.InstanceID, prefix)
			}
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	if live == 0 {
		t.Fatal("no event of the live phase was published")
	}
}
