package projector

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// TestRecounterRecountsRecordedCellsAcrossRestarts drives the recounter
// with real batches (rows written to ClickHouse, cells recorded on the real
// JetStream recount stream): the first recount is immediate, later cells
// wait for the interval, a recounter stopped before recounting leaves its
// cells on the stream for the next one, the final recount on stop covers the
// rest, and the cells end up equal to a recount of all facts from scratch.
func TestRecounterRecountsRecordedCellsAcrossRestarts(t *testing.T) {
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "projrecount")
	ctx := context.Background()
	if err := EnsureStreams(ctx, n.JS, events.DefaultStream, 0); err != nil {
		t.Fatal(err)
	}
	w := chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name})
	var hists [][]events.Event
	for h := range gen.Histories(gen.Config{Seed: 5, Instances: 60, SpreadMs: 3 * 3_600_000}) {
		hists = append(hists, h)
	}
	p, err := New(Config{JS: n.JS, Store: w, RecountInterval: time.Hour, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	const batches = 6
	per := len(hists) / batches
	write := func(i int) {
		t.Helper()
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
		if err := p.recordCells(ctx, cells); err != nil {
			t.Fatal(err)
		}
	}
	waiting := func() uint64 {
		t.Helper()
		s, err := n.JS.Stream(ctx, RecountStream(events.DefaultStream))
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	// A recount of these few cells took 10 to 15 s on a loaded 2-core
	// machine (shared ClickHouse); the interval is an hour, so a long wait
	// hides no early recount.
	waitFor := func(what string, recounts, msgs uint64) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); p.stats.Recounts.Load() != recounts || waiting() != msgs; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d recounts and %d messages waiting, want %d and %d", what, p.stats.Recounts.Load(), waiting(), recounts, msgs)
			}
		}
	}
	start := func() (stop func(), done chan struct{}, ran chan error) {
		rc, err := newRecounter(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done, ran = make(chan struct{}), make(chan error, 1)
		go func() { ran <- rc.run(rctx, done) }()
		return cancel, done, ran
	}

	write(0)
	kill, _, ran := start()
	waitFor("the first recount, at start", 1, 0)
	write(1)
	write(2)
	time.Sleep(300 * time.Millisecond)
	waitFor("cells recorded within the interval", 1, 2)
	kill() // before its next recount: the cells stay recorded
	if err := <-ran; !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped recounter: %v", err)
	}
	waitFor("after the recounter stopped", 1, 2)

	_, done, ran := start()
	waitFor("the next recounter, at start", 2, 0)
	for i := 3; i < batches; i++ {
		write(i)
	}
	close(done)
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	waitFor("the final recount on stop", 3, 0)
	if _, err := db.Digest(ctx); err != nil {
		t.Fatal(err) // the cells differ from a recount from scratch
	}
}
