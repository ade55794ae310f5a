// Package watermark tells how far the read model is behind the history
// stream (GET /v1/watermark and the X-Projection-* headers of API.md).
//
// The projector consumes the stream with durable pull consumers named
// "duroscope-projector" (one projector) or "duroscope-projector-p<i>of<n>"
// (partitioned scale-out, where every partition consumer sees every message
// and acks those it does not own). A consumer's ack floor is the stream
// sequence up to which every message is acked, i.e. projected or
// dead-lettered; the read model is complete up to the lowest ack floor of
// those consumers.
package watermark

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
)

// ErrDisconnected is returned while the NATS connection is down.
var ErrDisconnected = errors.New("nats: not connected")

// Config configures a Source.
type Config struct {
	JetStream jetstream.JetStream
	Stream    string
	// ConsumerPrefix selects the projector's consumers (default
	// events.ProjectorConsumerPrefix).
	ConsumerPrefix string
	// TTL is how long a computed watermark is served before it is computed
	// again (default 200ms), so that per-request headers cost nothing.
	TTL time.Duration
	// ErrorTTL is how long a failed computation is served (default 1s), so
	// that an unresponsive NATS delays at most one request per ErrorTTL.
	ErrorTTL time.Duration
	// Timeout bounds one computation (default 1s).
	Timeout time.Duration
	// Connected reports whether the NATS connection is up; when it is not,
	// Watermark fails at once instead of waiting for request timeouts.
	// Optional.
	Connected func() bool
	// Now is the clock for the TTL (default time.Now).
	Now func() time.Time
}

// Source computes the watermark from JetStream and caches it.
type Source struct {
	cfg Config

	mu         sync.Mutex
	cur        *snapshot
	refreshing chan struct{} // non-nil while a computation runs; closed when done

	// The publish time of the floor message, remembered so that an
	// unchanged floor costs no message fetch.
	floorSeq  uint64
	floorTime *api.Time
}

type snapshot struct {
	wm    api.Watermark
	err   error
	until time.Time // served until then
}

// New returns a Source.
func New(cfg Config) (*Source, error) {
	if cfg.JetStream == nil {
		return nil, fmt.Errorf("watermark: no JetStream context")
	}
	if cfg.Stream == "" {
		return nil, fmt.Errorf("watermark: no stream name")
	}
	if cfg.ConsumerPrefix == "" {
		cfg.ConsumerPrefix = events.ProjectorConsumerPrefix
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 200 * time.Millisecond
	}
	if cfg.ErrorTTL <= 0 {
		cfg.ErrorTTL = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Source{cfg: cfg}, nil
}

// Watermark returns the current watermark, computed at most once per TTL.
// While a computation runs, other callers get the previous value at once
// (or, before there is one, wait for it); the caller that runs the
// computation waits for it (bounded by Timeout).
func (s *Source) Watermark(ctx context.Context) (api.Watermark, error) {
	s.mu.Lock()
	if c := s.cur; c != nil && s.cfg.Now().Before(c.until) {
		s.mu.Unlock()
		return c.wm, c.err
	}
	if wait := s.refreshing; wait != nil {
		if c := s.cur; c != nil {
			s.mu.Unlock()
			return c.wm, c.err
		}
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return api.Watermark{}, ctx.Err()
		}
		s.mu.Lock()
		c := s.cur
		s.mu.Unlock()
		return c.wm, c.err
	}
	done := make(chan struct{})
	s.refreshing = done
	s.mu.Unlock()

	// The result is shared with other requests: one caller going away must
	// not cancel it.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	wm, err := s.compute(cctx)
	cancel()

	ttl := s.cfg.TTL
	if err != nil && s.cfg.ErrorTTL > ttl {
		ttl = s.cfg.ErrorTTL
	}
	s.mu.Lock()
	s.cur = &snapshot{wm: wm, err: err, until: s.cfg.Now().Add(ttl)}
	s.refreshing = nil
	s.mu.Unlock()
	close(done)
	return wm, err
}

// Through is the stream sequence up to which the consumer has acked every
// message it will ever receive: the stream's last sequence when nothing is
// pending or unacknowledged, its ack floor otherwise. A consumer filtered
// on its partition's subjects never receives the other partitions'
// messages, so its ack floor alone stays below the stream's end even when
// it is through. last must have been read before ci: nothing stored up to
// it is then still to come for the consumer.
func Through(ci *jetstream.ConsumerInfo, last uint64) uint64 {
	if ci.NumPending == 0 && ci.NumAckPending == 0 {
		return max(last, ci.AckFloor.Stream)
	}
	return ci.AckFloor.Stream
}

// compute asks JetStream: stream_last_seq = the stream's last sequence;
// floor = the lowest Through of the projector's consumers (0 without any);
// lag = last − floor; projected_through = publish time of the message at the
// floor (null when the floor is 0 or that message is no longer stored).
func (s *Source) compute(ctx context.Context) (api.Watermark, error) {
	if s.cfg.Connected != nil && !s.cfg.Connected() {
		return api.Watermark{}, ErrDisconnected
	}
	st, err := s.cfg.JetStream.Stream(ctx, s.cfg.Stream)
	if err != nil {
		return api.Watermark{}, fmt.Errorf("stream %s info: %w", s.cfg.Stream, err)
	}
	last := st.CachedInfo().State.LastSeq
	var (
		floor uint64
		found bool
	)
	lister := st.ListConsumers(ctx)
	for ci := range lister.Info() {
		if !strings.HasPrefix(ci.Name, s.cfg.ConsumerPrefix) {
			continue
		}
		if f := Through(ci, last); !found || f < floor {
			floor = f
		}
		found = true
	}
	if err := lister.Err(); err != nil {
		return api.Watermark{}, fmt.Errorf("stream %s consumers: %w", s.cfg.Stream, err)
	}
	wm := api.Watermark{Stream: s.cfg.Stream, StreamLastSeq: last}
	if floor < last {
		wm.LagEvents = last - floor
	}
	if floor == 0 {
		return wm, nil
	}
	t, err := s.publishTime(ctx, st, floor)
	if err != nil {
		return api.Watermark{}, err
	}
	wm.ProjectedThrough = t
	return wm, nil
}

func (s *Source) publishTime(ctx context.Context, st jetstream.Stream, seq uint64) (*api.Time, error) {
	s.mu.Lock()
	if s.floorSeq == seq {
		t := s.floorTime
		s.mu.Unlock()
		return t, nil
	}
	s.mu.Unlock()
	var t *api.Time
	msg, err := st.GetMsg(ctx, seq)
	switch {
	case err == nil:
		pt := api.Time(msg.Time.UnixMilli())
		t = &pt
	case errors.Is(err, jetstream.ErrMsgNotFound):
		// Removed by the stream's limits or a purge: the time is unknown.
	default:
		return nil, fmt.Errorf("stream %s message %d: %w", s.cfg.Stream, seq, err)
	}
	s.mu.Lock()
	s.floorSeq, s.floorTime = seq, t
	s.mu.Unlock()
	return t, nil
}
