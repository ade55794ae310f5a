package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/connector/storetest"
	"github.com/duroscope/duroscope/internal/duroxide"
	"github.com/duroscope/duroscope/internal/testenv"
)

// benchLoad is the real Duroxide workload of the connector's benchmarks:
// the driver's load mix at DUROSCOPE_BENCH_RATE instances/s (default 20,
// about the most Duroxide's SQLite provider sustains on this machine) for
// DUROSCOPE_BENCH_SECONDS (default 60), no instance left running.
func benchLoad(prefix string) duroxide.LoadOptions {
	rate, secs := 20.0, 60
	if v, err := strconv.ParseFloat(os.Getenv("DUROSCOPE_BENCH_RATE"), 64); err == nil && v > 0 {
		rate = v
	}
	if v, err := strconv.Atoi(os.Getenv("DUROSCOPE_BENCH_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	return duroxide.LoadOptions{Prefix: prefix, Rate: rate, Duration: time.Duration(secs) * time.Second,
		RunningEvery: -1, CountErrors: true}
}

// connectorProc is the connector binary tailing a store, with its own
// settings (nil env: the defaults).
type connectorProc struct {
	cmd  *exec.Cmd
	addr string
	done chan error
	log  syncBuffer
}

func startConnector(t *testing.T, store, natsURL string, env ...string) *connectorProc {
	t.Helper()
	p := &connectorProc{addr: freeAddr(t), done: make(chan error, 1)}
	p.cmd = exec.Command(binary)
	p.cmd.Env = append(os.Environ(), "DUROSCOPE_SOURCE=sqlite:"+store, "DUROSCOPE_NATS_URL="+natsURL,
		"DUROSCOPE_CONNECTOR_HTTP_ADDR="+p.addr, "DUROSCOPE_LOG_LEVEL=warn")
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stderr = &p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// cpuSeconds is the process's user+system CPU time so far.
func (p *connectorProc) cpuSeconds() float64 {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "stat"))
	if err != nil {
		return -1
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return float64(u+st) / 100 // USER_HZ
}

// stop waits until the connector has published every row of the store,
// then stops it with SIGTERM; it must exit 0 (it never failed meanwhile).
func (p *connectorProc) stop(t *testing.T, store string) {
	t.Helper()
	rows := historyRows(t, store)
	deadline := time.Now().Add(2 * time.Minute)
	for p.metric("duroscope_connector_events_published_total") < float64(rows) {
		if time.Now().After(deadline) {
			t.Fatalf("connector published %v of %d rows; log:\n%s", p.metric("duroscope_connector_events_published_total"), rows, p.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("connector exit: %v; log:\n%s", err, p.log.String())
	}
}

func (p *connectorProc) metric(name string) float64 { return metricAt(p.addr, name) }

func historyRows(t *testing.T, store string) int {
	t.Helper()
	db := openReadOnly(t, store)
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM history").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func openReadOnly(t *testing.T, store string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: store}).EscapedPath()+"?mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

var lockedRE = regexp.MustCompile(`(?i)database is locked`)

// lockRun is one run of the workload.
type lockRun struct {
	reader string
	res    *duroxide.LoadResult
	// locked: instances Duroxide failed with an Infrastructure error
	// saying "database is locked"; otherInfra: other Infrastructure
	// failures; warnings: Duroxide's own retried "database is locked"
	// (WARN lines of its log).
	locked, otherInfra, warnings int
	connectorCPU                 float64
}

func (r lockRun) finished() int {
	return r.res.Completed + r.res.Failed + len(r.res.InfrastructureFailed) + len(r.res.Unexpected)
}

func (r lockRun) per1000() float64 { return float64(r.locked) * 1000 / float64(max(r.res.Started, 1)) }

// rate is the finished instances per second of the run (drain included).
func (r lockRun) rate() float64 { return float64(r.finished()) / (float64(r.res.ElapsedMs) / 1000) }

// TestBenchDuroxideLocks runs the same real Duroxide workload (benchLoad,
// real Duroxide on a fresh SQLite file each run) alternately without and
// with the connector binary tailing the file (its default intervals), three
// runs each, then once with the connector as the harshest reader (poll
// 10ms, reconciliation and queue snapshot every 100ms), and counts per run
// the orchestrations Duroxide failed with an Infrastructure error saying
// "database is locked", its other errors, and the lock errors it retried.
//
//	DUROSCOPE_HEAVY=1 go test ./cmd/connector -run TestBenchDuroxideLocks -v -timeout 60m
func TestBenchDuroxideLocks(t *testing.T) {
	if os.Getenv("DUROSCOPE_HEAVY") != "1" {
		t.Skip("set DUROSCOPE_HEAVY=1")
	}
	type setting struct {
		name string
		env  []string // nil: no connector
	}
	without := setting{"none", nil}
	defaults := setting{"connector (defaults: poll 500ms, reconcile 30s, queues 5s)", []string{}}
	harsh := setting{"connector (poll 10ms, reconcile 100ms, queues 100ms)", []string{
		"DUROSCOPE_POLL_INTERVAL=10ms", "DUROSCOPE_RECONCILE_INTERVAL=100ms", "DUROSCOPE_QUEUE_INTERVAL=100ms"}}
	plan := []setting{without, defaults, without, defaults, without, defaults, harsh}
	var runs []lockRun
	for i, s := range plan {
		runs = append(runs, runLockLoad(t, i+1, s.name, s.env))
	}
	var none, with []lockRun
	for _, r := range runs {
		switch r.reader {
		case without.name:
			none = append(none, r)
		case defaults.name:
			with = append(with, r)
		}
	}
	summary := func(name string, rs []lockRun) {
		per := make([]float64, 0, len(rs))
		rates := make([]float64, 0, len(rs))
		for _, r := range rs {
			per = append(per, r.per1000())
			rates = append(rates, r.rate())
		}
		slices.Sort(per)
		slices.Sort(rates)
		fmt.Printf("%s: lock failures per 1,000 instances min/median/max %.2f / %.2f / %.2f; finished instances/s %.1f / %.1f / %.1f\n",
			name, per[0], per[len(per)/2], per[len(per)-1], rates[0], rates[len(rates)/2], rates[len(rates)-1])
	}
	summary("without the connector", none)
	summary("with the connector (defaults)", with)
}

func runLockLoad(t *testing.T, n int, reader string, env []string) lockRun {
	ctx := context.Background()
	dir := t.TempDir()
	store := filepath.Join(dir, "duroxide.db")
	if err := storetest.CreateWithAddon(ctx, store); err != nil {
		t.Fatal(err)
	}
	var p *connectorProc
	if env != nil {
		ns := testenv.StartNATS(t)
		defer ns.Stop()
		p = startConnector(t, store, ns.URL, env...)
	}
	d := duroxide.Driver{Store: "sqlite:" + store, LogFile: filepath.Join(dir, "duroxide.log"), LogLevel: "warn"}
	res, err := d.RunLoad(ctx, benchLoad(fmt.Sprintf("run%d", n)))
	if err != nil {
		t.Fatalf("run %d: %v", n, err)
	}
	r := lockRun{reader: reader, res: res}
	if p != nil {
		p.stop(t, store)
		r.connectorCPU = p.cpuSecondsAtExit()
	}
	for _, f := range res.InfrastructureFailed {
		if lockedRE.MatchString(f.Error) {
			r.locked++
		} else {
			r.otherInfra++
		}
	}
	if log, err := os.ReadFile(d.LogFile); err == nil {
		for _, line := range strings.Split(string(log), "\n") {
			if lockedRE.MatchString(line) {
				r.warnings++
			}
		}
	}
	var other []string
	for _, u := range res.Unexpected {
		other = append(other, fmt.Sprintf("%s %s (want %s): %s", u.InstanceID, u.Status, u.Want, u.Error))
	}
	for _, e := range res.ClientErrors {
		other = append(other, fmt.Sprintf("%s %s: %s", e.Op, e.InstanceID, e.Error))
	}
	t.Logf("run %d, reader %s: %d started (%.1f/s), %d finished in %.1f s (%.1f/s), %d unfinished; failed by 'database is locked' %d (%.2f per 1,000), other infrastructure %d, unexpected %d, client errors %d; Duroxide's retried lock errors %d; connector CPU %.1f s",
		n, reader, res.Started, res.StartRatePerSec, r.finished(), float64(res.ElapsedMs)/1000, r.rate(), len(res.Unfinished),
		r.locked, r.per1000(), r.otherInfra, len(res.Unexpected), len(res.ClientErrors), r.warnings, r.connectorCPU)
	for _, o := range other {
		t.Logf("  run %d: %s", n, o)
	}
	return r
}

// cpuSecondsAtExit is the exited process's user+system CPU time.
func (p *connectorProc) cpuSecondsAtExit() float64 {
	if p.cmd.ProcessState == nil {
		return p.cpuSeconds()
	}
	return (p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()).Seconds()
}

// TestBenchTailLatency measures the SQLite tail's commit -> stream latency
// while real Duroxide runs benchLoad: an observer reads the store's new
// rows (rowid > the last seen, read only) every 2 ms and records when each
// row key first became visible, i.e. committed; a subscriber on the
// stream's subjects records when each event arrives (by its Nats-Msg-Id,
// the row key). Once with the connector's default poll interval (500ms),
// once with 50ms.
//
//	DUROSCOPE_HEAVY=1 go test ./cmd/connector -run TestBenchTailLatency -v -timeout 30m
func TestBenchTailLatency(t *testing.T) {
	if os.Getenv("DUROSCOPE_HEAVY") != "1" {
		t.Skip("set DUROSCOPE_HEAVY=1")
	}
	for _, poll := range []string{"", "50ms"} {
		measureTail(t, poll)
	}
}

func measureTail(t *testing.T, poll string) {
	ctx := context.Background()
	dir := t.TempDir()
	store := filepath.Join(dir, "duroxide.db")
	if err := storetest.CreateWithAddon(ctx, store); err != nil {
		t.Fatal(err)
	}
	ns := testenv.StartNATS(t)
	defer ns.Stop()
	var env []string
	name := "500ms (default)"
	if poll != "" {
		env, name = []string{"DUROSCOPE_POLL_INTERVAL=" + poll}, poll
	}
	p := startConnector(t, store, ns.URL, env...)

	var mu sync.Mutex
	arrived := map[string]time.Time{}
	sub, err := ns.NC.Subscribe(events.StreamSubjects, func(m *nats.Msg) {
		now := time.Now()
		id := m.Header.Get(jetstream.MsgIDHeader)
		mu.Lock()
		if _, ok := arrived[id]; !ok {
			arrived[id] = now
		}
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}

	obsCtx, stopObs := context.WithCancel(ctx)
	seen := map[string]time.Time{}
	var polls int
	var worstPoll time.Duration
	obsDone := make(chan error, 1)
	db := openReadOnly(t, store)
	defer db.Close()
	go func() {
		var last int64
		for obsCtx.Err() == nil {
			t0 := time.Now()
			rs, err := db.QueryContext(obsCtx, "SELECT rowid, instance_id, execution_id, event_id FROM history WHERE rowid > ? ORDER BY rowid", last)
			if err != nil {
				if obsCtx.Err() != nil {
					break
				}
				obsDone <- err
				return
			}
			now := time.Now()
			for rs.Next() {
				var id string
				var exec, ev uint64
				if err := rs.Scan(&last, &id, &exec, &ev); err != nil {
					rs.Close()
					obsDone <- err
					return
				}
				seen[events.MsgID(id, exec, ev)] = now
			}
			rs.Close()
			polls++
			worstPoll = max(worstPoll, time.Since(t0))
			time.Sleep(2 * time.Millisecond)
		}
		obsDone <- nil
	}()

	d := duroxide.Driver{Store: "sqlite:" + store, LogFile: filepath.Join(dir, "duroxide.log"), LogLevel: "error"}
	began := time.Now()
	res, err := d.RunLoad(ctx, benchLoad("lat"))
	if err != nil {
		t.Fatal(err)
	}
	p.stop(t, store)
	stopObs()
	if err := <-obsDone; err != nil {
		t.Fatal(err)
	}
	observed := time.Since(began)
	waitFor(t, "every row seen in the store on the stream", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for id := range seen {
			if _, ok := arrived[id]; !ok {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	for id, at := range seen {
		if got, ok := arrived[id]; ok {
			lat = append(lat, got.Sub(at))
		}
	}
	if len(lat) == 0 || len(lat) != len(seen) {
		t.Fatalf("%d rows seen in the store, %d of them arrived", len(seen), len(lat))
	}
	slices.Sort(lat)
	q := func(f float64) time.Duration {
		return lat[min(len(lat)-1, int(f*float64(len(lat))))].Round(time.Millisecond)
	}
	fmt.Printf("tail latency, poll %s, real Duroxide at %.1f instances/s started (%d events, %.0f events/s): commit -> stream p50 %s, p90 %s, p99 %s, max %s (min %s); observer: %d reads, the slowest %s\n",
		name, res.StartRatePerSec, len(lat), float64(len(lat))/observed.Seconds(), q(0.5), q(0.9), q(0.99), lat[len(lat)-1].Round(time.Millisecond), lat[0].Round(time.Millisecond),
		polls, worstPoll.Round(time.Millisecond))
}
