package projector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/duroscope/duroscope/internal/recount"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// Drift self-check. Beside the pipeline, every DriftInterval, the checker
// takes a sample of instance ids (DriftStore.SampleInstanceIDs: a sweep in
// id order of the history's and the instances table's ids), keeps those
// this partition owns, reads what the read model holds of them (their
// instance and execution rows, every copy at each key's newest version),
// then their stored history and notices, derives their rows with
// projection.Derive (the projector's own derivation) and compares
// (driftcompare.go). An instance whose rows are behind its history is a
// suspect: the projector may be writing it; it is drift only when a later
// check finds the same history and rows still behind, DriftGrace after the
// first. Rows that no projector write explains are drift at once.
//
// Each drift is logged with the instance id and repaired: rows merely
// behind are rewritten from the history (a higher version, so they win);
// rows no rewrite can replace (a version above the history's, or a copy of
// the same version that differs, which readers may pick) are deleted with a
// mutation, then the history is read again and the instance's rows are
// rewritten from it. History is always written before the rows derived
// from it, so what the deletion may have taken from a concurrent projector
// write is in the history read after it, and the rewrite restores it;
// never is an instance repaired toward an older state than its history's.
// A repaired instance is checked again in the next round.

// DriftStore is what the drift self-check needs of the read model beside
// Store: a sample of ids, the stored rows of some instances, and the
// deletion of an instance's rows. The ClickHouse write adapter implements it.
// Errors are classified as Store's are (ErrPermanent stops the pipeline;
// anything else is retried).
type DriftStore interface {
	// SampleInstanceIDs returns up to n distinct ids greater than after,
	// ascending, of instances with history or instance rows; fewer than n
	// means there are no more.
	SampleInstanceIDs(ctx context.Context, after string, n int) ([]string, error)
	// StoredInstances returns the instance and execution rows of the
	// given instances (absent: no row).
	StoredInstances(ctx context.Context, instanceIDs []string) (map[string]*chwrite.StoredInstance, error)
	// DeleteInstances deletes the instance and execution rows of the
	// given instances and returns once readers no longer see them.
	DeleteInstances(ctx context.Context, instanceIDs []string) error
}

const (
	// maxSuspectsPerSample bounds the suspects kept, in samples: when the
	// rows of that many instances are behind, the projector is behind, and
	// its health (lag, stall) says so better.
	maxSuspectsPerSample = 4
	// driftRepairTimeout bounds a repair, which is finished even when the
	// pipeline stops meanwhile (an instance deleted but not rewritten
	// would wait for the next check).
	driftRepairTimeout = 30 * time.Second
)

// driftChecker is the drift self-check's state; it runs on one goroutine.
type driftChecker struct {
	p *Projector
	// cursor is the last id of the previous sample ("" = start over).
	cursor string
	// suspects are the instances found behind their history, with the
	// history's version then and when.
	suspects map[string]suspect
	// recheck are the instances repaired in the previous round.
	recheck []string
	// unwritten are instances whose rows were deleted by a repair that
	// could not rewrite them: missing rows are drift for them at once.
	unwritten map[string]bool
}

type suspect struct {
	version uint64
	since   time.Time
}

func newDriftChecker(p *Projector) *driftChecker {
	return &driftChecker{p: p, suspects: map[string]suspect{}, unwritten: map[string]bool{}}
}

// run checks a sample every DriftInterval until ctx ends. A store error
// ends the round (the next one tries again), except ErrPermanent, which it
// returns.
func (c *driftChecker) run(ctx context.Context) error {
	t := time.NewTicker(c.p.cfg.DriftInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			err := c.round(ctx, now)
			switch {
			case err == nil:
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, ErrPermanent):
				return fmt.Errorf("drift check: %w", err)
			default:
				c.p.stats.StoreErrors.Add(1)
				c.p.log.Warn().Err(err).Msg("drift check failed; the next round tries again")
			}
		}
	}
}

// round checks the instances repaired last round, the suspects and a new
// sample, and repairs what drifted.
func (c *driftChecker) round(ctx context.Context, now time.Time) error {
	n := c.p.cfg.DriftSample
	sample, err := c.p.cfg.Drift.SampleInstanceIDs(ctx, c.cursor, n)
	if err != nil {
		return err
	}
	if len(sample) < n {
		c.cursor = ""
	} else {
		c.cursor = sample[len(sample)-1]
	}
	seen := map[string]bool{}
	var ids []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, id := range c.recheck {
		add(id)
	}
	for id := range c.suspects {
		add(id)
	}
	for id := range c.unwritten {
		add(id)
	}
	for _, id := range sample {
		if c.p.owns(id) {
			add(id)
		}
	}
	c.recheck = nil
	if len(ids) == 0 {
		return nil
	}
	return c.check(ctx, ids, now)
}

