package projector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/recount"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// Unit tests of Run's lifecycle: a real (embedded) JetStream and memStore,
// an in-memory Store standing for ClickHouse, whose failures the tests
// choose. The real-infrastructure tests (internal/e2e, internal/reliability)
// run the same pipeline against ClickHouse.

// memStore is an in-memory Store. Its hooks, when set, decide the result of
// a write before it is applied (nil: it succeeds).
type memStore struct {
	mu      sync.Mutex
	history map[string][]events.Event // by instance
	rows    map[string]projection.Rows
	// writeHistory may fail a history write.
	writeHistory func(rows []chwrite.HistoryRow) error
}

func newMemStore() *memStore {
	return &memStore{history: map[string][]events.Event{}, rows: map[string]projection.Rows{}}
}

func (s *memStore) WriteHistory(_ context.Context, rows []chwrite.HistoryRow) error {
	s.mu.Lock()
	hook := s.writeHistory
	s.mu.Unlock()
	if hook != nil {
		if err := hook(rows); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		s.history[r.Event.InstanceID] = append(s.history[r.Event.InstanceID], *r.Event)
	}
	return nil
}

func (s *memStore) setWriteHistory(hook func(rows []chwrite.HistoryRow) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeHistory = hook
}

func (s *memStore) WriteRows(_ context.Context, rows []projection.Rows) (recount.Cells, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		if old, ok := s.rows[r.Instance.InstanceID]; !ok || old.Version <= r.Version {
			s.rows[r.Instance.InstanceID] = r
		}
	}
	return recount.Cells{}, nil
}

func (s *memStore) Recount(context.Context, recount.Cells) error { return nil }

func (s *memStore) WriteNotices(context.Context, []chwrite.NoticeRow) error { return nil }

func (s *memStore) LoadNotices(context.Context, []string) (map[string][]events.Notice, error) {
	return nil, nil
}

func (s *memStore) LoadHistories(_ context.Context, ids []string) (map[string][]events.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]events.Event, len(ids))
	for _, id := range ids {
		out[id] = append([]events.Event(nil), s.history[id]...)
	}
	return out, nil
}

func (s *memStore) ScanInstanceIDs(_ context.Context, fn func(id string) error) error {
	s.mu.Lock()
	ids := make([]string, 0, len(s.history))
	for id := range s.history {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) WriteQueueSnapshots(context.Context, []events.QueueSnapshot) error { return nil }

// versions is the Version of every instance's latest rows.
func (s *memStore) versions() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.rows))
	for id, r := range s.rows {
		out[id] = r.Version
	}
	return out
}

// pipelineEnv is a JetStream with the projector's streams and a published
// workload.
type pipelineEnv struct {
	n    *testenv.NATS
	evs  []events.Event
	last uint64 // the history stream's last sequence
}

func newPipelineEnv(t *testing.T, instances int) *pipelineEnv {
	t.Helper()
	n := testenv.StartNATS(t)
	ctx := context.Background()
	if err := EnsureStreams(ctx, n.JS, events.DefaultStream, 0); err != nil {
		t.Fatal(err)
	}
	e := &pipelineEnv{n: n}
	for h := range gen.Histories(gen.Config{Seed: 11, Instances: instances, SpreadMs: 3_600_000}) {
		e.evs = append(e.evs, h...)
	}
	e.publish(t)
	return e
}

// publish publishes the workload (again: the stream deduplicates).
func (e *pipelineEnv) publish(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	msgs := func(yield func(gen.Message) bool) {
		for i := range e.evs {
			if !yield(gen.Message{Event: &e.evs[i]}) {
				return
			}
		}
	}
	if _, err := gen.Publish(ctx, e.n.JS, msgs, gen.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := e.n.JS.Stream(ctx, events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.last = info.State.LastSeq
}

// ackFloor is the history consumer's ack floor (0 without the consumer).
func (e *pipelineEnv) ackFloor(t *testing.T) uint64 {
	t.Helper()
	c, err := e.n.JS.Consumer(context.Background(), events.DefaultStream, ConsumerName(0, 1))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.AckFloor.Stream
}

// waitAcked waits until the consumer acked every published message.
func (e *pipelineEnv) waitAcked(t *testing.T, done <-chan error) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); e.ackFloor(t) < e.last; time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("Run returned %v before the stream was projected", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ack floor %d, want %d", e.ackFloor(t), e.last)
		}
	}
}

// config is the tests' projector config: small batches, short timeouts.
func (e *pipelineEnv) config(t *testing.T, store Store) Config {
	return Config{
		JS: e.n.JS, NC: e.n.NC, Store: store,
		BatchSize: 500, FlushInterval: 10 * time.Millisecond, AckWait: 5 * time.Second,
		DrainTimeout: 5 * time.Second,
		Logger:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}
}

