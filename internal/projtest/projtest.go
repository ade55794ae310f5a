// Package projtest runs the projector inside a test and waits for it to
// catch up: what the end-to-end and reliability tests share. (The projector's
// own tests cannot use it: this package imports the projector.)
package projtest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/watermark"
)

// Start runs an in-process projector with cfg until the returned stop is
// called or the test ends; stop waits for it and reports a failed run.
func Start(t testing.TB, cfg projector.Config) (stop func()) {
	t.Helper()
	p, err := projector.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("projector: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// WaitCaughtUp waits until every named consumer (default: the single
// process's) has acked the whole history stream and the report cells are
// recounted. Errors from the server (a restart, say) count as not yet. It
// fails when nothing moved (ack floors, cells pending) for timeout: a slow,
// busy machine that still makes progress is waited for, a stuck
// projection is not.
func WaitCaughtUp(t testing.TB, js jetstream.JetStream, timeout time.Duration, consumers ...string) {
	t.Helper()
	if len(consumers) == 0 {
		consumers = []string{projector.ConsumerPrefix}
	}
	start := time.Now()
	deadline := start.Add(timeout)
	var bestFloors uint64
	bestCells := uint64(math.MaxUint64)
	for {
		state, done, floors, cells := caughtUp(js, consumers)
		if done {
			return
		}
		// Progress: the ack floors rise, or (once they are through) the
		// cells pending recount fall below their lowest yet.
		if floors > bestFloors || cells < bestCells {
			bestFloors, bestCells = max(bestFloors, floors), min(bestCells, cells)
			deadline = time.Now().Add(timeout)
		}
		if time.Now().After(deadline) {
			t.Fatalf("projection did not catch up: no progress for %v (after %v in all; %s)", timeout, time.Since(start).Round(time.Second), state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// caughtUp reads the stream, the consumers and the recount stream once:
// a description, whether the projection is through, the sum of the ack
// floors and the cells pending (MaxUint64 when unknown).
func caughtUp(js jetstream.JetStream, consumers []string) (state string, done bool, floors, cells uint64) {
	cells = math.MaxUint64
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, events.DefaultStream)
	if err != nil {
		return fmt.Sprintf("stream: %v", err), false, 0, cells
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Sprintf("stream info: %v", err), false, 0, cells
	}
	last := info.State.LastSeq
	done = true
	state = fmt.Sprintf("stream last seq %d", last)
	for _, c := range consumers {
		var floor uint64
		if cons, err := s.Consumer(ctx, c); err == nil {
			if ci, err := cons.Info(ctx); err == nil {
				floor = watermark.Through(ci, last)
			}
		}
		state += fmt.Sprintf(", %s ack floor %d", c, floor)
		floors += floor
		done = done && floor >= last
	}
	pending, err := projector.ReportCellsPending(ctx, js, events.DefaultStream)
	state += fmt.Sprintf(", report cells pending %d %v", pending, err)
	if err == nil {
		cells = uint64(pending)
	}
	return state, done && err == nil && pending == 0, floors, cells
}
