package projector

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// retry runs fn until it succeeds, with exponential backoff from 100ms to
// 10s. While it waits it tells JetStream the batch is still in progress so
// it is not re-delivered to another puller meanwhile.
func (p *Projector) retry(ctx context.Context, b *batch, what string, fn func() error) error {
	return p.retryLoop(ctx, func() { p.touch(b.acks) }, what, fn, false)
}

// retryWrite is retry for store writes: an error wrapping ErrRefused is
// returned at once, as *refusal, instead of retried.
func (p *Projector) retryWrite(ctx context.Context, b *batch, what string, fn func() error) error {
	return p.retryLoop(ctx, func() { p.touch(b.acks) }, what, fn, true)
}

// retryLoop runs fn until it succeeds; touch keeps the messages waiting for
// it from re-delivery meanwhile. An error wrapping ErrPermanent is returned
// at once: retrying cannot cure it, and it stops the pipeline.
func (p *Projector) retryLoop(ctx context.Context, touch func(), what string, fn func() error, refusable bool) error {
	backoff := 100 * time.Millisecond
	lastProgress := time.Now()
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			if attempt > 1 {
				p.log.Info().Str("op", what).Int("attempts", attempt).Msg("recovered")
			}
			return nil
		}
		if refusable && errors.Is(err, ErrRefused) {
			return &refusal{err: err}
		}
		if errors.Is(err, ErrPermanent) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		p.stats.StoreErrors.Add(1)
		p.log.Warn().Err(err).Str("op", what).Int("attempt", attempt).Dur("backoff", backoff).Msg("retrying")
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(backoff):
		}
		if time.Since(lastProgress) > p.cfg.AckWait/3 {
			touch()
			lastProgress = time.Now()
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}