// wantDerived checks that store holds the rows of every instance derived
// from its whole history.
func (e *pipelineEnv) wantDerived(t *testing.T, store *memStore) {
	t.Helper()
	want, err := projection.DeriveAll(e.evs)
	if err != nil {
		t.Fatal(err)
	}
	got := store.versions()
	if len(got) != len(want) {
		t.Errorf("%d instances derived, want %d", len(got), len(want))
	}
	for _, r := range want {
		if got[r.Instance.InstanceID] != r.Version {
			t.Errorf("instance %s: version %d, want %d", r.Instance.InstanceID, got[r.Instance.InstanceID], r.Version)
		}
	}
}

// leakCheck creates p's consumers as Run will (the embedded server runs
// goroutines for each, which are not Run's), except the recounter's when
// the test made its own, then snapshots the goroutines running; the
// returned func fails the test if goroutines started since are still
// running (goleak retries while they wind down).
func (e *pipelineEnv) leakCheck(t *testing.T, p *Projector, recounter bool) func() {
	t.Helper()
	ctx := context.Background()
	if _, err := e.n.JS.CreateOrUpdateConsumer(ctx, p.cfg.Stream, p.historyConsumer(true)); err != nil {
		t.Fatal(err)
	}
	if recounter {
		if _, err := e.n.JS.CreateOrUpdateConsumer(ctx, RecountStream(p.cfg.Stream), recounterConsumer()); err != nil {
			t.Fatal(err)
		}
	}
	before := goleak.IgnoreCurrent()
	return func() {
		t.Helper()
		if err := goleak.Find(before); err != nil {
			t.Errorf("goroutines outlive Run: %v", err)
		}
	}
}

// start runs p.Run in a goroutine; its result arrives on the channel.
func start(ctx context.Context, p *Projector) <-chan error {
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return done
}

// waitRun waits for Run's result.
func waitRun(t *testing.T, done <-chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("Run did not return within %v", within)
		return nil
	}
}

// TestRunProjectsAndStopsCleanly: everything published is projected and
// acked; cancelling ctx then makes Run return nil with no goroutine left.
func TestRunProjectsAndStopsCleanly(t *testing.T) {
	e := newPipelineEnv(t, 40)
	store := newMemStore()
	p, err := New(e.config(t, store))
	if err != nil {
		t.Fatal(err)
	}
	leaks := e.leakCheck(t, p, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := start(ctx, p)
	e.waitAcked(t, done)
	if err := p.Health(time.Now()); err != nil {
		t.Errorf("Health while projecting: %v", err)
	}
	cancel()
	if err := waitRun(t, done, 10*time.Second); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	leaks()
	e.wantDerived(t, store)
	if got := p.stats.Projected.Load(); got != uint64(len(e.evs)) {
		t.Errorf("projected %d events, want %d", got, len(e.evs))
	}
}

// TestRunReturnsAPermanentStoreError: a store error wrapping ErrPermanent
// stops the pipeline: Run returns it (it used to log it and return nil),
// Health reports it, nothing is acked, and no goroutine outlives Run
// although ctx is never cancelled (the drain timer used to wait for ctx).
func TestRunReturnsAPermanentStoreError(t *testing.T) {
	e := newPipelineEnv(t, 10)
	store := newMemStore()
	calls := 0
	store.setWriteHistory(func([]chwrite.HistoryRow) error {
		calls++
		return fmt.Errorf("insert into history: table missing: %w", ErrPermanent)
	})
	p, err := New(e.config(t, store))
	if err != nil {
		t.Fatal(err)
	}
	leaks := e.leakCheck(t, p, true)
	err = waitRun(t, start(context.Background(), p), 10*time.Second)
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "table missing") {
		t.Fatalf("Run = %v, want the store's permanent error", err)
	}
	leaks()
	if calls != 1 {
		t.Errorf("the permanent error was tried %d times, want once", calls)
	}
	if h := p.Health(time.Now()); !errors.Is(h, ErrPermanent) || !strings.HasPrefix(h.Error(), "pipeline failed: ") {
		t.Errorf("Health = %v, want the failure", h)
	}
	if f := e.ackFloor(t); f != 0 {
		t.Errorf("ack floor %d after a failed write, want 0", f)
	}
}

