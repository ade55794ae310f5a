package projector

import (
	"context"
	"sync"
	"time"

	"github.com/duroscope/duroscope/readmodel"
)

// The report cells (readmodel.Writer.Recount) are recounted off the
// per-batch path. A recount reads every fact of each cell it touches, so it
// costs what the cells hold, not what the batch brought: done for every
// batch, it was about half of all ClickHouse time at ingest (BENCHMARKS.md).
// The finisher hands each written batch — the cells it touched and its ack
// subjects — to the recounter, which recounts the union of what it was
// handed at most once per RecountInterval, and then acks those batches.
//
// A recount's cost grows with the cells (an hour cell holds every fact of
// its hour), not with the batches it covers, so the recounter also waits
// recountSpacing times as long as the last recount took: recounts then take
// at most about a quarter of the time however big the cells grow, and more
// batches share each one. It does not wait when nothing needs a recount, or
// when so many acks wait that JetStream would soon stop delivering
// (MaxAckPending): holding more would stall the pipeline.
//
// Acking only after the recount keeps the exactly-once argument whole: a
// batch whose cells are not recounted is not acked, so after a crash it is
// re-delivered, its rows rewritten identically and its cells recounted. Only
// the acks and the report cells wait; every table the operational API reads
// was written before the batch was handed over.
type recounter struct {
	p        *Projector
	interval time.Duration
	// urgentAcks is how many waiting acks make a recount start at once.
	urgentAcks int
	// took is how long the last recount took.
	took time.Duration
	wake       chan struct{}

	mu      sync.Mutex
	cells   readmodel.ReportCells
	acks    []string
	batches int
}

const (
	// recountSpacing: the next recount starts no sooner than this many
	// times the last one's duration after it started.
	recountSpacing = 4
	// urgentAckBatches: batches' worth of waiting acks that start a recount
	// at once (the consumer's MaxAckPending is maxAckPendingBatches).
	urgentAckBatches     = 5
	maxAckPendingBatches = 8
)

func newRecounter(p *Projector) *recounter {
	return &recounter{
		p:          p,
		interval:   p.cfg.RecountInterval,
		urgentAcks: urgentAckBatches * p.cfg.BatchSize,
		wake:       make(chan struct{}, 1),
	}
}

// add queues a written batch: the cells it touched and its ack subjects.
func (r *recounter) add(cells readmodel.ReportCells, acks []string) {
	r.mu.Lock()
	r.cells.Add(cells)
	r.acks = append(r.acks, acks...)
	r.batches++
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// urgent reports whether what waits should be flushed without waiting for
// the interval.
func (r *recounter) urgent() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cells.Len() == 0 || len(r.acks) >= r.urgentAcks
}

// run flushes what is queued, at most once per interval unless urgent,
// until done is closed; then it flushes the rest and returns. It returns
// early only when ctx ends (the batches still queued are then re-delivered).
func (r *recounter) run(ctx context.Context, done <-chan struct{}) error {
	var last time.Time
	for {
		select {
		case <-r.wake:
		case <-done:
			return r.flush(ctx)
		case <-ctx.Done():
			return ctx.Err()
		}
		for due := last.Add(max(r.interval, recountSpacing*r.took)); !r.urgent() && time.Now().Before(due); {
			t := time.NewTimer(time.Until(due))
			select {
			case <-t.C:
			case <-r.wake: // more queued: maybe urgent now
			case <-done:
				t.Stop()
				return r.flush(ctx)
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
			t.Stop()
		}
		last = time.Now()
		if err := r.flush(ctx); err != nil {
			return err
		}
	}
}

// flush recounts the queued cells (retrying store errors until ctx ends)
// and acks the queued batches.
func (r *recounter) flush(ctx context.Context) error {
	r.mu.Lock()
	cells, acks, batches := r.cells, r.acks, r.batches
	r.cells, r.acks, r.batches = readmodel.ReportCells{}, nil, 0
	r.mu.Unlock()
	if batches == 0 {
		return nil
	}
	if n := cells.Len(); n > 0 {
		start := time.Now()
		err := r.p.retryLoop(ctx, acks, "recount report cells", func() error {
			return r.p.cfg.Store.Recount(ctx, cells)
		}, false)
		if err != nil {
			return err
		}
		r.took = time.Since(start)
		r.p.stats.Recounts.Add(1)
		r.p.stats.RecountCells.Add(uint64(n))
		r.p.log.Debug().Int("batches", batches).Int("hour_cells", n).Dur("took", time.Since(start)).Msg("report cells recounted")
	}
	r.p.ack(acks)
	return nil
}
