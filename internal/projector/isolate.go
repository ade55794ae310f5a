package projector

import (
	"context"
	"errors"
)

// A Store that refuses rows (ErrRefused) fails the whole write they are in,
// as an INSERT does: isolate finds them by bisection, and dropRefused
// dead-letters their events with the store's reason, so that one bad row
// never stalls a batch.

// refusal carries a write error wrapping ErrRefused out of retryWrite.
type refusal struct{ err error }

func (e *refusal) Error() string { return e.err.Error() }
func (e *refusal) Unwrap() error { return e.err }

// isolate writes rows [0, n) with write, retrying unavailability like
// retry. When the store refuses a range, the range is split in halves and
// each half written on its own, down to single rows: it returns the rows
// refused on their own, with the store's reason. Everything else is
// written. The cost is O(k log n) writes for k refused rows.
func (p *Projector) isolate(ctx context.Context, b *batch, what string, n int, write func(lo, hi int) error) (map[int]string, error) {
	refused := map[int]string{}
	var split func(lo, hi int) error
	split = func(lo, hi int) error {
		err := p.retryWrite(ctx, b, what, func() error { return write(lo, hi) })
		var rf *refusal
		if err == nil || !errors.As(err, &rf) {
			return err
		}
		if hi-lo == 1 {
			refused[lo] = oneLine(rf.err.Error())
			return nil
		}
		p.stats.Splits.Add(1)
		mid := lo + (hi-lo)/2
		p.log.Warn().Err(rf.err).Str("op", what).Int("rows", hi-lo).Msg("write refused by the read model; splitting it to isolate the refused rows")
		if err := split(lo, mid); err != nil {
			return err
		}
		return split(mid, hi)
	}
	if err := split(0, n); err != nil {
		return nil, err
	}
	return refused, nil
}

// dropRefused dead-letters the good events whose index is in why (with
// that reason) and removes them from the batch, so that they are neither
// derived nor counted as projected. They stay in b.acks and are acked.
func (p *Projector) dropRefused(ctx context.Context, b *batch, why map[int]string) error {
	if len(why) == 0 {
		return nil
	}
	keep, keepMsgs := b.good[:0:0], b.goodMsgs[:0:0]
	for i, r := range b.good {
		reason, refused := why[i]
		if !refused {
			keep, keepMsgs = append(keep, r), append(keepMsgs, b.goodMsgs[i])
			continue
		}
		bad := badMsg{msg: b.goodMsgs[i], seq: r.StreamSeq, reason: "refused by the read model: " + reason}
		if err := p.retry(ctx, b, "dead-letter", func() error { return p.deadLetter(ctx, bad) }); err != nil {
			return err
		}
		p.stats.Refused.Add(1)
	}
	b.good, b.goodMsgs = keep, keepMsgs
	return nil
}
