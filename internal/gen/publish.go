package gen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"time"

	"github.com/duroscope/duroscope/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishOptions tunes Publish.
type PublishOptions struct {
	// MaxInFlight bounds the publishes awaiting their ack (default 4000,
	// which is also the JetStream context's default async limit; keep it at
	// or below the context's WithPublishAsyncMaxPending).
	MaxInFlight int
	// Rate limits the publishing to this many messages per second; 0 = as
	// fast as the server acknowledges.
	Rate float64
	// Realtime holds each message until the wall clock reaches its event's
	// timestamp (past events go at once): a live system's pace, for --loop.
	Realtime bool
	// AckTimeout bounds the wait for one ack (default 30s); a message whose
	// ack fails or times out is published again (same Nats-Msg-Id, so the
	// stream keeps one copy).
	AckTimeout time.Duration
	// Retries is how often one message is re-published before Publish gives
	// up (default 5).
	Retries int
	// Progress, when set, is called about every ProgressEvery (default 1s)
	// with the running totals.
	Progress      func(Stats)
	ProgressEvery time.Duration
}

// Stats are Publish's totals.
type Stats struct {
	// Published counts the messages the stream acknowledged (or, for
	// WriteJSONL, the lines written), duplicates included.
	Published int64
	// Duplicates counts the deliberate re-publications among them.
	Duplicates int64
	// Deduplicated counts acks that JetStream flagged as duplicates (same
	// Nats-Msg-Id within its window): not stored a second time.
	Deduplicated int64
	// Instances counts the instances whose first event was sent.
	Instances int64
	// Notices counts the source notices among the messages (duplicates
	// included).
	Notices int64
	// Bytes is the payload volume sent.
	Bytes int64
	// Retried counts re-publications after a failed or missing ack.
	Retried int64
	Elapsed time.Duration
}

// count adds m to the instance and notice counts.
func (s *Stats) count(m Message) {
	switch {
	case m.Notice != nil:
		s.Notices++
	case m.Copy == 0 && m.Event.ExecutionID == 1 && m.Event.Type == events.TypeOrchestrationStarted:
		s.Instances++
	}
}

// Rate is the achieved messages per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Published) / s.Elapsed.Seconds()
}

// EnsureStream returns the history stream, creating it as EVENTS.md says
// (subjects duroxide.history.>, file storage, no size limit of its own) when
// it does not exist yet.
func EnsureStream(ctx context.Context, js jetstream.JetStream, name string) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, name)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("look up stream %s: %w", name, err)
	}
	s, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     name,
		Subjects: []string{events.StreamSubjects},
		Storage:  jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.Stream(ctx, name) // someone (the projector) was faster
	}
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", name, err)
	}
	return s, nil
}

// Publish sends every message to JetStream with PublishMsgAsync, subject
// events.Subject(instance), header Nats-Msg-Id = Message.MsgID() and the
// event's Raw as payload. At most MaxInFlight publishes await their ack;
// Publish returns once all are acknowledged, or with the first message that
// could not be stored after Retries attempts.
func Publish(ctx context.Context, js jetstream.JetStream, msgs iter.Seq[Message], opts PublishOptions) (Stats, error) {
	p := newPublisher(js, opts)
	var err error
	for m := range msgs {
		if err = p.send(ctx, m); err != nil {
			break
		}
	}
	if err == nil {
		err = p.drain(ctx)
	}
	p.stats.Elapsed = time.Since(p.started)
	if p.opts.Progress != nil {
		p.opts.Progress(p.stats)
	}
	return p.stats, err
}

type inflight struct {
	fut   jetstream.PubAckFuture
	tries int
	dup   bool
	// due is when its ack is given up for: AckTimeout after the publish,
	// so that acks lost together (a server lost with thousands in flight)
	// expire together instead of one AckTimeout after another.
	due time.Time
}

type publisher struct {
	js      jetstream.JetStream
	opts    PublishOptions
	stats   Stats
	started time.Time
	// queue is a FIFO ring of unacknowledged publishes (acks arrive roughly
	// in publish order, so waiting on the oldest is cheap).
	queue      []inflight
	head, size int
	timer      *time.Timer
	sent       int64
	lastReport time.Time
}

