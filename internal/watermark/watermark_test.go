package watermark

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/natsembed"
)

type wmEnv struct {
	nc *nats.Conn
	js jetstream.JetStream
	st jetstream.Stream
}

// startJetStream runs an embedded JetStream server with the history stream.
func startJetStream(t *testing.T) *wmEnv {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "HIST", Subjects: []string{"duroxide.history.>"}})
	if err != nil {
		t.Fatal(err)
	}
	return &wmEnv{nc: nc, js: js, st: st}
}

func (e *wmEnv) publish(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := e.js.Publish(context.Background(), "duroxide.history.x", []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
}

// consume fetches n messages with a durable consumer and acks those for
// which ack(seq) is true.
func (e *wmEnv) consume(t *testing.T, name string, n int, ack func(seq uint64) bool) {
	t.Helper()
	ctx := context.Background()
	c, err := e.st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for m := range batch.Messages() {
		got++
		md, _ := m.Metadata()
		if ack(md.Sequence.Stream) {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got != n {
		t.Fatalf("consumer %s fetched %d messages, want %d", name, got, n)
	}
}

func (e *wmEnv) publishTime(t *testing.T, seq uint64) *api.Time {
	t.Helper()
	m, err := e.st.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	pt := api.Time(m.Time.UnixMilli())
	return &pt
}

// fakeClock is a manually advanced clock for the cache's TTL.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestWatermarkFromAckFloors(t *testing.T) {
	e := startJetStream(t)
	clock := &fakeClock{t: time.Unix(1000, 0)}
	src, err := New(Config{JetStream: e.js, Stream: "HIST", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	get := func() api.Watermark {
		t.Helper()
		clock.Advance(time.Second) // past the TTL: compute anew
		wm, err := src.Watermark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return wm
	}

	if wm := get(); wm != (api.Watermark{Stream: "HIST"}) {
		t.Errorf("empty stream: %+v", wm)
	}
	e.publish(t, 10)
	wm := get()
	if wm.StreamLastSeq != 10 || wm.LagEvents != 10 || wm.ProjectedThrough != nil {
		t.Errorf("no consumer: %+v; want last 10, lag 10, no time", wm)
	}

	// One projector: acks 1..4 and 6; the floor is 4.
	e.consume(t, "duroscope-projector", 6, func(seq uint64) bool { return seq != 5 })
	wm = get()
	if wm.StreamLastSeq != 10 || wm.LagEvents != 6 || wm.ProjectedThrough == nil || *wm.ProjectedThrough != *e.publishTime(t, 4) {
		t.Errorf("single projector: %+v; want last 10, lag 6, time of message 4", wm)
	}

	// Partitions: the slowest matching consumer sets the floor; a consumer
	// of someone else (floor 0) is ignored.
	e.consume(t, "duroscope-projector-p0of2", 8, func(uint64) bool { return true })
	e.consume(t, "duroscope-projector-p1of2", 3, func(uint64) bool { return true })
	e.consume(t, "audit", 1, func(uint64) bool { return false })
	wm = get()
	if wm.LagEvents != 7 || *wm.ProjectedThrough != *e.publishTime(t, 3) {
		t.Errorf("partitions: %+v; want lag 7, time of message 3", wm)
	}

	// Within the TTL the cached value is served even though it changed.
	e.publish(t, 5)
	wm2, err := src.Watermark(ctx)
	if err != nil || wm2 != wm {
		t.Errorf("within TTL: %+v, %v; want the cached %+v", wm2, err, wm)
	}
	wm = get()
	if wm.StreamLastSeq != 15 || wm.LagEvents != 12 {
		t.Errorf("after TTL: %+v; want last 15, lag 12", wm)
	}
}

func TestWatermarkErrors(t *testing.T) {
	e := startJetStream(t)
	ctx := context.Background()
	src, err := New(Config{JetStream: e.js, Stream: "NOPE"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Watermark(ctx); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("missing stream: %v", err)
	}
	up := false
	src, err = New(Config{JetStream: e.js, Stream: "HIST", Connected: func() bool { return up }, TTL: time.Nanosecond, ErrorTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := src.Watermark(ctx); !errors.Is(err, ErrDisconnected) || time.Since(start) > 100*time.Millisecond {
		t.Errorf("disconnected: %v after %v; want ErrDisconnected at once", err, time.Since(start))
	}
	up = true
	time.Sleep(time.Millisecond)
	if _, err := src.Watermark(ctx); err != nil {
		t.Errorf("connected again: %v", err)
	}
	for _, c := range []Config{{Stream: "X"}, {JetStream: e.js}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

// TestWatermarkConcurrent has many callers at once: one computation, the
// same answer for all (run with -race).
func TestWatermarkConcurrent(t *testing.T) {
	e := startJetStream(t)
	e.publish(t, 3)
	src, err := New(Config{JetStream: e.js, Stream: "HIST", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	res := make([]api.Watermark, 32)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wm, err := src.Watermark(context.Background())
			if err != nil {
				t.Error(err)
			}
			res[i] = wm
		}()
	}
	wg.Wait()
	for _, wm := range res {
		if wm.StreamLastSeq != 3 || wm.LagEvents != 3 {
			t.Errorf("concurrent caller got %+v", wm)
		}
	}
}

// TestWatermarkErrorTTL: a failure is served for ErrorTTL (longer than the
// TTL), so a broken NATS costs one attempt per ErrorTTL, not per request.
func TestWatermarkErrorTTL(t *testing.T) {
	e := startJetStream(t)
	clock := &fakeClock{t: time.Unix(1000, 0)}
	attempts := 0
	src, err := New(Config{JetStream: e.js, Stream: "HIST", Now: clock.Now,
		Connected: func() bool { attempts++; return false }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, step := range []struct {
		advance time.Duration
		want    int
	}{{0, 1}, {500 * time.Millisecond, 1}, {400 * time.Millisecond, 1}, {200 * time.Millisecond, 2}, {300 * time.Millisecond, 2}} {
		clock.Advance(step.advance)
		if _, err := src.Watermark(ctx); !errors.Is(err, ErrDisconnected) {
			t.Fatalf("Watermark: %v", err)
		}
		if attempts != step.want {
			t.Errorf("after +%v: %d attempts, want %d", step.advance, attempts, step.want)
		}
	}
}

// TestWatermarkFilteredConsumers: partitions filtered by the broker never
// receive each other's messages; one that has acked everything it will
// receive is through the stream's end although its ack floor is below it.
func TestWatermarkFilteredConsumers(t *testing.T) {
	e := startJetStream(t)
	ctx := context.Background()
	for i := range 6 {
		subject := "duroxide.history.0.a"
		if i%2 == 1 {
			subject = "duroxide.history.1.b"
		}
		if _, err := e.js.Publish(ctx, subject, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	clock := &fakeClock{t: time.Unix(1000, 0)}
	src, err := New(Config{JetStream: e.js, Stream: "HIST", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// consume fetches n messages and acks those ack(seq) accepts; it
	// returns the others.
	consume := func(name, filter string, n int, ack func(seq uint64) bool) []jetstream.Msg {
		t.Helper()
		c, err := e.st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: name, FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := c.Fetch(n, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var kept []jetstream.Msg
		for m := range batch.Messages() {
			md, _ := m.Metadata()
			if !ack(md.Sequence.Stream) {
				kept = append(kept, m)
			} else if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return kept
	}
	get := func() api.Watermark {
		t.Helper()
		clock.Advance(time.Second)
		wm, err := src.Watermark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return wm
	}
	consume("duroscope-projector-p0of2", "duroxide.history.0.*", 3, func(uint64) bool { return true })
	unacked := consume("duroscope-projector-p1of2", "duroxide.history.1.*", 3, func(seq uint64) bool { return seq != 6 })
	// p1's ack floor is 5: everything up to 5 is done for it (5 is p0's).
	if wm := get(); wm.LagEvents != 1 || *wm.ProjectedThrough != *e.publishTime(t, 5) {
		t.Errorf("p1 has not acked message 6: %+v; want lag 1, time of message 5", wm)
	}
	for _, m := range unacked {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if wm := get(); wm.LagEvents != 0 || wm.StreamLastSeq != 6 || *wm.ProjectedThrough != *e.publishTime(t, 6) {
		t.Errorf("both through: %+v; want lag 0, time of message 6", wm)
	}
}
