package changes

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// subscription is one subscriber's bounded queue.
type subscription struct {
	hub    *Hub
	filter query.ListFilter
	// after: changes at or before this sequence are not sent (a resume
	// ahead of this hub, e.g. from another replica).
	after uint64
	max   int
	wake  chan struct{} // capacity 1: something to take

	mu    sync.Mutex
	queue []query.ChangeEvent
	err   error // set once cut off
}

// Subscribe implements query.ChangeFeed.
func (h *Hub) Subscribe(ctx context.Context, f query.ListFilter, after uint64, resume bool) (query.ChangeSubscription, error) {
	var last uint64
	if resume {
		wm, err := h.cfg.Watermark.Watermark(ctx)
		if err != nil {
			return nil, fmt.Errorf("change feed: %w: watermark: %w", query.ErrUnavailable, err)
		}
		last = wm.StreamLastSeq
	}
	s := &subscription{hub: h, filter: f, max: h.cfg.ClientBuffer, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	if !h.following {
		h.mu.Unlock()
		return nil, fmt.Errorf("change feed: %w: not following the history stream yet", query.ErrUnavailable)
	}
	var (
		replay []entry
		reset  string
	)
	switch {
	case !resume:
	case after > h.emitted && after <= last:
		s.after = after // ahead of this hub: skip what the client has
	case after > h.emitted:
		reset = fmt.Sprintf("Last-Event-ID %d is past the history stream's end (%d): the stream was recreated; reload", after, last)
	case after < h.floor:
		reset = fmt.Sprintf("Last-Event-ID %d is older than the changes this service remembers (after %d); reload", after, h.floor)
	default:
		replay = h.ring.since(after)
	}
	if reset != "" {
		h.resets.Add(1)
		s.queue = append(s.queue, query.ChangeEvent{Reset: &api.ChangesReset{Reason: reset}, Seq: h.emitted})
		s.signal()
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	if len(replay) == 0 {
		return s, nil
	}
	if err := s.replay(ctx, replay); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// replay resolves the remembered changes after the client's Last-Event-ID
// (at most MaxReplays at once) and puts them before the live ones, which
// all come after them in the stream. More instances than the client's
// buffer make a reset instead.
func (s *subscription) replay(ctx context.Context, replay []entry) error {
	h := s.hub
	chs := collapse(replay)
	if len(chs) > s.max {
		h.resets.Add(1)
		s.prepend([]query.ChangeEvent{{Reset: &api.ChangesReset{Reason: fmt.Sprintf(
			"%d instances changed since Last-Event-ID %d, more than a subscriber's buffer (%d); reload", len(chs), replay[0].seq-1, s.max)},
			Seq: replay[len(replay)-1].seq}})
		return nil
	}
	select {
	case h.replays <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.replays }()
	var out []query.ChangeEvent
	for b := range slices.Chunk(chs, h.cfg.BatchSize) {
		batch := make([]entry, len(b))
		for i, c := range b {
			batch[i] = entry{seq: c.seq, id: c.id, deletedAt: c.deletedAt}
		}
		evs, err := h.resolve(ctx, batch, s.filter.ActivityTag != "")
		if err != nil {
			return err
		}
		for i := range evs {
			if evs[i].matches(&s.filter) {
				out = append(out, evs[i].ChangeEvent)
			}
		}
	}
	s.prepend(out)
	return nil
}

// deliver queues the events s's filter matches, or cuts s off when its
// queue would pass its bound. Called with h.mu held; never blocks.
func (h *Hub) deliver(s *subscription, evs []resolved) {
	var out []query.ChangeEvent
	for i := range evs {
		if evs[i].Seq > s.after && evs[i].matches(&s.filter) {
			out = append(out, evs[i].ChangeEvent)
		}
	}
	if len(out) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	if len(s.queue)+len(out) > s.max {
		s.err = fmt.Errorf("%w: slow consumer: %d events waiting, the bound is %d; reconnect with Last-Event-ID", query.ErrCutOff, len(s.queue)+len(out), s.max)
		s.queue = nil
		h.cutOff.Add(1)
		delete(h.subs, s)
		s.signal()
		return
	}
	h.sent.Add(uint64(len(out)))
	s.queue = append(s.queue, out...)
	s.signal()
}

// resetAll tells every subscriber that changes were missed; the feed goes
// on after seq. Called by the emitter.
func (h *Hub) resetAll(seq uint64, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring.clear()
	h.floor, h.emitted = seq, seq
	for s := range h.subs {
		h.resets.Add(1)
		s.mu.Lock()
		if s.err == nil {
			s.queue = append(s.queue, query.ChangeEvent{Reset: &api.ChangesReset{Reason: reason}, Seq: seq})
			s.signal()
		}
		s.mu.Unlock()
	}
}

// stop cuts every subscriber off (the hub is no longer running).
func (h *Hub) stop(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.following = false
	for s := range h.subs {
		s.mu.Lock()
		if s.err == nil {
			s.err = fmt.Errorf("%w: %s", query.ErrCutOff, reason)
			s.queue = nil
			s.signal()
		}
		s.mu.Unlock()
		delete(h.subs, s)
	}
}

func (h *Hub) setFollowing(on bool) {
	h.mu.Lock()
	h.following = on
	h.mu.Unlock()
}

func (s *subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscription) prepend(evs []query.ChangeEvent) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	s.queue = append(evs, s.queue...)
	s.hub.sent.Add(uint64(len(evs)))
	s.signal()
}

// Next implements query.ChangeSubscription.
func (s *subscription) Next(ctx context.Context) ([]query.ChangeEvent, error) {
	for {
		s.mu.Lock()
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return nil, err
		}
		if len(s.queue) > 0 {
			q := s.queue
			s.queue = nil
			s.mu.Unlock()
			return q, nil
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close implements query.ChangeSubscription.
func (s *subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
}

// Metrics implements query.ChangeFeed.
func (h *Hub) Metrics() query.ChangeFeedMetrics {
	h.mu.Lock()
	m := query.ChangeFeedMetrics{Following: h.following, Subscribers: len(h.subs), Position: h.emitted}
	h.mu.Unlock()
	m.Pending = uint64(h.pending.Load())
	m.CutOff, m.Resets, m.Sent, m.Lookups = h.cutOff.Load(), h.resets.Load(), h.sent.Load(), h.lookups.Load()
	return m
}
