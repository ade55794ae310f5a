package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/duroscope/duroscope/events"
)

// publishQueues publishes a queue-depth snapshot every QueueInterval on
// core NATS (API.md "Queue-depth snapshots"): a gauge, superseded by the
// next one, so at-most-once delivery is enough. A count the store refuses
// now and then (busy) is skipped; one that keeps failing stops the
// connector.
func (c *Connector) publishQueues(ctx context.Context) error {
	t := time.NewTicker(c.cfg.QueueInterval)
	defer t.Stop()
	failures := 0
	for {
		if err := c.publishQueueSnapshot(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			if failures >= 10 {
				return err
			}
			c.log.Warn().Err(err).Int("attempt", failures).Msg("queue snapshot failed")
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (c *Connector) publishQueueSnapshot(ctx context.Context) error {
	q, err := c.cfg.Source.Queues(ctx)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(q) // four integers
	if err := c.cfg.NC.Publish(events.QueueSubject, b); err != nil {
		return fmt.Errorf("publish queue snapshot: %w", err)
	}
	c.stats.QueueSnapshots.Add(1)
	return nil
}
