// Package changes is the live change feed behind GET /v1/instances/changes
// (API.md "Additions"): one Hub per query service follows the history
// stream with an ordered consumer, learns which instance changed at which
// stream sequence, waits until the projection watermark has passed it (as
// min_seq does), resolves the current answers of a batch of changed
// instances with one read-model call shared by every subscriber, and hands
// each subscriber the changes its filter matches. A subscriber's queue is
// bounded: one that does not keep up is cut off with the reason; the hub
// never waits for it.
package changes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/query"
)

// Lookup resolves a batch of changed instances (query.InstanceReader's
// Instances, and ActivityTags for subscribers filtering by activity_tag).
type Lookup interface {
	Instances(ctx context.Context, ids []string) ([]api.InstanceSummary, error)
	ActivityTags(ctx context.Context, ids []string) (map[string][]string, error)
}

// Watermark gives the projection watermark (watermark.Source, cached).
type Watermark interface {
	Watermark(ctx context.Context) (api.Watermark, error)
}

// Config configures a Hub. JetStream, Stream, Watermark and Lookup are
// required; every other zero value takes the default named.
type Config struct {
	JetStream jetstream.JetStream
	Stream    string
	Watermark Watermark
	Lookup    Lookup
	// Remember is how many stream messages the hub remembers (which
	// instance changed at which sequence) for subscribers that resume with
	// Last-Event-ID; older resumes get a reset. It also bounds the messages
	// read ahead of the projection. Default 65536.
	Remember int
	// BatchSize is the most instances resolved with one lookup (default
	// 1000).
	BatchSize int
	// ClientBuffer is the most events queued for one subscriber; one more
	// cuts it off (default 4096, at least BatchSize).
	ClientBuffer int
	// Poll is how often the watermark is looked at while changes wait for
	// the projection (default 100ms; the watermark source caches it, so
	// this costs one JetStream request per its TTL at most).
	Poll time.Duration
	// MaxReplays bounds the resumes resolved at once (default 4).
	MaxReplays int
	Logger     zerolog.Logger
}

// Hub is the shared change feed; it implements query.ChangeFeed.
type Hub struct {
	cfg     Config
	replays chan struct{}

	mu        sync.Mutex
	following bool
	subs      map[*subscription]struct{}
	ring      ring   // the changes emitted, newest last
	floor     uint64 // every change after floor, up to emitted, is in ring
	emitted   uint64 // every change up to it has been handed out
	pending   atomic.Int64

	cutOff, resets, sent, lookups atomic.Uint64
}

var _ query.ChangeFeed = (*Hub)(nil)

// entry is one message of the stream: which instance, at which sequence.
type entry struct {
	seq uint64
	id  string
	// deletedAt is set (epoch ms) for an InstanceDeleted notice.
	deletedAt *int64
	// gap: the messages before seq (after the previous entry) were removed
	// from the stream before the hub read them; id is empty.
	gap bool
}

// New returns a Hub; Run makes it follow the stream.
func New(cfg Config) (*Hub, error) {
	if cfg.JetStream == nil || cfg.Stream == "" || cfg.Watermark == nil || cfg.Lookup == nil {
		return nil, errors.New("changes: JetStream, Stream, Watermark and Lookup are required")
	}
	if cfg.Remember <= 0 {
		cfg.Remember = 65536
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.ClientBuffer <= 0 {
		cfg.ClientBuffer = 4096
	}
	cfg.ClientBuffer = max(cfg.ClientBuffer, cfg.BatchSize)
	if cfg.Poll <= 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	if cfg.MaxReplays <= 0 {
		cfg.MaxReplays = 4
	}
	return &Hub{cfg: cfg, replays: make(chan struct{}, cfg.MaxReplays), subs: map[*subscription]struct{}{},
		ring: newRing(cfg.Remember)}, nil
}

// Run follows the stream until ctx ends (nil) or a read fails for a
// reason no retry cures (a defect: the error). NATS and ClickHouse outages
// are waited out; meanwhile the subscribers wait, and new ones are refused
// (query.ErrUnavailable) until the hub follows the stream. When Run returns,
// every subscription is cut off.
func (h *Hub) Run(ctx context.Context) error {
	defer h.stop("the change feed stopped")
	in := make(chan entry, 1024)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.follow(gctx, in) })
	g.Go(func() error { return h.emit(gctx, in) })
	return g.Wait()
}

