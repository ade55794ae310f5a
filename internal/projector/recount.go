package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/internal/recount"
)

// Report cells (chwrite.Writer.Recount) are recounted off the ingest
// path. A recount reads every fact of each cell it touches, so it costs what
// the cells hold (a whole hour of facts), not what a batch brought: done for
// every batch, it was about half of all ClickHouse time at ingest, and it
// grows with the hour. So the finisher only records which cells a batch
// touched, as a message on the recount stream (RecountStream), and acks the
// batch once that message is stored; the recounter of every projector
// process pulls those messages from one shared durable consumer, recounts the
// union of the cells they name and then acks them.
//
// Exactness: a recount starts after the message naming its cells was
// received, hence after the facts were written (the message is published
// after WriteRows returned), so the last recount of a cell sees all of it;
// recounts of one cell by several processes are ordered by the cell's
// version (report_sql.go). Crash safety: the recount stream keeps a message
// until a recount that covered it is done and acked; a killed process's
// messages are re-delivered to the next recounter.
//
// Cadence: at most one recount per RecountInterval, and no sooner than
// recountSpacing times the last recount's duration after it started, so
// recounts take at most about a fifth of the time however big the cells
// grow; the report cells then lag the other tables by about that much. The
// ingest path never waits for a recount.

const (
	// recountSpacing: the next recount starts no sooner than this many
	// times the last one's duration after it started.
	recountSpacing = 5
	// maxCellsPerMessage bounds a recount message (~60 bytes a cell, well
	// under NATS's default 1 MiB payload limit).
	maxCellsPerMessage = 4000
	// recountFetch is the most messages one recount covers.
	recountFetch = 2000
	// recountAckWait is the redelivery timeout of recount messages: a
	// recount keeps its messages with InProgress every third of it, so this
	// only bounds how long the cells of a killed recounter wait.
	recountAckWait = 15 * time.Second
)

// recordCells stores cells on the recount stream; it returns once the
// stream has them.
func (p *Projector) recordCells(ctx context.Context, cells recount.Cells) error {
	for _, part := range cells.Split(maxCellsPerMessage) {
		b, err := json.Marshal(part)
		if err != nil {
			return fmt.Errorf("encode report cells: %w", err)
		}
		if _, err := p.cfg.JS.Publish(ctx, recountSubject(p.cfg.Stream), b); err != nil {
			return fmt.Errorf("publish report cells to %s: %w", RecountStream(p.cfg.Stream), err)
		}
	}
	return nil
}

// recounter recounts the report cells recorded on the recount stream.
type recounter struct {
	p        *Projector
	cons     jetstream.Consumer
	interval time.Duration
	// took is how long the last recount took.
	took time.Duration
}

func newRecounter(ctx context.Context, p *Projector) (*recounter, error) {
	cons, err := p.cfg.JS.CreateOrUpdateConsumer(ctx, RecountStream(p.cfg.Stream), recounterConsumer())
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on %s: %w", RecounterConsumer, RecountStream(p.cfg.Stream), err)
	}
	return &recounter{p: p, cons: cons, interval: p.cfg.RecountInterval}, nil
}

// run recounts what is recorded, at the cadence above, until done is
// closed; then it recounts what is left and returns. It returns early only
// when ctx ends (what it had pulled is then re-delivered).
func (r *recounter) run(ctx context.Context, done <-chan struct{}) error {
	for {
		start := time.Now()
		if err := r.recount(ctx); err != nil {
			return err
		}
		t := time.NewTimer(time.Until(start.Add(max(r.interval, recountSpacing*r.took))))
		select {
		case <-t.C:
		case <-done:
			t.Stop()
			return r.recount(ctx)
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// recount pulls every recorded message available (up to recountFetch),
// recounts the union of their cells (retrying store errors until ctx ends)
// and acks them.
func (r *recounter) recount(ctx context.Context) error {
	var msgs []jetstream.Msg
	for len(msgs) < recountFetch {
		batch, err := r.cons.FetchNoWait(recountFetch - len(msgs))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.p.log.Warn().Err(err).Msg("pull report cells to recount; retrying later")
			break
		}
		n := 0
		for m := range batch.Messages() {
			msgs = append(msgs, m)
			n++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			r.p.log.Warn().Err(err).Msg("pull report cells to recount")
		}
		if n == 0 {
			break
		}
	}
	if len(msgs) == 0 {
		r.took = 0
		return nil
	}
	var cells recount.Cells
	kept := msgs[:0]
	for _, m := range msgs {
		var c recount.Cells
		if err := json.Unmarshal(m.Data(), &c); err != nil {
			// Only projectors publish here; a message they did not write
			// names nothing to recount.
			r.p.log.Error().Err(err).Str("subject", m.Subject()).Msg("dropping an unreadable recount message")
			_ = m.Term()
			continue
		}
		cells.Add(c)
		kept = append(kept, m)
	}
	touch := func() {
		for _, m := range kept {
			_ = m.InProgress()
		}
	}
	stopTouching := make(chan struct{})
	defer close(stopTouching)
	go func() {
		tk := time.NewTicker(recountAckWait / 3)
		defer tk.Stop()
		for {
			select {
			case <-tk.C:
				touch()
			case <-stopTouching:
				return
			}
		}
	}()
	// took is the successful attempt's duration: the cadence follows the
	// recount's cost, not how long the store was away.
	err := r.p.retryLoop(ctx, touch, "recount report cells", func() error {
		start := time.Now()
		err := r.p.cfg.Store.Recount(ctx, cells)
		r.took = time.Since(start)
		return err
	}, false)
	if err != nil {
		return err
	}
	r.p.stats.Recounts.Add(1)
	r.p.stats.RecountCells.Add(uint64(cells.Len()))
	r.p.log.Debug().Int("messages", len(kept)).Int("hour_cells", cells.Len()).Dur("took", r.took).Msg("report cells recounted")
	for _, m := range kept {
		if err := m.Ack(); err != nil {
			// Re-delivered and recounted again: harmless.
			r.p.log.Warn().Err(err).Msg("ack of a recount message failed")
		}
	}
	// Send the acks now: unsent ones are recounted again after a stop.
	if err := r.p.cfg.JS.Conn().Flush(); err != nil {
		r.p.log.Warn().Err(err).Msg("flushing recount acks failed; those cells will be recounted again")
	}
	return nil
}

// ReportCellsPending is the number of recorded sets of report cells not yet
// recounted (messages on the recount stream of stream): 0 means the report
// tables are up to date with everything projected.
func ReportCellsPending(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	s, err := js.Stream(ctx, RecountStream(stream))
	if err != nil {
		return 0, fmt.Errorf("look up stream %s: %w", RecountStream(stream), err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", RecountStream(stream), err)
	}
	return info.State.Msgs, nil
}
