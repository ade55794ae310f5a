package projector

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// BenchmarkProjectorDrain times the projector (in process) draining a
// stream pre-filled with ~60k generated events into a fresh database, with
// a fresh consumer each iteration, against the real ClickHouse
// (DUROSCOPE_TEST_CLICKHOUSE_ADDR) and an embedded JetStream. It reports
// events/s. cmd/bench measures the same with baselines, in a child process.
//
//	go test -run x -bench ProjectorDrain -benchtime 3x ./projector
func BenchmarkProjectorDrain(b *testing.B) {
	n := testenv.StartNATS(b)
	ctx := context.Background()
	if err := EnsureStreams(ctx, n.JS, events.DefaultStream, 0); err != nil {
		b.Fatal(err)
	}
	cfg := gen.Config{Seed: 3, Instances: 3600, SpreadMs: 3_600_000, RunningFraction: 0.15}
	st, err := gen.Publish(ctx, n.JS, gen.Interleave(gen.Histories(cfg), 0), gen.PublishOptions{})
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
	last := info.State.LastSeq
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		db := testenv.NewDatabase(b, "projbench")
		if err := n.JS.DeleteConsumer(ctx, events.DefaultStream, ConsumerName(0, 1)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			b.Fatal(err)
		}
		p, err := New(Config{JS: n.JS, Store: chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name}),
			Logger: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- p.Run(rctx) }()
		for {
			c, err := n.JS.Consumer(ctx, events.DefaultStream, ConsumerName(0, 1))
			if err == nil {
				if ci, err := c.Info(ctx); err == nil && ci.AckFloor.Stream >= last {
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.Published)*float64(b.N)/total.Seconds(), "events/s")
}
