package projector

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroscope/duroscope/events"
)

// subscribeQueues stores the queue-depth snapshots Duroxide publishes on
// core NATS (API.md "Queue-depth snapshots"). They are point-in-time gauges:
// a snapshot lost while the projector is down is simply superseded by the
// next one, so core NATS (at-most-once) is enough here.
func (p *Projector) subscribeQueues(ctx context.Context) (stop func(), err error) {
	ch := make(chan events.QueueSnapshot, 1024)
	sub, err := p.cfg.NC.Subscribe(events.QueueSubject, func(m *nats.Msg) {
		s, err := events.DecodeQueueSnapshot(m.Data)
		if err != nil {
			p.log.Warn().Err(err).Msg("ignoring malformed queue snapshot")
			return
		}
		select {
		case ch <- s:
		default:
			p.log.Warn().Msg("queue snapshot buffer full; dropping one (a newer one follows)")
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", events.QueueSubject, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var pending []events.QueueSnapshot
		flush := func(ctx context.Context) {
			if len(pending) == 0 {
				return
			}
			if err := p.cfg.Store.WriteQueueSnapshots(ctx, pending); err != nil {
				p.log.Warn().Err(err).Int("snapshots", len(pending)).Msg("queue snapshots not written; will retry")
				if len(pending) > 10000 {
					pending = pending[len(pending)-10000:]
				}
				return
			}
			p.stats.QueueSnaps.Add(uint64(len(pending)))
			pending = pending[:0]
		}
		for {
			select {
			case s := <-ch:
				pending = append(pending, s)
			case <-t.C:
				flush(ctx)
			case <-ctx.Done():
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				flush(fctx)
				cancel()
				return
			}
		}
	}()
	return func() { _ = sub.Unsubscribe(); <-done }, nil
}
