package connector_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/connector"
	"github.com/duroscope/duroscope/internal/connector/sqlite"
	"github.com/duroscope/duroscope/internal/connector/storetest"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/testenv"
)

// TestBenchBackfill measures the backfill rate from a SQLite store of
// DUROSCOPE_BENCH_EVENTS (default 1,000,000) events against publishing the
// same payloads from memory with the project's own publisher (gen.Publish),
// three times each, in one run, each into a fresh JetStream server.
//
//	DUROSCOPE_HEAVY=1 go test ./internal/connector -run TestBenchBackfill -v -timeout 30m
func TestBenchBackfill(t *testing.T) {
	if os.Getenv("DUROSCOPE_HEAVY") != "1" {
		t.Skip("set DUROSCOPE_HEAVY=1")
	}
	target := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("DUROSCOPE_BENCH_EVENTS")); err == nil {
		target = v
	}
	cfg := gen.Config{Seed: 11, SpreadMs: 30 * 86_400_000}
	// The per-instance mean is measured on a sample: 5% more instances
	// make sure the store holds at least target events.
	cfg.Instances = int(1.05*float64(target)/gen.EventsPerInstance(cfg)) + 1
	store := storetest.Create(t, t.TempDir())
	t0 := time.Now()
	rows, err := store.Fill(cfg, 20000)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < target {
		t.Fatalf("store holds %d events, fewer than %d", len(rows), target)
	}
	t.Logf("store: %d events of %d top-level instances written in %s", len(rows), cfg.Instances, time.Since(t0).Round(time.Millisecond))
	// The same payloads in memory, in the store's order.
	src, err := sqlite.Open(context.Background(), sqlite.Config{Path: store.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var mem []*events.Event
	snap, err := src.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all, err := snap.Rows(0, len(rows)+1)
	snap.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		mem = append(mem, &events.Event{InstanceID: r.InstanceID, ExecutionID: r.ExecutionID, EventID: r.EventID, Raw: r.Data})
	}
	all = nil
	// Rates depend on what else the machine runs; the CPU time the test
	// process spends per event (the publisher and the embedded JetStream
	// server, reconciliation included for the connector) much less so.
	var fromStore, fromMemory, cpuStore, cpuMemory []float64
	for run := 0; run < 3; run++ {
		n := testenv.StartNATS(t)
		c, err := connector.New(connector.Config{Source: src, NC: n.NC, Once: true, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		cpu0 := processCPU()
		start := time.Now()
		sum, err := c.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		cpuStore = append(cpuStore, (processCPU()-cpu0).Seconds()*1e6/float64(len(mem)))
		backfill := time.Since(start) - time.Duration(c.Stats().ReconcileNs.Load())
		if sum.Rows != uint64(len(mem)) {
			t.Fatalf("connector published %d of %d", sum.Rows, len(mem))
		}
		fromStore = append(fromStore, float64(sum.Rows)/backfill.Seconds())
		n.Stop()

		n = testenv.StartNATS(t)
		// The same stream as the connector's (the projector's, with its
		// subject transform).
		if err := projector.EnsureStreams(context.Background(), n.JS, events.DefaultStream, 1); err != nil {
			t.Fatal(err)
		}
		cpu0 = processCPU()
		st, err := gen.Publish(context.Background(), n.JS, func(yield func(gen.Message) bool) {
			for _, e := range mem {
				if !yield(gen.Message{Event: e}) {
					return
				}
			}
		}, gen.PublishOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cpuMemory = append(cpuMemory, (processCPU()-cpu0).Seconds()*1e6/float64(len(mem)))
		fromMemory = append(fromMemory, st.Rate())
		n.Stop()
		t.Logf("run %d: from SQLite %.0f events/s (reconcile %s, %.1f CPU µs/event), from memory %.0f events/s (%.1f CPU µs/event)",
			run+1, fromStore[run], time.Duration(c.Stats().ReconcileNs.Load()).Round(time.Millisecond), cpuStore[run], fromMemory[run], cpuMemory[run])
	}
	for _, s := range [][]float64{fromStore, fromMemory, cpuStore, cpuMemory} {
		slices.Sort(s)
	}
	fmt.Printf("backfill of %d events: from SQLite min/median/max %.0f / %.0f / %.0f events/s; same payloads from memory %.0f / %.0f / %.0f; ratio of medians %.2f\n",
		len(mem), fromStore[0], fromStore[1], fromStore[2], fromMemory[0], fromMemory[1], fromMemory[2], fromStore[1]/fromMemory[1])
	fmt.Printf("CPU of the test process per event (publisher + embedded JetStream): from SQLite %.1f / %.1f / %.1f µs; from memory %.1f / %.1f / %.1f µs\n",
		cpuStore[0], cpuStore[1], cpuStore[2], cpuMemory[0], cpuMemory[1], cpuMemory[2])
}

// processCPU is the user+system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestBenchMakeStore writes a store of DUROSCOPE_BENCH_INSTANCES (default
// 1,000,000) instances of two events each (start, completion) to
// DUROSCOPE_BENCH_STORE, for measuring the connector binary's
// reconciliation time and RSS at that many instances (docs/connector-bench.md).
func TestBenchMakeStore(t *testing.T) {
	path := os.Getenv("DUROSCOPE_BENCH_STORE")
	if os.Getenv("DUROSCOPE_HEAVY") != "1" || path == "" {
		t.Skip("set DUROSCOPE_HEAVY=1 and DUROSCOPE_BENCH_STORE=/path/to/new.db")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("DUROSCOPE_BENCH_INSTANCES")); err == nil {
		n = v
	}
	if err := storetest.CreateWithAddon(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	st, err := storetest.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.DB.Close()
	var batch []storetest.Row
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("order-%07d", i)
		ts := uint64(gen.DefaultStartMs) + uint64(i)*10
		batch = append(batch,
			storetest.Row{InstanceID: id, ExecutionID: 1, EventID: 1, Type: events.TypeOrchestrationStarted,
				Data: fmt.Appendf(nil, `{"event_id":1,"source_event_id":null,"instance_id":%q,"execution_id":1,"timestamp_ms":%d,"duroxide_version":"0.1.29","type":"OrchestrationStarted","name":"ProcessOrder","version":"1.0.0","input":"{}","parent_instance":null,"parent_id":null}`, id, ts)},
			storetest.Row{InstanceID: id, ExecutionID: 1, EventID: 2, Type: events.TypeOrchestrationCompleted,
				Data: fmt.Appendf(nil, `{"event_id":2,"source_event_id":null,"instance_id":%q,"execution_id":1,"timestamp_ms":%d,"duroxide_version":"0.1.29","type":"OrchestrationCompleted","output":"done"}`, id, ts+5)})
		if len(batch) >= 20000 {
			if err := st.Append(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := st.Append(batch); err != nil {
		t.Fatal(err)
	}
}