func newPublisher(js jetstream.JetStream, opts PublishOptions) *publisher {
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 4000
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 30 * time.Second
	}
	if opts.Retries <= 0 {
		opts.Retries = 5
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = time.Second
	}
	now := time.Now()
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &publisher{js: js, opts: opts, started: now, lastReport: now,
		queue: make([]inflight, opts.MaxInFlight), timer: t}
}

func (p *publisher) send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.opts.Realtime {
		if d := time.Until(time.UnixMilli(int64(m.TimestampMs()))); d > 0 {
			if err := p.sleep(ctx, d); err != nil {
				return err
			}
		}
	}
	if p.opts.Rate > 0 {
		// Pace against the start so short stalls are caught up smoothly.
		due := p.started.Add(time.Duration(float64(p.sent) / p.opts.Rate * float64(time.Second)))
		if d := time.Until(due); d > time.Millisecond {
			if err := p.sleep(ctx, d); err != nil {
				return err
			}
		}
	}
	payload := m.Payload()
	msg := &nats.Msg{
		Subject: m.Subject(),
		Data:    payload,
		Header:  nats.Header{jetstream.MsgIDHeader: []string{m.MsgID()}},
	}
	if err := p.publish(ctx, inflight{tries: 1, dup: m.Copy > 0}, msg); err != nil {
		return err
	}
	p.sent++
	p.stats.Bytes += int64(len(payload))
	p.stats.count(m)
	// Checking the clock on every message would cost more than the rest
	// when publishing flat out; paced publishing can afford it.
	if p.opts.Progress != nil && (p.sent&127 == 0 || p.opts.Rate > 0 || p.opts.Realtime) {
		p.maybeReport()
	}
	return nil
}

func (p *publisher) maybeReport() {
	if now := time.Now(); now.Sub(p.lastReport) >= p.opts.ProgressEvery {
		p.lastReport = now
		p.stats.Elapsed = now.Sub(p.started)
		p.opts.Progress(p.stats)
	}
}

// sleep waits d, reporting progress meanwhile (a paced publisher can wait
// for minutes between events) and leaving early when ctx ends.
func (p *publisher) sleep(ctx context.Context, d time.Duration) error {
	until := time.Now().Add(d)
	for {
		left := time.Until(until)
		if left <= 0 {
			return nil
		}
		if p.opts.Progress != nil {
			left = min(left, p.opts.ProgressEvery)
		}
		t := time.NewTimer(left)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		if err := p.reap(ctx); err != nil {
			return err
		}
		if p.opts.Progress != nil {
			p.maybeReport()
		}
	}
}

// publish sends msg and queues its future, first making room in the queue.
func (p *publisher) publish(ctx context.Context, f inflight, msg *nats.Msg) error {
	for p.size >= len(p.queue) {
		if err := p.awaitOldest(ctx); err != nil {
			return err
		}
	}
	for {
		fut, err := p.js.PublishMsgAsync(msg)
		if err == nil {
			f.fut, f.due = fut, time.Now().Add(p.opts.AckTimeout)
			p.queue[(p.head+p.size)%len(p.queue)] = f
			p.size++
			return nil
		}
		// The context's own async limit is lower than ours: wait for acks.
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) && p.size > 0 {
			if err := p.awaitOldest(ctx); err != nil {
				return err
			}
			continue
		}
		return fmt.Errorf("publish %s (Nats-Msg-Id %s): %w", msg.Subject, msg.Header.Get(jetstream.MsgIDHeader), err)
	}
}

// awaitOldest waits for the oldest outstanding ack; a failed or missing ack
// re-publishes the message.
func (p *publisher) awaitOldest(ctx context.Context) error {
	f := p.pop()
	var ackErr error
	// An ack that is already there wins over an expired deadline.
	select {
	case ack := <-f.fut.Ok():
		p.acked(f, ack)
		return nil
	case ackErr = <-f.fut.Err():
		return p.retry(ctx, f, ackErr)
	default:
	}
	p.timer.Reset(max(time.Until(f.due), 0))
	select {
	case ack := <-f.fut.Ok():
		p.timer.Stop()
		p.acked(f, ack)
		return nil
	case ackErr = <-f.fut.Err():
		p.timer.Stop()
	case <-p.timer.C:
		ackErr = fmt.Errorf("no ack within %s", p.opts.AckTimeout)
	case <-ctx.Done():
		p.timer.Stop()
		return ctx.Err()
	}
	return p.retry(ctx, f, ackErr)
}

