package projector

import (
	"fmt"
	"sync/atomic"
	"time"
)

// health is the pipeline's heartbeat, for Health: the stages report the
// batches they take and ack, and the first failure.
type health struct {
	// failure is the pipeline's first error.
	failure atomic.Pointer[error]
	// running is set while the stages run.
	running atomic.Bool
	// progress is when (unix ns) a batch was last acked, or work arrived
	// at an idle pipeline, or the stages started.
	progress atomic.Int64
	// inFlight counts the batches the writer took that are not acked yet.
	inFlight atomic.Int64
}

// fail records err unless a failure is recorded already.
func (h *health) fail(err error) { h.failure.CompareAndSwap(nil, &err) }

func (h *health) start(now time.Time) {
	h.progress.Store(now.UnixNano())
	h.inFlight.Store(0)
	h.running.Store(true)
}

func (h *health) stop() { h.running.Store(false) }

// taken: the writer took a batch.
func (h *health) taken(now time.Time) {
	if h.inFlight.Add(1) == 1 {
		h.progress.Store(now.UnixNano())
	}
}

// acked: the finisher acked a batch.
func (h *health) acked(now time.Time) {
	h.inFlight.Add(-1)
	h.progress.Store(now.UnixNano())
}

// Health reports why the pipeline is unhealthy, or nil: it failed (Run
// returns or has returned that error), or it is stalled, that is no batch
// was acked for StallTimeout while batches are in flight or messages older
// than StallTimeout wait on the consumer (read from JetStream, at most once
// per lagMaxAge). A store outage that outlasts StallTimeout thus shows
// here, while the pipeline keeps retrying. Before Run and after a clean
// stop it is nil. Safe for concurrent use.
func (p *Projector) Health(now time.Time) error {
	h := &p.health
	if err := h.failure.Load(); err != nil {
		return fmt.Errorf("pipeline failed: %w", *err)
	}
	if !h.running.Load() {
		return nil
	}
	idle := now.Sub(time.Unix(0, h.progress.Load()))
	if idle < p.cfg.StallTimeout {
		return nil
	}
	if n := h.inFlight.Load(); n > 0 {
		return fmt.Errorf("pipeline stalled: no batch acked for %s with %d batches in flight", idle.Round(time.Millisecond), n)
	}
	// Nothing in flight: the collector may be starved while messages wait.
	if r, _ := p.consumerLag(now); r.err == nil && r.events > 0 && r.hasSeconds && r.seconds >= p.cfg.StallTimeout.Seconds() {
		return fmt.Errorf("pipeline stalled: no batch acked for %s while %d messages wait on the consumer (the oldest for %.0fs)",
			idle.Round(time.Millisecond), r.events, r.seconds)
	}
	return nil
}
