package connector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// flight is one batch of publishes awaiting their acks.
type flight struct {
	futs []jetstream.PubAckFuture
	// top is the anchor of the batch's last row (Pos 0: no row), which
	// becomes the stored position once every ack is in.
	top Anchor
	// rows, events and notices count what the batch carries.
	rows, events, notices int
}

// publisher sends messages with JetStream async publish and waits for a
// whole batch's acks; a failed or missing ack re-publishes the message with
// the same Nats-Msg-Id (the stream keeps one copy).
type publisher struct {
	js         jetstream.JetStream
	ackTimeout time.Duration
	retries    int
	stats      *Stats
}

func (p *publisher) send(ctx context.Context, f *flight, msg *nats.Msg) error {
	for {
		fut, err := p.js.PublishMsgAsync(msg)
		if err == nil {
			f.futs = append(f.futs, fut)
			return nil
		}
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			select {
			case <-p.js.PublishAsyncComplete():
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(p.ackTimeout):
				return fmt.Errorf("publish %s: no room for async publishes within %s", msg.Subject, p.ackTimeout)
			}
			continue
		}
		return fmt.Errorf("publish %s (Nats-Msg-Id %s): %w", msg.Subject, msg.Header.Get(jetstream.MsgIDHeader), err)
	}
}

// wait returns once every message of f is stored, or with the first that
// could not be after the retries.
func (p *publisher) wait(ctx context.Context, f *flight) error {
	timer := time.NewTimer(p.ackTimeout)
	defer timer.Stop()
	for i := 0; i < len(f.futs); i++ {
		fut := f.futs[i]
		for try := 1; ; try++ {
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(p.ackTimeout)
			var ackErr error
			select {
			case ack := <-fut.Ok():
				if ack.Duplicate {
					p.stats.Deduplicated.Add(1)
				}
			case ackErr = <-fut.Err():
			case <-timer.C:
				ackErr = fmt.Errorf("no ack within %s", p.ackTimeout)
			case <-ctx.Done():
				return ctx.Err()
			}
			if ackErr == nil {
				break
			}
			msg := fut.Msg()
			if try >= p.retries {
				return fmt.Errorf("publish %s (Nats-Msg-Id %s) failed after %d attempts: %w",
					msg.Subject, msg.Header.Get(jetstream.MsgIDHeader), try, ackErr)
			}
			p.stats.Retried.Add(1)
			again, err := p.js.PublishMsgAsync(&nats.Msg{Subject: msg.Subject, Data: msg.Data, Header: msg.Header})
			if err != nil {
				return fmt.Errorf("re-publish %s: %w", msg.Subject, err)
			}
			fut = again
		}
	}
	return nil
}