// check compares the given instances with their history and repairs those
// that drifted.
func (c *driftChecker) check(ctx context.Context, ids []string, now time.Time) error {
	// The rows first, then the history: see driftcompare.go.
	stored, err := c.p.cfg.Drift.StoredInstances(ctx, ids)
	if err != nil {
		return err
	}
	derived, err := c.deriveStored(ctx, ids)
	if err != nil {
		return err
	}
	var rewrite, conflicts []string
	cutoff, retained := c.p.cfg.Retention.managementCutoff()
	for _, id := range ids {
		d := derived[id]
		if retained && expiredByRetention(d, stored[id], cutoff) {
			// The retention drops its months one table at a time; what
			// is left of it is no drift, and no answer shows it.
			delete(c.suspects, id)
			continue
		}
		c.p.stats.DriftChecked.Add(1)
		res := compareDrift(d, stored[id])
		switch res.verdict {
		case inStep:
			delete(c.suspects, id)
			delete(c.unwritten, id)
			continue
		case behind:
			s, ok := c.suspects[id]
			switch {
			case c.unwritten[id]:
				res.why += " (deleted by an unfinished repair)"
			case !ok || s.version != d.Version:
				if ok || len(c.suspects) < maxSuspectsPerSample*c.p.cfg.DriftSample {
					c.suspects[id] = suspect{version: d.Version, since: now}
				}
				continue
			case now.Sub(s.since) < c.p.cfg.DriftGrace:
				continue
			default:
				res.why += fmt.Sprintf(" for %s", now.Sub(s.since).Round(time.Second))
			}
			rewrite = append(rewrite, id)
		case drifted:
			conflicts = append(conflicts, id)
		}
		delete(c.suspects, id)
		c.p.stats.DriftFound.Add(1)
		c.p.log.Warn().Str("instance", id).Str("drift", res.why).Msg("drift: the read model differs from the instance's stored history; repairing")
	}
	if len(rewrite)+len(conflicts) == 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), driftRepairTimeout)
	defer cancel()
	return c.repair(rctx, rewrite, conflicts, derived)
}

// deriveStored derives the rows of ids from their stored history and
// notices; an instance with neither has no entry.
func (c *driftChecker) deriveStored(ctx context.Context, ids []string) (map[string]*projection.Rows, error) {
	hist, err := c.p.cfg.Store.LoadHistories(ctx, ids)
	if err != nil {
		return nil, err
	}
	notices, err := c.p.cfg.Store.LoadNotices(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*projection.Rows, len(ids))
	for _, id := range ids {
		if len(hist[id]) == 0 && len(notices[id]) == 0 {
			continue
		}
		r, err := projection.Derive(hist[id], notices[id]...)
		if err != nil {
			return nil, fmt.Errorf("derive %q: %w", id, err)
		}
		out[id] = &r
	}
	return out, nil
}

// repair rewrites the rows of rewrite from their derivation, and deletes
// the rows of conflicts, then rewrites them from the history read after the
// deletion. Store errors are retried until ctx ends; rows the store refuses
// are logged and left.
func (c *driftChecker) repair(ctx context.Context, rewrite, conflicts []string, derived map[string]*projection.Rows) error {
	rows := make([]projection.Rows, 0, len(rewrite)+len(conflicts))
	for _, id := range rewrite {
		rows = append(rows, *derived[id])
	}
	noTouch := func() {}
	var deletedOnly []string
	if len(conflicts) > 0 {
		if err := c.p.retryLoop(ctx, noTouch, "drift repair: delete rows", func() error {
			return c.p.cfg.Drift.DeleteInstances(ctx, conflicts)
		}, false); err != nil {
			for _, id := range conflicts {
				c.unwritten[id] = true
			}
			return err
		}
		for _, id := range conflicts {
			c.unwritten[id] = true
		}
		var again map[string]*projection.Rows
		if err := c.p.retryLoop(ctx, noTouch, "drift repair: load histories", func() error {
			var err error
			again, err = c.deriveStored(ctx, conflicts)
			return err
		}, false); err != nil {
			return err
		}
		for _, id := range conflicts {
			if r := again[id]; r != nil {
				rows = append(rows, *r)
			} else {
				deletedOnly = append(deletedOnly, id) // rows without history: deleting them was the repair
			}
		}
	}
	var cells recount.Cells
	err := c.p.retryLoop(ctx, noTouch, "drift repair: write rows", func() error {
		got, err := c.p.cfg.Store.WriteRows(ctx, rows)
		cells.Add(got)
		return err
	}, true)
	if r := (*refusal)(nil); errors.As(err, &r) {
		for _, row := range rows {
			c.p.log.Error().Err(r.err).Str("instance", row.Instance.InstanceID).Msg("drift repair: the read model refused the rewritten rows")
		}
		return nil
	}
	if err != nil {
		return err
	}
	if cells.Len() > 0 {
		if err := c.p.retryLoop(ctx, noTouch, "drift repair: record report cells", func() error {
			return c.p.recordCells(ctx, cells)
		}, false); err != nil {
			return err
		}
	}
	for _, r := range rows {
		c.repaired(r.Instance.InstanceID)
		c.p.log.Info().Str("instance", r.Instance.InstanceID).Uint64("version", r.Version).Msg("drift repaired: rows rewritten from the stored history")
	}
	for _, id := range deletedOnly {
		c.repaired(id)
		c.p.log.Info().Str("instance", id).Msg("drift repaired: rows without history deleted")
	}
	return nil
}

// repaired records a finished repair.
func (c *driftChecker) repaired(id string) {
	delete(c.unwritten, id)
	c.recheck = append(c.recheck, id)
	c.p.stats.DriftRepaired.Add(1)
}
