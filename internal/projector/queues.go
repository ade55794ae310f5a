package projector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroscope/duroscope/events"
)

// queueWriter stores the queue-depth snapshots Duroxide publishes on core
// NATS (API.md "Queue-depth snapshots"). They are point-in-time gauges: a
// snapshot lost while the projector is down is simply superseded by the
// next one, so core NATS (at-most-once) is enough here.
type queueWriter struct {
	p   *Projector
	sub *nats.Subscription
	ch  chan events.QueueSnapshot
}

// maxQueueSnapshots bounds the snapshots kept while the store is away (the
// newest are kept).
const maxQueueSnapshots = 10000

// subscribeQueues subscribes to the snapshots; run stores them and
// unsubscribes. The subscription's callback only buffers (and drops when
// the buffer is full: a newer snapshot follows).
func (p *Projector) subscribeQueues() (*queueWriter, error) {
	q := &queueWriter{p: p, ch: make(chan events.QueueSnapshot, 1024)}
	sub, err := p.cfg.NC.Subscribe(events.QueueSubject, func(m *nats.Msg) {
		s, err := events.DecodeQueueSnapshot(m.Data)
		if err != nil {
			p.log.Warn().Err(err).Msg("ignoring malformed queue snapshot")
			return
		}
		select {
		case q.ch <- s:
		default:
			p.log.Warn().Msg("queue snapshot buffer full; dropping one (a newer one follows)")
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", events.QueueSubject, err)
	}
	q.sub = sub
	return q, nil
}

// unsubscribe ends the subscription (its callback goroutine with it).
func (q *queueWriter) unsubscribe() {
	if err := q.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		q.p.log.Warn().Err(err).Msg("unsubscribe from queue snapshots")
	}
}

// run writes the buffered snapshots every second until ctx ends, then once
// more (for at most 5s) and unsubscribes. A write error is retried at the
// next tick, except a permanent one, which it returns.
func (q *queueWriter) run(ctx context.Context) error {
	defer q.unsubscribe()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var pending []events.QueueSnapshot
	flush := func(ctx context.Context) error {
		if len(pending) == 0 {
			return nil
		}
		err := q.p.cfg.Store.WriteQueueSnapshots(ctx, pending)
		switch {
		case err == nil:
		case errors.Is(err, ErrPermanent):
			return fmt.Errorf("write queue snapshots: %w", err)
		case errors.Is(err, ErrRefused):
			q.p.log.Error().Err(err).Int("snapshots", len(pending)).Msg("queue snapshots refused by the read model; dropped")
		default:
			q.p.log.Warn().Err(err).Int("snapshots", len(pending)).Msg("queue snapshots not written; will retry")
			if len(pending) > maxQueueSnapshots {
				pending = pending[len(pending)-maxQueueSnapshots:]
			}
			return nil
		}
		if err == nil {
			q.p.stats.QueueSnaps.Add(uint64(len(pending)))
		}
		pending = pending[:0]
		return nil
	}
	for {
		select {
		case s := <-q.ch:
			pending = append(pending, s)
		case <-t.C:
			if err := flush(ctx); err != nil {
				return err
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return flush(fctx)
		}
	}
}
