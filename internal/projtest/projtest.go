// Package projtest runs the projector inside a test and waits for it to
// catch up: what the end-to-end and reliability tests share. (The projector's
// own tests cannot use it: this package imports the projector.)
package projtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/projector"
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
// recounted. Errors from the server (a restart, say) count as not yet.
func WaitCaughtUp(t testing.TB, js jetstream.JetStream, timeout time.Duration, consumers ...string) {
	t.Helper()
	if len(consumers) == 0 {
		consumers = []string{projector.ConsumerPrefix}
	}
	deadline := time.Now().Add(timeout)
	for {
		state, done := caughtUp(js, consumers)
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("projection did not catch up within %v (%s)", timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// caughtUp reads the stream, the consumers and the recount stream once.
func caughtUp(js jetstream.JetStream, consumers []string) (state string, done bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, events.DefaultStream)
	if err != nil {
		return fmt.Sprintf("stream: %v", err), false
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Sprintf("stream info: %v", err), false
	}
	last := info.State.LastSeq
	done = true
	state = fmt.Sprintf("stream last seq %d", last)
	for _, c := range consumers {
		var floor uint64
		if cons, err := s.Consumer(ctx, c); err == nil {
			if ci, err := cons.Info(ctx); err == nil {
				floor = ci.AckFloor.Stream
			}
		}
		state += fmt.Sprintf(", %s ack floor %d", c, floor)
		done = done && floor >= last
	}
	cells, err := projector.ReportCellsPending(ctx, js, events.DefaultStream)
	state += fmt.Sprintf(", report cells pending %d %v", cells, err)
	return state, done && err == nil && cells == 0
}
