package projector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// batch is one unit of work: everything is acked together after it is
// written.
type batch struct {
	good []chwrite.HistoryRow
	// goodMsgs[i] is the message good[i] came from, to dead-letter it if
	// the store refuses it.
	goodMsgs []msgRef
	bad      []badMsg
	// notices are the batch's source notices (docs/deletions.md); they are
	// stored and derived like events.
	notices []chwrite.NoticeRow
	// acks holds the ack subject of every message of the batch; each is
	// acked once the batch is written.
	acks []string
	msgs int
}

// msgRef is what a batch keeps of a message it may dead-letter: not the
// jetstream.Msg, which carries nats.go's decoded headers (~1 KiB a message,
// held for the life of the batch), but its subject and payload.
type msgRef struct {
	subject string
	data    []byte
}

type badMsg struct {
	msg    msgRef
	seq    uint64
	reason string
}

// collect pulls messages into batches until ctx is cancelled; it owns the
// iterator and stops it on return, so nothing more is pulled.
//
// A batch is offered to the writer once it is full (BatchSize) or
// FlushInterval after its first message. While the writer is still busy
// with the previous batch, the offered batch keeps growing (up to
// BatchSize) instead of waiting complete in a queue: a backlog is thus
// written in few large batches — every INSERT creates a part per table,
// and on ClickHouse that per-part cost dominates small batches — while a
// trickle still goes out every FlushInterval.
//
// On cancellation the batch in hand is still handed over, to be drained,
// unless the writer is gone (writerGone closed). collect returns an error
// when the iterator ends while ctx is not cancelled (the consumer was
// deleted, say): the pipeline cannot go on.
func (p *Projector) collect(ctx context.Context, it jetstream.MessagesContext, out chan<- *batch, writerGone <-chan struct{}) error {
	defer it.Stop()
	for ctx.Err() == nil {
		b := &batch{}
		// The first message may take as long as it likes; the rest of the
		// batch must arrive within FlushInterval of it. One context per
		// batch, not per message (NextMaxWait and NextContext exclude each
		// other, and a timer per message would cost at 100k+ msgs/s).
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if err := p.pullFailed(ctx, err); err != nil {
				return err
			}
			continue
		}
		p.add(b, msg)
		if err := p.fill(ctx, it, b, p.cfg.FlushInterval); err != nil {
			return err
		}
		// Offer the batch; until the writer takes it, keep adding what
		// arrives, re-offering every growPoll.
		for b.msgs < p.cfg.BatchSize && ctx.Err() == nil {
			select {
			case out <- b:
				b = nil
			case <-writerGone:
				return nil
			default:
			}
			if b == nil {
				break
			}
			if err := p.fill(ctx, it, b, growPoll); err != nil {
				return err
			}
		}
		if b != nil {
			select {
			case out <- b:
			case <-writerGone:
				return nil
			}
		}
	}
	return nil
}

// pullBuffer bounds the messages the client pulls ahead of the collector.
const pullBuffer = 10000

// growPoll is how long a batch offered to a busy writer grows before it is
// offered again.
const growPoll = 5 * time.Millisecond

// fill adds messages to b until it is full or d has passed. It returns an
// error only when the iterator has ended (see pullEnded); other pull errors
// end the fill and are retried by collect.
func (p *Projector) fill(ctx context.Context, it jetstream.MessagesContext, b *batch, d time.Duration) error {
	bctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for b.msgs < p.cfg.BatchSize {
		msg, err := it.Next(jetstream.NextContext(bctx))
		if err != nil {
			if bctx.Err() != nil {
				return nil
			}
			if pullEnded(err) {
				return fmt.Errorf("pull from %s: %w", p.cfg.Stream, err)
			}
			p.log.Warn().Err(err).Msg("pull failed")
			return nil
		}
		p.add(b, msg)
	}
	return nil
}

// pullFailed handles a Next error while ctx is live: an ended iterator is
// the pipeline's failure; anything else (a reconnect, a missed heartbeat)
// is logged and retried after a pause.
func (p *Projector) pullFailed(ctx context.Context, err error) error {
	if pullEnded(err) {
		return fmt.Errorf("pull from %s: %w", p.cfg.Stream, err)
	}
	p.log.Warn().Err(err).Msg("pull failed; retrying")
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}

// pullEnded reports whether a Next error means the iterator will deliver
// nothing more: it was closed (its connection closed, say) or the server
// ended the pull for good (the consumer deleted; nats.go stops the iterator
// on these).
func pullEnded(err error) bool {
	return errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrBadRequest)
}

func (p *Projector) add(b *batch, msg jetstream.Msg) {
	b.msgs++
	p.stats.Received.Add(1)
	var seq uint64
	if md, err := msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	// Acked by publishing to its reply subject, as jetstream.Msg.Ack does.
	b.acks = append(b.acks, msg.Reply())
	ref := msgRef{subject: msg.Subject(), data: msg.Data()}
	m, err := events.DecodeMessage(ref.data)
	if err != nil {
		b.bad = append(b.bad, badMsg{msg: ref, seq: seq, reason: err.Error()})
		return
	}
	if !p.owns(m.InstanceID()) {
		p.stats.Skipped.Add(1)
		return
	}
	if m.IsNotice {
		p.stats.Notices.Add(1)
		b.notices = append(b.notices, chwrite.NoticeRow{Notice: &m.Notice, StreamSeq: seq})
		return
	}
	ev := m.Event
	if !ev.Known {
		p.stats.Unknown.Add(1)
	}
	b.good = append(b.good, chwrite.HistoryRow{Event: &ev, StreamSeq: seq})
	b.goodMsgs = append(b.goodMsgs, ref)
}
