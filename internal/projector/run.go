package projector

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// Lifecycle. Run first builds everything that can fail (streams, the known
// set, the consumers, the subscription, the message iterator), with no
// goroutine of its own yet. Then it runs the stages under one errgroup:
//
//	collect ──batches──▶ write (prepare) ──prepared──▶ finish ──▶ recount
//	queue snapshots (with core NATS)
//	drift self-check (with DriftInterval, drift.go)
//	retention (partition 0, when a retention is set: retention.go)
//
// Each channel is unbuffered and closed by its sender when it ends, so each
// stage ends after the one before it. The first stage error stops every
// stage and is Run's error; recorded at once, Health reports it while the
// others wind down. Cancelling ctx is a clean stop: the collector hands
// over the batch in hand and stops pulling, and the writing stages (write,
// finish, recount) drain what was collected under their own context,
// cancelled after DrainTimeout (what is abandoned then is not acked, hence
// re-delivered) or at once on a failure. Every goroutine has ended when Run
// returns.

// pipeline is what Run builds before it starts a stage.
type pipeline struct {
	it     jetstream.MessagesContext
	rc     *recounter
	queues *queueWriter // nil without Config.NC
}

// Run projects until ctx is cancelled, then drains the batches in flight
// (bounded by DrainTimeout) and returns nil. It returns an error when it
// cannot start (unless ctx was cancelled meanwhile) or when the pipeline
// fails: a stage's error that no retry can cure (a permanent store error,
// a derivation error, the consumer deleted under it).
func (p *Projector) Run(ctx context.Context) error {
	pl, err := p.setup(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: a graceful stop, not a failure
		}
		p.health.fail(err)
		return err
	}
	p.log.Info().Str("stream", p.cfg.Stream).Int("batch_size", p.cfg.BatchSize).
		Dur("flush_interval", p.cfg.FlushInterval).Int("partitions", p.cfg.Partitions).Msg("projecting")
	p.health.start(time.Now())
	err = p.run(ctx, pl)
	p.health.stop()
	if err != nil {
		p.log.Error().Err(err).Uint64("projected", p.stats.Projected.Load()).Msg("pipeline stopped by a failure")
		return err
	}
	p.log.Info().Uint64("projected", p.stats.Projected.Load()).Uint64("dead_lettered", p.stats.DeadLettered.Load()).Msg("projector stopped")
	return nil
}

// setup builds the pipeline; on error nothing of it is left running.
func (p *Projector) setup(ctx context.Context) (*pipeline, error) {
	if err := EnsureStreams(ctx, p.cfg.JS, p.cfg.Stream, p.cfg.Replicas); err != nil {
		return nil, err
	}
	if err := p.seedKnown(ctx); err != nil {
		return nil, err
	}
	slotted, err := HistorySlotted(ctx, p.cfg.JS, p.cfg.Stream)
	if err != nil {
		return nil, err
	}
	if !slotted && p.cfg.Partitions > 1 {
		p.log.Warn().Msg("the history stream does not tag subjects with slots (NATS server before 2.10?): this partition receives every message and skips the instances it does not own")
	}
	cc := p.historyConsumer(slotted)
	cons, err := p.cfg.JS.CreateOrUpdateConsumer(ctx, p.cfg.Stream, cc)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on %s: %w", cc.Durable, p.cfg.Stream, err)
	}
	pl := &pipeline{}
	if pl.rc, err = newRecounter(ctx, p); err != nil {
		return nil, err
	}
	if p.cfg.NC != nil {
		if pl.queues, err = p.subscribeQueues(); err != nil {
			return nil, err
		}
	}
	// Last, as it starts pulling. The client-side buffer only has to keep
	// the pipe full while the collector drains it; it need not hold a whole
	// batch (each buffered message costs ~1 KiB with its decoded headers).
	if pl.it, err = cons.Messages(jetstream.PullMaxMessages(min(p.cfg.BatchSize, pullBuffer))); err != nil {
		if pl.queues != nil {
			pl.queues.unsubscribe()
		}
		return nil, fmt.Errorf("consume %s: %w", cc.Durable, err)
	}
	return pl, nil
}

// run runs the stages of pl until they have all ended (see Lifecycle).
func (p *Projector) run(ctx context.Context, pl *pipeline) error {
	g, gctx := errgroup.WithContext(ctx)
	// The writing stages' context: not cancelled with ctx (they drain), but
	// by drain.
	wctx, stopWriting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWriting()
	var (
		batches      = make(chan *batch)
		prepared     = make(chan *pending)
		writerGone   = make(chan struct{})
		finisherGone = make(chan struct{})
		written      = make(chan struct{}) // closed when the writing stages have ended
		writing      atomic.Int32          // writing stages not ended
	)
	writing.Store(3) // write, finish, recount
	stage := func(name string, run func() error) {
		g.Go(func() error { return p.stageEnded(ctx, name, run()) })
	}
	writingStage := func(name string, run func() error) {
		stage(name, func() error {
			defer func() {
				if writing.Add(-1) == 0 {
					close(written)
				}
			}()
			return run()
		})
	}
	stage("collect", func() error {
		defer close(batches)
		return p.collect(gctx, pl.it, batches, writerGone)
	})
	writingStage("write", func() error {
		defer close(writerGone)
		defer close(prepared)
		return p.writeBatches(wctx, batches, prepared, finisherGone)
	})
	writingStage("finish", func() error {
		defer close(finisherGone)
		return p.finishBatches(wctx, prepared)
	})
	// Recounts what the finished batches recorded; once the finisher is
	// gone, what is left, then ends.
	writingStage("recount", func() error { return pl.rc.run(wctx, finisherGone) })
	if pl.queues != nil {
		stage("queue snapshots", func() error { return pl.queues.run(gctx) })
	}
	if p.cfg.DriftInterval > 0 {
		stage("drift check", func() error { return newDriftChecker(p).run(gctx) })
	}
	if p.cfg.Retention.enabled(p.cfg.Partition) {
		stage("retention", func() error { return p.runRetention(gctx) })
	}
	g.Go(func() error {
		p.drain(ctx, gctx, written, stopWriting)
		return nil
	})
	return g.Wait()
}

// drain cancels the writing stages (stop) when they must not finish what
// they hold: at once when a stage failed, DrainTimeout after ctx was
// cancelled. It returns once they have ended (written closed) or stop was
// called.
func (p *Projector) drain(ctx, gctx context.Context, written <-chan struct{}, stop context.CancelFunc) {
	select {
	case <-written:
		return
	case <-gctx.Done():
	}
	if ctx.Err() == nil {
		stop() // a stage failed
		return
	}
	t := time.NewTimer(p.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-written:
	case <-t.C:
		p.log.Warn().Msg("drain timeout: abandoning the batch in flight (it will be re-delivered)")
		stop()
	}
}

// stageEnded turns a stage's result into its result for the group: once ctx
// is cancelled, a stage cut short by the drain timeout has stopped cleanly
// (what it held is re-delivered); any other error is the pipeline's
// failure, recorded for Health.
func (p *Projector) stageEnded(ctx context.Context, name string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		p.log.Warn().Err(err).Str("stage", name).Msg("batch not acked; it will be re-delivered")
		return nil
	}
	err = fmt.Errorf("%s stage: %w", name, err)
	p.health.fail(err)
	return err
}
