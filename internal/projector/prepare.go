package projector

import (
	"context"
	"fmt"
	"time"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/projection"
)

// writeBatches is the writer stage: it prepares each batch collected and
// hands it to the finisher. Unbuffered, so at most one batch waits between
// them. It returns when in is closed, at prepare's first error, or when
// the finisher is gone (the finisher's error is then Run's).
func (p *Projector) writeBatches(ctx context.Context, in <-chan *batch, out chan<- *pending, finisherGone <-chan struct{}) error {
	for b := range in {
		p.health.taken(time.Now())
		pj, err := p.prepare(ctx, b)
		if err != nil {
			return err
		}
		select {
		case out <- pj:
		case <-finisherGone:
			return nil
		}
	}
	return nil
}

// pending is a batch between the two write stages: its history is written
// and its rows derived, not yet written; nothing is acked.
type pending struct {
	b                 *batch
	rows              []projection.Rows
	start             time.Time
	tHistory, tDerive time.Duration
}

// A batch is made durable in two steps, run as a pipeline (see run.go):
// prepare dead-letters its bad messages, writes its history and derives the
// rows of every instance it touched; finish writes those rows and only then
// acks the batch. prepare of the next batch overlaps finish of this one;
// the history of a batch may thus be written before the previous batch's
// rows, which changes nothing: until acked, a batch is re-delivered, and
// rows depend only on each instance's whole event set. Both retry store
// errors with bounded exponential backoff until they succeed or ctx ends;
// rows the store refuses (ErrRefused) are isolated and dead-lettered
// instead (isolate.go). The cache is touched only by prepare.
func (p *Projector) prepare(ctx context.Context, b *batch) (*pending, error) {
	pj := &pending{b: b, start: time.Now()}
	for _, bad := range b.bad {
		if err := p.retry(ctx, b, "dead-letter", func() error { return p.deadLetter(ctx, bad) }); err != nil {
			return nil, err
		}
	}
	if len(b.good) > 0 {
		t := time.Now()
		refused, err := p.isolate(ctx, b, "insert history", len(b.good), func(lo, hi int) error {
			return p.cfg.Store.WriteHistory(ctx, b.good[lo:hi])
		})
		if err != nil {
			return nil, err
		}
		if err := p.dropRefused(ctx, b, refused); err != nil {
			return nil, err
		}
		pj.tHistory = time.Since(t)
	}
	if len(b.notices) > 0 {
		// Notices are validated values of a fixed shape: the store has no
		// reason to refuse one, so a failure is unavailability, retried.
		if err := p.retry(ctx, b, "insert notices", func() error { return p.cfg.Store.WriteNotices(ctx, b.notices) }); err != nil {
			return nil, err
		}
	}
	if len(b.good) > 0 || len(b.notices) > 0 {
		t := time.Now()
		rows, err := p.derive(ctx, b)
		if err != nil {
			return nil, err
		}
		pj.rows = rows
		pj.tDerive = time.Since(t)
	}
	return pj, nil
}

// derive re-derives every instance the batch touched.
func (p *Projector) derive(ctx context.Context, b *batch) ([]projection.Rows, error) {
	p.forgetMu.Lock()
	for _, id := range p.toForget {
		p.cache.forget(id)
	}
	p.toForget = p.toForget[:0]
	p.forgetMu.Unlock()
	byInstance := make(map[string][]*events.Event, len(b.good)/4+1)
	for _, r := range b.good {
		byInstance[r.Event.InstanceID] = append(byInstance[r.Event.InstanceID], r.Event)
	}
	noticesOf := make(map[string][]events.Notice)
	for _, r := range b.notices {
		id := r.Notice.InstanceID
		noticesOf[id] = append(noticesOf[id], *r.Notice)
		if _, ok := byInstance[id]; !ok {
			byInstance[id] = nil
		}
	}
	var toLoad []string
	loadedNow := make(map[string]bool)
	for id := range byInstance {
		if _, ok := p.cache.get(id); !ok && p.known.MayContain(id) {
			toLoad = append(toLoad, id)
			loadedNow[id] = true
		}
	}
	if len(toLoad) > 0 {
		var loaded map[string][]events.Event
		err := p.retry(ctx, b, "load histories", func() error {
			var err error
			loaded, err = p.cfg.Store.LoadHistories(ctx, toLoad)
			return err
		})
		if err != nil {
			return nil, err
		}
		var loadedNotices map[string][]events.Notice
		err = p.retry(ctx, b, "load notices", func() error {
			var err error
			loadedNotices, err = p.cfg.Store.LoadNotices(ctx, toLoad)
			return err
		})
		if err != nil {
			return nil, err
		}
		p.stats.Loaded.Add(uint64(len(toLoad)))
		for _, id := range toLoad {
			ci := p.cache.put(id)
			for _, e := range loaded[id] {
				p.cache.add(ci, e)
			}
			for _, n := range loadedNotices[id] {
				p.cache.addNotice(ci, n)
			}
		}
	}
	rows := make([]projection.Rows, 0, len(byInstance))
	var buf []events.Event
	for id, evs := range byInstance {
		ci, ok := p.cache.get(id)
		changed := false
		if !ok {
			ci = p.cache.put(id)
			changed = true
		}
		for _, e := range evs {
			if p.cache.add(ci, *e) {
				changed = true
			}
		}
		for _, n := range noticesOf[id] {
			if p.cache.addNotice(ci, n) {
				changed = true
			}
		}
		// Loaded instances were read after this batch's history insert, so
		// they may hold all of the batch already: derive them regardless.
		if !changed && !loadedNow[id] {
			continue // only duplicates of events already projected
		}
		buf = ci.history(buf)
		r, err := projection.Derive(buf, ci.notices...)
		if err != nil {
			return nil, fmt.Errorf("derive %q: %w", id, err)
		}
		rows = append(rows, r)
		p.known.Add(id)
	}
	keep := make(map[string]struct{}, len(byInstance))
	for id := range byInstance {
		keep[id] = struct{}{}
	}
	p.cache.evict(keep)
	p.cacheLen.Store(int64(p.cache.len()))
	return rows, nil
}

// forgetLater queues an instance to be dropped from the cache by prepare,
// which owns the cache (finish runs concurrently with it).
func (p *Projector) forgetLater(id string) {
	p.forgetMu.Lock()
	p.toForget = append(p.toForget, id)
	p.forgetMu.Unlock()
}
