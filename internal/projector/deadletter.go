package projector

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/duroscope/duroscope/events"
)

// deadLetter publishes a bad message to the DLQ stream and waits for the
// stream to store it, so nothing is lost when the batch is then acked.
func (p *Projector) deadLetter(ctx context.Context, bad badMsg) error {
	m := nats.NewMsg(events.DLQSubject)
	m.Data = bad.msg.data
	m.Header.Set("Duroscope-Error", oneLine(bad.reason))
	m.Header.Set("Duroscope-Original-Subject", publishedSubject(bad.msg.subject))
	m.Header.Set("Duroscope-Original-Sequence", strconv.FormatUint(bad.seq, 10))
	// Re-delivery of the same bad message is deduplicated by the DLQ stream.
	m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("%s/%d", p.cfg.Stream, bad.seq))
	if _, err := p.cfg.JS.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish to %s: %w", events.DLQSubject, err)
	}
	p.stats.DeadLettered.Add(1)
	p.log.Warn().Uint64("seq", bad.seq).Str("subject", bad.msg.subject).Str("reason", bad.reason).Msg("dead-lettered")
	return nil
}

func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	if len(b) > 1024 {
		b = b[:1024]
	}
	return string(b)
}
