package httpapi

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/natsembed"
	"github.com/duroscope/duroscope/internal/watermark"
)

func TestTakeMinSeq(t *testing.T) {
	for _, c := range []struct {
		raw, rest string
		seq       uint64
		present   bool
		bad       bool
	}{
		{"", "", 0, false, false},
		{"limit=5&x=%41", "limit=5&x=%41", 0, false, false},
		{"min_seq=7", "", 7, true, false},
		{"a=1&min_seq=18446744073709551615&b=%zz", "a=1&b=%zz", 18446744073709551615, true, false},
		{"min%5Fseq=3&a=1", "a=1", 3, true, false},
		{"min_seq=18446744073709551616", "", 0, false, true},
		{"min_seq=-1", "", 0, false, true},
		{"min_seq=abc", "", 0, false, true},
		{"min_seq=", "", 0, false, true},
		{"min_seq", "", 0, false, true},
		{"min_seq=1&min_seq=1", "", 0, false, true},
	} {
		rest, seq, present, e := takeMinSeq(c.raw)
		if (e != nil) != c.bad || rest != c.rest || seq != c.seq || present != c.present {
			t.Errorf("takeMinSeq(%q) = %q, %d, %v, %v; want %q, %d, %v, bad %v", c.raw, rest, seq, present, e, c.rest, c.seq, c.present, c.bad)
		}
	}
}

// TestMinSeq waits on a real watermark: an embedded JetStream whose history
// stream the projector's durable consumer acks part of.
func TestMinSeq(t *testing.T) {
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
	ctx := context.Background()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "HIST", Subjects: []string{"duroxide.history.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := js.Publish(ctx, "duroxide.history.x", fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: events.ProjectorConsumerPrefix,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(5, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != 5 {
		t.Fatalf("fetched %d messages; want 5", len(msgs))
	}
	for _, m := range msgs[:3] {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wm, err := watermark.New(watermark.Config{JetStream: js, Stream: "HIST", TTL: 20 * time.Millisecond, Connected: nc.IsConnected})
	if err != nil {
		t.Fatal(err)
	}
	m := newMem()
	m.add("a")
	serve := func(timeout time.Duration) func(target string) (int, string, time.Duration) {
		h := testHandler(m, func(c *Config) { c.Watermark = wm; c.Limits.MinSeqTimeout = timeout })
		return func(target string) (int, string, time.Duration) {
			start := time.Now()
			rec := do(h, "GET", target, nil)
			return rec.Code, rec.Header().Get("Retry-After"), time.Since(start)
		}
	}
	short := serve(300 * time.Millisecond)

	// Reached: answered at once, and the handler never sees min_seq.
	for _, target := range []string{"/v1/instances/a?min_seq=3", "/v1/instances/a?min_seq=0", "/v1/watermark?min_seq=1"} {
		if code, _, took := short(target); code != 200 || took > 250*time.Millisecond {
			t.Errorf("%s: %d after %v; want 200 at once", target, code, took)
		}
	}
	// Not reached in time: 503 with Retry-After, after the timeout.
	if code, ra, took := short("/v1/instances/a?min_seq=4"); code != 503 || ra == "" || took < 300*time.Millisecond {
		t.Errorf("min_seq=4 with 3 projected: %d (Retry-After %q) after %v; want 503 with Retry-After after 300ms", code, ra, took)
	}
	// Malformed: 400.
	for _, q := range []string{"min_seq=x", "min_seq=-1", "min_seq=1&min_seq=2"} {
		if code, _, _ := short("/v1/instances/a?" + q); code != 400 {
			t.Errorf("%s: %d; want 400", q, code)
		}
	}

	// Reached while waiting: the answer comes once the rest is acked.
	long := serve(10 * time.Second)
	go func() {
		time.Sleep(300 * time.Millisecond)
		for _, m := range msgs[3:] {
			if err := m.DoubleAck(ctx); err != nil {
				t.Error(err)
			}
		}
	}()
	if code, _, took := long("/v1/instances/a/tree?min_seq=5"); code != 200 || took < 250*time.Millisecond || took > 5*time.Second {
		t.Errorf("min_seq=5 acked after 300ms: %d after %v; want 200 after about 300ms", code, took)
	}
}
