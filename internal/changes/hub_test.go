package changes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/internal/watermark"
)

// projection stands in for the projector on a real JetStream: its durable
// consumer (named like the projector's, so the real watermark reads it)
// acks the messages the test says are projected, and the replay oracle
// over the acked events answers the lookups. It counts the lookups.
type projection struct {
	t    *testing.T
	cons jetstream.Consumer

	mu      sync.Mutex
	events  []events.Event
	lookups int
	asked   [][]string
}

func (p *projection) Instances(ctx context.Context, ids []string) ([]api.InstanceSummary, error) {
	p.mu.Lock()
	rm := oracle.NewReadModel(p.events, nil)
	p.lookups++
	p.asked = append(p.asked, ids)
	p.mu.Unlock()
	return rm.Instances(ctx, ids)
}

func (p *projection) ActivityTags(ctx context.Context, ids []string) (map[string][]string, error) {
	p.mu.Lock()
	rm := oracle.NewReadModel(p.events, nil)
	p.lookups++
	p.mu.Unlock()
	return rm.ActivityTags(ctx, ids)
}

// project acks the next n messages (their events become answers first).
func (p *projection) project(n int) {
	p.t.Helper()
	batch, err := p.cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		p.t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
		ev, err := events.Decode(m.Data())
		if err != nil {
			p.t.Fatal(err)
		}
		p.mu.Lock()
		p.events = append(p.events, ev)
		p.mu.Unlock()
	}
	if len(msgs) != n {
		p.t.Fatalf("fetched %d messages; want %d", len(msgs), n)
	}
	for _, m := range msgs {
		if err := m.DoubleAck(context.Background()); err != nil {
			p.t.Fatal(err)
		}
	}
}

func started(id string, ts int) []byte {
	return fmt.Appendf(nil, `{"event_id":1,"source_event_id":null,"instance_id":%q,"execution_id":1,"timestamp_ms":%d,"duroxide_version":"0.1.26","type":"OrchestrationStarted","name":"O","version":"1","input":"1","parent_instance":null,"parent_id":null}`, id, 1764105600000+ts)
}

