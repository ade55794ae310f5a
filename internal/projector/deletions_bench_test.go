package projector

import (
	"context"
	"iter"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// BenchmarkIngestDuringDeletions measures whether deleting many instances
// at once stalls ingest (docs/deletions.md). One projector, one database:
// a first workload of DUROSCOPE_BENCH_DELETED top-level instances (default
// 10,000; children on top) is projected; then a fresh workload of the same
// size is published alone (baseline), then another one interleaved with an
// InstanceDeleted notice for every instance of the first workload. It
// reports the events/s of both fresh workloads and the deletions/s.
//
//	DUROSCOPE_TEST_CLICKHOUSE_ADDR=127.0.0.1:19000 DUROSCOPE_BENCH_DELETED=100000 \
//	  go test -run x -bench IngestDuringDeletions -benchtime 1x -timeout 60m ./internal/projector
func BenchmarkIngestDuringDeletions(b *testing.B) {
	deleted := 10000
	if v := os.Getenv("DUROSCOPE_BENCH_DELETED"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("DUROSCOPE_BENCH_DELETED=%q: want a positive number", v)
		}
		deleted = n
	}
	ctx := context.Background()
	n := testenv.StartNATS(b)
	if err := EnsureStreams(ctx, n.JS, events.DefaultStream, 0); err != nil {
		b.Fatal(err)
	}
	db := testenv.NewDatabase(b, "delbench")
	p, err := New(Config{JS: n.JS, Store: chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name}), Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	workload := func(seed int64, prefix string) gen.Config {
		return gen.Config{Seed: seed, Instances: deleted, SpreadMs: 3_600_000, RunningFraction: 0.15, IDPrefix: prefix}
	}
	// drain publishes msgs and waits until the projector acked everything.
	drain := func(msgs iter.Seq[gen.Message]) (gen.Stats, time.Duration) {
		start := time.Now()
		st, err := gen.Publish(ctx, n.JS, msgs, gen.PublishOptions{})
		if err != nil {
			b.Fatal(err)
		}
		s, err := n.JS.Stream(ctx, events.DefaultStream)
		if err != nil {
			b.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for {
			c, err := n.JS.Consumer(ctx, events.DefaultStream, ConsumerName(0, 1))
			if err == nil {
				if ci, err := c.Info(ctx); err == nil && ci.AckFloor.Stream >= info.State.LastSeq {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		return st, time.Since(start)
	}

	var ids []string
	seen := map[string]bool{}
	var lastTS uint64
	old := func(yield func(gen.Message) bool) {
		for m := range gen.Interleave(gen.Histories(workload(1, "old-")), 0) {
			if id := m.Event.InstanceID; !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
			lastTS = max(lastTS, m.Event.TimestampMs)
			if !yield(m) {
				return
			}
		}
	}
	st, d := drain(old)
	b.Logf("setup: %d events of %d instances projected in %v", st.Published, len(ids), d.Round(time.Millisecond))

	b.ResetTimer()
	base, dBase := drain(gen.Interleave(gen.Histories(workload(2, "base-")), 0))
	// The same size of fresh workload, with a deletion after every k-th
	// message so that they spread over the whole publication.
	fresh := gen.Interleave(gen.Histories(workload(3, "fresh-")), 0)
	k := max(1, int(base.Published)/len(ids))
	mixed := func(yield func(gen.Message) bool) {
		i, next := 0, 0
		for m := range fresh {
			if !yield(m) {
				return
			}
			if i++; i%k == 0 && next < len(ids) {
				nt := events.InstanceDeleted(ids[next], lastTS+1)
				next++
				if !yield(gen.Message{Notice: &nt}) {
					return
				}
			}
		}
		for ; next < len(ids); next++ {
			nt := events.InstanceDeleted(ids[next], lastTS+1)
			if !yield(gen.Message{Notice: &nt}) {
				return
			}
		}
	}
	with, dWith := drain(mixed)
	b.StopTimer()
	evBase := float64(base.Published) / dBase.Seconds()
	evWith := float64(with.Published-with.Notices) / dWith.Seconds()
	b.Logf("baseline: %d events in %v (%.0f events/s); with %d deletions: %d events in %v (%.0f events/s, %.0f deletions/s)",
		base.Published, dBase.Round(time.Millisecond), evBase, with.Notices, with.Published-with.Notices,
		dWith.Round(time.Millisecond), evWith, float64(with.Notices)/dWith.Seconds())
	b.ReportMetric(evBase, "events/s-baseline")
	b.ReportMetric(evWith, "events/s-deleting")
	b.ReportMetric(float64(with.Notices)/dWith.Seconds(), "deletions/s")
}
