package projector

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/gen"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel"
)

// TestRecounterCoalescesAndAcksOnlyAfterRecount drives the recounter with
// real batches (rows written to ClickHouse, messages pulled from JetStream):
// the first batch is recounted and acked at once, the next ones wait for
// the interval and are then recounted together, nothing is acked before its
// cells are recounted, a backlog of acks forces a recount early, and the
// cells end up equal to a recount of all facts from scratch.
func TestRecounterCoalescesAndAcksOnlyAfterRecount(t *testing.T) {
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "projrecount")
	ctx := context.Background()
	if err := EnsureStreams(ctx, n.JS, events.DefaultStream); err != nil {
		t.Fatal(err)
	}
	w := readmodel.NewWriter(db.Conn, readmodel.WriterConfig{Database: db.Name})
	var hists [][]events.Event
	for h := range gen.Histories(gen.Config{Seed: 5, Instances: 80, SpreadMs: 3 * 3_600_000}) {
		hists = append(hists, h)
	}
	const batches = 6
	// One message per batch stands for the batch's messages: its ack
	// subject is what the recounter acks.
	for i := range batches {
		if _, err := n.JS.Publish(ctx, "duroxide.history.recount", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := n.JS.CreateOrUpdateConsumer(ctx, events.DefaultStream, jetstream.ConsumerConfig{
		Durable: "recount-test", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	fetched, err := cons.Fetch(batches, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var replies []string
	for m := range fetched.Messages() {
		replies = append(replies, m.Reply())
	}
	if len(replies) != batches {
		t.Fatalf("fetched %d messages, want %d", len(replies), batches)
	}
	acked := func() uint64 {
		ci, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ci.AckFloor.Consumer
	}

	p, err := New(Config{JS: n.JS, Store: w, RecountInterval: time.Hour, BatchSize: 1000, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	rc := newRecounter(p)
	rc.urgentAcks = 3
	done, ran := make(chan struct{}), make(chan error, 1)
	go func() { ran <- rc.run(ctx, done) }()
	per := len(hists) / batches
	write := func(i int) {
		var evs []events.Event
		for _, h := range hists[i*per : (i+1)*per] {
			evs = append(evs, h...)
		}
		rows, err := projection.DeriveAll(evs)
		if err != nil {
			t.Fatal(err)
		}
		cells, err := w.WriteRows(ctx, rows)
		if err != nil {
			t.Fatal(err)
		}
		if cells.Len() == 0 {
			t.Fatalf("batch %d touched no report cell", i)
		}
		rc.add(cells, replies[i:i+1])
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (recounts %d, acked %d)", what, p.stats.Recounts.Load(), acked())
			}
		}
	}
	stable := func(what string, recounts, ackFloor uint64) {
		t.Helper()
		time.Sleep(300 * time.Millisecond)
		if r, a := p.stats.Recounts.Load(), acked(); r != recounts || a != ackFloor {
			t.Fatalf("%s: %d recounts and %d acked, want %d and %d", what, r, a, recounts, ackFloor)
		}
	}

	write(0)
	waitFor("the first batch recounted and acked", func() bool { return p.stats.Recounts.Load() == 1 && acked() == 1 })
	write(1)
	write(2)
	stable("two batches within the interval", 1, 1)
	write(3) // three acks waiting: urgent
	waitFor("an early recount of a backlog", func() bool { return p.stats.Recounts.Load() == 2 && acked() == 4 })
	for i := 4; i < batches; i++ {
		write(i)
	}
	stable("more batches within the interval", 2, 4)
	close(done)
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if r, a := p.stats.Recounts.Load(), acked(); r != 3 || a != batches {
		t.Fatalf("after the final flush: %d recounts and %d acked, want 3 and %d", r, a, batches)
	}
	if _, err := db.Digest(ctx); err != nil {
		t.Fatal(err) // the cells differ from a recount from scratch
	}
}