// follow reads the stream with an ordered consumer into in, from where it
// stopped; (re)starting it is retried with a bounded backoff.
func (h *Hub) follow(ctx context.Context, in chan<- entry) error {
	var next uint64 // 0: not started
	backoff := 100 * time.Millisecond
	for {
		err := h.followOnce(ctx, &next, in)
		h.setFollowing(false)
		if ctx.Err() != nil {
			return nil
		}
		h.cfg.Logger.Warn().Err(err).Dur("retry_in", backoff).Msg("change feed: following the history stream failed; retrying")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (h *Hub) followOnce(ctx context.Context, next *uint64, in chan<- entry) error {
	st, err := h.cfg.JetStream.Stream(ctx, h.cfg.Stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", h.cfg.Stream, err)
	}
	if *next == 0 {
		// Start with the last Remember messages, so that resumes from
		// before this process started are served too.
		last := st.CachedInfo().State.LastSeq
		*next = max(1, last+1-min(last, uint64(h.cfg.Remember)))
		h.mu.Lock()
		h.floor, h.emitted = *next-1, *next-1
		h.mu.Unlock()
	}
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: *next})
	if err != nil {
		return fmt.Errorf("stream %s: ordered consumer: %w", h.cfg.Stream, err)
	}
	it, err := c.Messages()
	if err != nil {
		return fmt.Errorf("stream %s: messages: %w", h.cfg.Stream, err)
	}
	defer it.Stop()
	h.setFollowing(true)
	h.cfg.Logger.Info().Uint64("from_seq", *next).Msg("change feed: following the history stream")
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("stream %s: next message: %w", h.cfg.Stream, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("stream %s: message metadata: %w", h.cfg.Stream, err)
		}
		seq := md.Sequence.Stream
		if seq < *next {
			continue // redelivered after a reset
		}
		var batch []entry
		if seq > *next {
			batch = append(batch, entry{seq: seq, gap: true})
		}
		*next = seq + 1
		m, err := events.DecodeMessage(msg.Data())
		if err != nil {
			continue // dead-lettered by the projector: no answer changes
		}
		e := entry{seq: seq, id: strings.Clone(m.InstanceID())}
		if m.IsNotice && m.Notice.Type == events.TypeInstanceDeleted {
			at := int64(m.Notice.TimestampMs)
			e.deletedAt = &at
		}
		for _, x := range append(batch, e) {
			select {
			case in <- x:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// emit hands out the changes the projection has passed, in stream order.
// It reads at most Remember entries ahead of the projection (then the
// stream waits: flow control, not memory).
func (h *Hub) emit(ctx context.Context, in <-chan entry) error {
	var pending []entry
	tick := time.NewTicker(h.cfg.Poll)
	defer tick.Stop()
	for {
		recv := in
		if len(pending) >= h.cfg.Remember {
			recv = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case e := <-recv:
			pending = append(pending, e)
			h.pending.Store(int64(len(pending)))
			continue
		case <-tick.C:
		}
		if len(pending) == 0 {
			continue
		}
		wm, err := h.cfg.Watermark.Watermark(ctx)
		if err != nil {
			h.cfg.Logger.Debug().Err(err).Msg("change feed: watermark unavailable")
			continue
		}
		through := wm.StreamLastSeq - wm.LagEvents
		n, _ := slices.BinarySearchFunc(pending, through+1, func(e entry, seq uint64) int { return cmpSeq(e.seq, seq) })
		if n == 0 {
			continue
		}
		if err := h.publish(ctx, pending[:n]); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		pending = append(pending[:0:0], pending[n:]...)
		h.pending.Store(int64(len(pending)))
	}
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// publish resolves and hands out entries (all projected), by batches of
// at most BatchSize instances.
func (h *Hub) publish(ctx context.Context, entries []entry) error {
	for len(entries) > 0 {
		if entries[0].gap {
			h.resetAll(entries[0].seq-1, "changes were removed from the history stream before the service read them; reload")
			entries = entries[1:]
			continue
		}
		n, ids := 0, map[string]bool{}
		for n < len(entries) && !entries[n].gap && (len(ids) < h.cfg.BatchSize || ids[entries[n].id]) {
			ids[entries[n].id] = true
			n++
		}
		if err := h.publishBatch(ctx, entries[:n]); err != nil {
			return err
		}
		entries = entries[n:]
	}
	return nil
}

func (h *Hub) publishBatch(ctx context.Context, batch []entry) error {
	h.mu.Lock()
	anyone, tagged := len(h.subs) > 0, false
	for s := range h.subs {
		tagged = tagged || s.filter.ActivityTag != ""
	}
	h.mu.Unlock()
	var evs []resolved
	if anyone {
		var err error
		if evs, err = h.resolve(ctx, batch, tagged); err != nil {
			return err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.deliver(s, evs)
	}
	for _, e := range batch {
		if old, evicted := h.ring.push(e); evicted {
			h.floor = old.seq
		}
	}
	h.emitted = batch[len(batch)-1].seq
	return nil
}

// change is one instance of a batch: its latest sequence, and its
// deletion when that is the latest notice.
type change struct {
	id        string
	seq       uint64
	deletedAt *int64
}

// collapse keeps each instance's latest entry, ordered by sequence.
func collapse(batch []entry) []change {
	at := map[string]int{}
	var out []change
	for _, e := range batch {
		i, ok := at[e.id]
		if !ok {
			at[e.id] = len(out)
			out = append(out, change{id: e.id})
			i = len(out) - 1
		}
		out[i].seq = e.seq
		if e.deletedAt != nil {
			out[i].deletedAt = e.deletedAt
		}
	}
	slices.SortFunc(out, func(a, b change) int { return cmpSeq(a.seq, b.seq) })
	return out
}

// resolve looks the batch's instances up (one call, and with tags one
// more for their activity tags; store outages are retried, anything else
// is a defect and returned) and makes their events, in stream order. An
// instance that is gone is Deleted when the batch deleted it, and left out
// otherwise (its events do not make an instance yet).
func (h *Hub) resolve(ctx context.Context, batch []entry, tags bool) ([]resolved, error) {
	chs := collapse(batch)
	ids := make([]string, len(chs))
	for i, c := range chs {
		ids[i] = c.id
	}
	sums, err := retry(ctx, h, ids, h.cfg.Lookup.Instances)
	if err != nil {
		return nil, err
	}
	var tagsOf map[string][]string
	if tags {
		if tagsOf, err = retry(ctx, h, ids, h.cfg.Lookup.ActivityTags); err != nil {
			return nil, err
		}
	}
	byID := make(map[string]*api.InstanceSummary, len(sums))
	for i := range sums {
		byID[sums[i].InstanceID] = &sums[i]
	}
	evs := make([]resolved, 0, len(chs))
	for _, c := range chs {
		ev := resolved{ChangeEvent: query.ChangeEvent{Seq: c.seq, Change: api.InstanceChange{InstanceID: c.id, Seq: c.seq}}}
		switch s := byID[c.id]; {
		case s != nil:
			ev.Change.Status, ev.Change.UpdatedAt = s.Status, s.UpdatedAt
			ev.summary, ev.tags = s, tagsOf[c.id]
		case c.deletedAt != nil:
			ev.Change.Status, ev.Change.UpdatedAt = api.StatusDeleted, api.Time(*c.deletedAt)
		default:
			continue
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// resolved is a change event with the answer it was made from (nil for a
// deletion) and the instance's activity tags (when a subscriber filters by
// one), for the subscribers' filters.
type resolved struct {
	query.ChangeEvent
	summary *api.InstanceSummary
	tags    []string
}

// matches applies f: a deleted instance's answer is gone, so only its id
// can be matched (instance_prefix); every other filter lets it through.
func (r *resolved) matches(f *query.ListFilter) bool {
	if r.summary == nil {
		return strings.HasPrefix(r.Change.InstanceID, f.InstancePrefix)
	}
	return f.Matches(r.summary) && (f.ActivityTag == "" || slices.Contains(r.tags, f.ActivityTag))
}

// retry calls look, waiting out store outages (query.ErrUnavailable) with
// a bounded backoff; any other error is a defect, returned.
func retry[T any](ctx context.Context, h *Hub, ids []string, look func(context.Context, []string) (T, error)) (T, error) {
	backoff := 100 * time.Millisecond
	for {
		h.lookups.Add(1)
		v, err := look(ctx, ids)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return v, ctx.Err()
		}
		if !errors.Is(err, query.ErrUnavailable) {
			return v, fmt.Errorf("change feed: looking up %d changed instances: %w", len(ids), err)
		}
		h.cfg.Logger.Warn().Err(err).Dur("retry_in", backoff).Msg("change feed: read model unavailable; retrying")
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