// TestRunReturnsARecounterSetupError: when the recounter's consumer cannot
// be created, Run returns that error and leaves nothing running (the
// collector, already started, used to block forever handing over a batch).
func TestRunReturnsARecounterSetupError(t *testing.T) {
	e := newPipelineEnv(t, 10)
	ctx := context.Background()
	// A work-queue stream allows one unfiltered consumer: with another one
	// there, the recounter's cannot be created.
	if _, err := e.n.JS.CreateOrUpdateConsumer(ctx, RecountStream(events.DefaultStream), jetstream.ConsumerConfig{
		Durable: "squatter", AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	p, err := New(e.config(t, newMemStore()))
	if err != nil {
		t.Fatal(err)
	}
	leaks := e.leakCheck(t, p, false)
	err = waitRun(t, start(ctx, p), 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), RecounterConsumer) {
		t.Fatalf("Run = %v, want the recounter consumer's error", err)
	}
	leaks()
	if h := p.Health(time.Now()); h == nil {
		t.Error("Health is nil after a failed start")
	}
}

// TestRunFailsWhenItsConsumerIsDeleted: the pull ends for good when the
// consumer is deleted under a running pipeline; Run returns that (it used
// to stop collecting, drain and return nil: exit 0).
func TestRunFailsWhenItsConsumerIsDeleted(t *testing.T) {
	e := newPipelineEnv(t, 10)
	p, err := New(e.config(t, newMemStore()))
	if err != nil {
		t.Fatal(err)
	}
	leaks := e.leakCheck(t, p, true)
	done := start(context.Background(), p)
	e.waitAcked(t, done)
	if err := e.n.JS.DeleteConsumer(context.Background(), events.DefaultStream, ConsumerName(0, 1)); err != nil {
		t.Fatal(err)
	}
	err = waitRun(t, done, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "collect stage: pull from "+events.DefaultStream) {
		t.Fatalf("Run = %v, want the end of the pull", err)
	}
	leaks()
}

// TestHealthReportsAStall: while the store is unavailable the pipeline
// retries (Run does not fail) and Health turns unhealthy once no batch was
// acked for StallTimeout; it recovers when the store does.
func TestHealthReportsAStall(t *testing.T) {
	e := newPipelineEnv(t, 10)
	store := newMemStore()
	store.setWriteHistory(func([]chwrite.HistoryRow) error { return errors.New("dial tcp: connection refused") })
	cfg := e.config(t, store)
	cfg.StallTimeout = 300 * time.Millisecond
	cfg.Logger = zerolog.Nop()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	leaks := e.leakCheck(t, p, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := start(ctx, p)
	var h error
	for deadline := time.Now().Add(10 * time.Second); h == nil; time.Sleep(20 * time.Millisecond) {
		if h = p.Health(time.Now()); time.Now().After(deadline) {
			t.Fatal("Health stayed nil while the store was down")
		}
	}
	if !strings.Contains(h.Error(), "pipeline stalled: no batch acked for") {
		t.Errorf("Health = %v, want a stall", h)
	}
	store.setWriteHistory(nil)
	e.waitAcked(t, done)
	if h := p.Health(time.Now()); h != nil {
		t.Errorf("Health after the store came back: %v", h)
	}
	cancel()
	if err := waitRun(t, done, 10*time.Second); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	leaks()
	e.wantDerived(t, store)
}

// TestRunDrainTimeoutAbandonsCleanly: cancelled while the store is down,
// Run gives up the batch in flight after DrainTimeout, unacked, and
// returns nil with nothing left running.
func TestRunDrainTimeoutAbandonsCleanly(t *testing.T) {
	e := newPipelineEnv(t, 10)
	store := newMemStore()
	taken := make(chan struct{}, 1)
	store.setWriteHistory(func([]chwrite.HistoryRow) error {
		select {
		case taken <- struct{}{}:
		default:
		}
		return errors.New("dial tcp: connection refused")
	})
	cfg := e.config(t, store)
	cfg.DrainTimeout = 300 * time.Millisecond
	cfg.Logger = zerolog.Nop()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	leaks := e.leakCheck(t, p, true)
	ctx, cancel := context.WithCancel(context.Background())
	done := start(ctx, p)
	<-taken
	cancel()
	if err := waitRun(t, done, 10*time.Second); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	leaks()
	if f := e.ackFloor(t); f != 0 {
		t.Errorf("ack floor %d, want 0: the abandoned batch must be re-delivered", f)
	}
}

// TestRunDeadLettersRefusedEvents: the store refuses the history rows of
// one instance (ErrRefused); its events are isolated and dead-lettered with
// the store's reason, everything else is projected, and the pipeline goes
// on.
func TestRunDeadLettersRefusedEvents(t *testing.T) {
	e := newPipelineEnv(t, 20)
	poisoned := e.evs[0].InstanceID
	store := newMemStore()
	store.setWriteHistory(func(rows []chwrite.HistoryRow) error {
		for _, r := range rows {
			if r.Event.InstanceID == poisoned {
				return fmt.Errorf("value too large in %s: %w", poisoned, ErrRefused)
			}
		}
		return nil
	})
	p, err := New(e.config(t, store))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := start(ctx, p)
	e.waitAcked(t, done)
	var nPoisoned int
	var rest []events.Event
	for _, ev := range e.evs {
		if ev.InstanceID == poisoned {
			nPoisoned++
		} else {
			rest = append(rest, ev)
		}
	}
	if got := p.stats.Refused.Load(); got != uint64(nPoisoned) {
		t.Errorf("%d events refused, want %d", got, nPoisoned)
	}
	s, err := e.n.JS.Stream(ctx, events.DLQStream(events.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(nPoisoned) {
		t.Fatalf("%d dead letters, want %d", info.State.Msgs, nPoisoned)
	}
	m, err := s.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	if reason := m.Header.Get("Duroscope-Error"); !strings.Contains(reason, "value too large in "+poisoned) {
		t.Errorf("dead letter reason %q", reason)
	}
	cancel()
	if err := waitRun(t, done, 10*time.Second); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	e.evs = rest
	e.wantDerived(t, store)
}
