package projector

import (
	"context"
	"strconv"
	"time"

	"github.com/duroscope/duroscope/internal/recount"
)

// finishBatches is the finisher stage: it finishes each prepared batch, in
// order, until in is closed or a batch fails.
func (p *Projector) finishBatches(ctx context.Context, in <-chan *pending) error {
	for pj := range in {
		if err := p.finish(ctx, pj); err != nil {
			return err
		}
	}
	return nil
}

// finish writes a prepared batch's rows, records the report cells they
// touched for the recounter, then acks the batch.
func (p *Projector) finish(ctx context.Context, pj *pending) error {
	b, rows := pj.b, pj.rows
	var (
		tDerived time.Duration
		cells    recount.Cells
	)
	if len(rows) > 0 {
		t := time.Now()
		if len(rows) > 0 {
			refused, err := p.isolate(ctx, b, "insert derived rows", len(rows), func(lo, hi int) error {
				// Cells of failed attempts too: they may have written facts.
				c, err := p.cfg.Store.WriteRows(ctx, rows[lo:hi])
				cells.Add(c)
				return err
			})
			if err != nil {
				return err
			}
			if len(refused) > 0 {
				// Derived rows are refused per instance: dead-letter that
				// instance's events of this batch with the reason, so the
				// refusal is on record and the events can be re-driven.
				byInstance := map[string]string{}
				for i, reason := range refused {
					id := rows[i].Instance.InstanceID
					byInstance[id] = "derived rows of instance " + strconv.Quote(id) + ": " + reason
					// Its events are in the cache (and the history table)
					// but not in its rows: a re-drive must re-derive it.
					// (prepare owns the cache; it forgets the instance
					// before its next derivation.)
					p.forgetLater(id)
				}
				why := map[int]string{}
				for i, r := range b.good {
					if reason, ok := byInstance[r.Event.InstanceID]; ok {
						why[i] = reason
					}
				}
				if err := p.dropRefused(ctx, b, why); err != nil {
					return err
				}
			}
			p.stats.DerivedRows.Add(uint64(len(rows) - len(refused)))
		}
		tDerived = time.Since(t)
	}
	p.stats.Projected.Add(uint64(len(b.good)))
	p.stats.Batches.Add(1)
	p.stats.LastInsertNs.Store(int64(time.Since(pj.start)))
	p.log.Debug().Int("messages", b.msgs).Int("events", len(b.good)).Int("bad", len(b.bad)).Dur("took", time.Since(pj.start)).
		Dur("history", pj.tHistory).Dur("derive", pj.tDerive).Dur("derived", tDerived).Msg("batch written")
	if cells.Len() > 0 {
		if err := p.retry(ctx, b, "record report cells", func() error { return p.recordCells(ctx, cells) }); err != nil {
			return err
		}
	}
	p.ack(b.acks)
	p.health.acked(time.Now())
	return nil
}

// touch resets the ack timer of the messages acks.
func (p *Projector) touch(acks []string) {
	nc := p.cfg.JS.Conn()
	for _, reply := range acks {
		_ = nc.Publish(reply, []byte(ackProgress))
	}
}

// JetStream's ack protocol bodies (what jetstream.Msg.Ack and InProgress
// publish to a message's reply subject).
const (
	ackAck      = "+ACK"
	ackProgress = "+WPI"
)

// ack acks the messages acks. A lost ack only means re-delivery, which
// rewrites the same rows.
func (p *Projector) ack(acks []string) {
	nc := p.cfg.JS.Conn()
	for _, reply := range acks {
		if err := nc.Publish(reply, []byte(ackAck)); err != nil {
			p.log.Warn().Err(err).Msg("ack failed; the message will be re-delivered and rewritten identically")
			return
		}
	}
	// Send them now (one round trip per batch), not whenever the client's
	// buffer fills: unsent acks are re-deliveries after a stop.
	if err := nc.Flush(); err != nil {
		p.log.Warn().Err(err).Msg("flushing acks failed; unsent ones will be re-delivered and rewritten identically")
	}
}