func startHub(t *testing.T, mod func(*Config)) (*Hub, *projection, jetstream.JetStream) {
	t.Helper()
	n := testenv.StartNATS(t)
	ctx := context.Background()
	st, err := n.JS.CreateStream(ctx, jetstream.StreamConfig{Name: events.DefaultStream, Subjects: []string{events.StreamSubjects}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: events.ProjectorConsumerPrefix,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	p := &projection{t: t, cons: cons}
	wm, err := watermark.New(watermark.Config{JetStream: n.JS, Stream: events.DefaultStream, TTL: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{JetStream: n.JS, Stream: events.DefaultStream, Watermark: wm, Lookup: p, Poll: 5 * time.Millisecond,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !h.Metrics().Following; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not following")
		}
	}
	return h, p, n.JS
}

func publish(t *testing.T, js jetstream.JetStream, ids ...string) {
	t.Helper()
	for i, id := range ids {
		if _, err := js.Publish(context.Background(), events.Subject(id), started(id, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// take reads events until want of them arrived (or fails after 10 s).
func take(t *testing.T, s query.ChangeSubscription, want int) []query.ChangeEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []query.ChangeEvent
	for len(out) < want {
		evs, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), want, err)
		}
		out = append(out, evs...)
	}
	return out
}

// quiet checks that s gets nothing for a while.
func quiet(t *testing.T, s query.ChangeSubscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if evs, err := s.Next(ctx); err == nil {
		t.Fatalf("got %+v; want nothing yet", evs)
	}
}

// TestHubWaitsForTheProjection: nothing is sent before the projection
// acked it; then one lookup per batch serves every subscriber, each with
// its filter, in stream order.
func TestHubWaitsForTheProjection(t *testing.T) {
	h, p, js := startHub(t, nil)
	ctx := context.Background()
	all, err := h.Subscribe(ctx, query.ListFilter{}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	subs := []query.ChangeSubscription{all}
	for range 5 {
		s, err := h.Subscribe(ctx, query.ListFilter{InstancePrefix: "a-"}, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	publish(t, js, "a-1", "b-1", "a-2")
	quiet(t, all)
	p.project(2)
	evs := take(t, all, 2)
	if evs[0].Change.InstanceID != "a-1" || evs[1].Change.InstanceID != "b-1" || evs[0].Seq != 1 || evs[1].Seq != 2 ||
		evs[0].Change.Status != api.StatusRunning {
		t.Fatalf("events %+v", evs)
	}
	quiet(t, all) // a-2 is not projected yet
	p.project(1)
	if evs := take(t, all, 1); evs[0].Change.InstanceID != "a-2" || evs[0].Seq != 3 {
		t.Fatalf("events %+v", evs)
	}
	for _, s := range subs[1:] {
		evs := take(t, s, 2)
		if len(evs) != 2 || evs[0].Change.InstanceID != "a-1" || evs[1].Change.InstanceID != "a-2" {
			t.Fatalf("prefix a-: %+v", evs)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Three messages projected in two steps: two or three batches (the
	// first two acks may be seen apart), each looked up once for all six
	// subscribers.
	if p.lookups < 2 || p.lookups > 3 {
		t.Errorf("%d lookups for 3 messages projected in 2 steps and 6 subscribers; want 2 or 3", p.lookups)
	}
}

// TestHubCutsOffASlowSubscriber: a subscriber that does not take its
// events is cut off with the reason once its queue is full; the others go
// on, and the hub never waits.
func TestHubCutsOffASlowSubscriber(t *testing.T) {
	h, p, js := startHub(t, func(c *Config) { c.BatchSize, c.ClientBuffer = 4, 6 })
	ctx := context.Background()
	slow, _ := h.Subscribe(ctx, query.ListFilter{}, 0, false)
	fast, _ := h.Subscribe(ctx, query.ListFilter{}, 0, false)
	defer fast.Close()
	var ids []string
	for i := range 12 {
		ids = append(ids, fmt.Sprintf("i-%02d", i))
	}
	publish(t, js, ids...)
	got := 0
	for i := 0; i < 12; i += 3 {
		p.project(3)
		got += len(take(t, fast, 3))
	}
	if got != 12 {
		t.Errorf("fast subscriber: %d events; want 12", got)
	}
	_, err := slow.Next(ctx)
	if err == nil || !errors.Is(err, query.ErrCutOff) {
		t.Fatalf("slow subscriber: %v; want cut off", err)
	}
	if m := h.Metrics(); m.CutOff != 1 || m.Subscribers != 1 {
		t.Errorf("metrics %+v", m)
	}
}

// TestHubResume: Last-Event-ID replays the remembered changes after it
// (each instance once, at its latest sequence), then live; one older than
// what is remembered gets a reset.
func TestHubResume(t *testing.T) {
	h, p, js := startHub(t, func(c *Config) { c.Remember = 4 })
	ctx := context.Background()
	publish(t, js, "r-1", "r-2", "r-3", "r-1", "r-4", "r-5")
	p.project(6)
	for deadline := time.Now().Add(10 * time.Second); h.Metrics().Position < 6; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("position %+v", h.Metrics())
		}
	}
	s, err := h.Subscribe(ctx, query.ListFilter{}, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs := take(t, s, 3)
	if len(evs) != 3 || evs[0].Change.InstanceID != "r-1" || evs[0].Seq != 4 || evs[1].Change.InstanceID != "r-4" || evs[2].Seq != 6 {
		t.Fatalf("replay after 3: %+v", evs)
	}
	old, err := h.Subscribe(ctx, query.ListFilter{}, 1, true) // 2 is forgotten (Remember 4)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if evs := take(t, old, 1); evs[0].Reset == nil || evs[0].Seq != 6 {
		t.Fatalf("resume after a forgotten change: %+v; want a reset at 6", evs)
	}
	publish(t, js, "r-6")
	p.project(1)
	for _, sub := range []query.ChangeSubscription{s, old} {
		if evs := take(t, sub, 1); evs[0].Change.InstanceID != "r-6" || evs[0].Seq != 7 {
			t.Fatalf("live after resume: %+v", evs)
		}
	}
}

// TestHubActivityTag: a subscriber filtering by activity_tag gets the
// instances that scheduled an activity with that tag (looked up once per
// batch, only while someone filters by a tag).
func TestHubActivityTag(t *testing.T) {
	h, p, js := startHub(t, nil)
	ctx := context.Background()
	gpu, _ := h.Subscribe(ctx, query.ListFilter{ActivityTag: "gpu"}, 0, false)
	defer gpu.Close()
	publish(t, js, "t-1", "t-2")
	act := `{"event_id":2,"source_event_id":null,"instance_id":"t-2","execution_id":1,"timestamp_ms":1764105600100,"duroxide_version":"0.1.26","type":"ActivityScheduled","name":"Gen","input":"x","tag":"gpu"}`
	if _, err := js.Publish(ctx, events.Subject("t-2"), []byte(act)); err != nil {
		t.Fatal(err)
	}
	p.project(3)
	// t-2 once or twice (the projection may have written the tagged
	// activity before the watermark passed t-2's first event), t-1 never.
	evs := take(t, gpu, 1)
	for deadline := time.Now().Add(5 * time.Second); evs[len(evs)-1].Seq < 3 && time.Now().Before(deadline); {
		evs = append(evs, take(t, gpu, 1)...)
	}
	for _, ev := range evs {
		if ev.Change.InstanceID != "t-2" {
			t.Fatalf("activity_tag=gpu: %+v; want t-2 only", evs)
		}
	}
	if evs[len(evs)-1].Seq != 3 {
		t.Fatalf("activity_tag=gpu: %+v; want t-2 at its latest change, 3", evs)
	}
	quiet(t, gpu)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lookups == 0 || p.lookups%2 != 0 {
		t.Errorf("%d lookups; want two per batch (the summaries and the tags)", p.lookups)
	}
}

func TestRing(t *testing.T) {
	r := newRing(3)
	for i := uint64(1); i <= 5; i++ {
		old, evicted := r.push(entry{seq: i})
		if evicted != (i > 3) || (evicted && old.seq != i-3) {
			t.Fatalf("push %d: evicted %v %d", i, evicted, old.seq)
		}
	}
	if got := r.since(3); len(got) != 2 || got[0].seq != 4 || got[1].seq != 5 {
		t.Fatalf("since 3: %+v", got)
	}
	if got := r.since(0); len(got) != 3 || got[0].seq != 3 {
		t.Fatalf("since 0: %+v", got)
	}
	r.clear()
	if got := r.since(0); len(got) != 0 {
		t.Fatalf("after clear: %+v", got)
	}
}