// reap takes in the acks that have already arrived, without waiting, so a
// slowly paced publisher's totals stay current.
func (p *publisher) reap(ctx context.Context) error {
	for p.size > 0 {
		f := p.queue[p.head]
		select {
		case ack := <-f.fut.Ok():
			p.pop()
			p.acked(f, ack)
		case err := <-f.fut.Err():
			p.pop()
			if err := p.retry(ctx, f, err); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

func (p *publisher) pop() inflight {
	f := p.queue[p.head]
	p.queue[p.head] = inflight{}
	p.head = (p.head + 1) % len(p.queue)
	p.size--
	return f
}

func (p *publisher) acked(f inflight, ack *jetstream.PubAck) {
	p.stats.Published++
	if f.dup {
		p.stats.Duplicates++
	}
	if ack != nil && ack.Duplicate {
		p.stats.Deduplicated++
	}
}

func (p *publisher) retry(ctx context.Context, f inflight, ackErr error) error {
	msg := f.fut.Msg()
	if f.tries >= p.opts.Retries {
		return fmt.Errorf("publish %s (Nats-Msg-Id %s) failed after %d attempts: %w",
			msg.Subject, msg.Header.Get(jetstream.MsgIDHeader), f.tries, ackErr)
	}
	p.stats.Retried++
	again := &nats.Msg{Subject: msg.Subject, Data: msg.Data, Header: msg.Header}
	return p.publish(ctx, inflight{tries: f.tries + 1, dup: f.dup}, again)
}

func (p *publisher) drain(ctx context.Context) error {
	for p.size > 0 {
		if err := p.awaitOldest(ctx); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSONL writes each message's payload as one line (duplicates
// included), for tests and offline replays.
func WriteJSONL(w io.Writer, msgs iter.Seq[Message]) (Stats, error) {
	start := time.Now()
	bw := bufio.NewWriterSize(w, 1<<16)
	var st Stats
	for m := range msgs {
		payload := m.Payload()
		if _, err := bw.Write(payload); err != nil {
			return st, fmt.Errorf("write event: %w", err)
		}
		if err := bw.WriteByte('\n'); err != nil {
			return st, fmt.Errorf("write event: %w", err)
		}
		st.Published++
		st.Bytes += int64(len(payload))
		if m.Copy > 0 {
			st.Duplicates++
		}
		st.count(m)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write events: %w", err)
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// QueueWalk simulates Duroxide's queue depths: mean-reverting random walks
// with occasional bursts, so the queue metrics move like a busy system's.
type QueueWalk struct {
	rng                 *rand.Rand
	orch, worker, timer float64
}

// NewQueueWalk starts a walk; the same seed gives the same sequence.
func NewQueueWalk(seed int64) *QueueWalk {
	return &QueueWalk{rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)), orch: 20, worker: 80, timer: 30}
}

// Next is the snapshot at nowMs.
func (q *QueueWalk) Next(nowMs int64) events.QueueSnapshot {
	step := func(v, mean, vol float64) float64 {
		v += 0.2*(mean-v) + vol*q.rng.NormFloat64()
		if q.rng.IntN(30) == 0 {
			v += mean * (2 + 4*q.rng.Float64()) // a burst of work
		}
		return math.Max(0, v)
	}
	q.orch = step(q.orch, 20, 6)
	q.worker = step(q.worker, 80, 20)
	q.timer = step(q.timer, 30, 5)
	return events.QueueSnapshot{
		OrchestratorQueue: uint64(q.orch + 0.5),
		WorkerQueue:       uint64(q.worker + 0.5),
		TimerQueue:        uint64(q.timer + 0.5),
		TimestampMs:       uint64(nowMs),
	}
}

// PublishQueueSnapshots publishes a snapshot of walk to core NATS subject
// duroxide.queues every interval until ctx ends (returning nil then), or
// until a publish fails.
func PublishQueueSnapshots(ctx context.Context, nc *nats.Conn, interval time.Duration, walk *QueueWalk) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		data, err := json.Marshal(walk.Next(time.Now().UnixMilli()))
		if err != nil {
			return fmt.Errorf("encode queue snapshot: %w", err)
		}
		if err := nc.Publish(events.QueueSubject, data); err != nil {
			return fmt.Errorf("publish queue snapshot: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
