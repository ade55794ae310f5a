package projector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// TestConsumerLagMetrics reads the lag gauges from a real JetStream stream
// and consumer: unacked messages counted, the oldest one's age measured,
// readings cached for lagMaxAge, and nothing but the error counter while
// the consumer does not exist.
func TestConsumerLagMetrics(t *testing.T) {
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "projlag")
	p, err := New(Config{JS: n.JS, Store: chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name})})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := EnsureStreams(ctx, n.JS, events.DefaultStream, 0); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var b strings.Builder
	p.writeLagMetrics(&b, now)
	if got := b.String(); !strings.Contains(got, "duroscope_projector_lag_errors_total 1\n") ||
		strings.Contains(got, "consumer_lag_events") {
		t.Fatalf("without a consumer:\n%s", got)
	}

	for i := range 10 {
		if _, err := n.JS.Publish(ctx, "duroxide.history.lag", []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := n.JS.CreateOrUpdateConsumer(ctx, events.DefaultStream, jetstream.ConsumerConfig{
		Durable: ConsumerName(0, 1), AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(4, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}

	later := now.Add(lagMaxAge + 30*time.Second) // the 5th message is at least 30 s old then
	r, _ := p.consumerLag(later)
	if r.err != nil || r.events != 6 || !r.hasSeconds || r.seconds < 30 || r.seconds > 120 {
		t.Fatalf("lag with 6 unacked: %+v", r)
	}
	b.Reset()
	p.writeLagMetrics(&b, later.Add(time.Millisecond)) // cached reading
	for _, want := range []string{"duroscope_projector_consumer_lag_events 6\n", "# TYPE duroscope_projector_consumer_lag_seconds gauge\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}

	batch, err = cons.Fetch(6, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := p.consumerLag(later.Add(time.Second)); r.events != 6 {
		t.Errorf("reading not cached for lagMaxAge: %+v", r)
	}
	if r, _ := p.consumerLag(later.Add(lagMaxAge)); r.err != nil || r.events != 0 || r.seconds != 0 || !r.hasSeconds {
		t.Errorf("lag after acking everything: %+v", r)
	}
	b.Reset()
	p.WriteMetrics(&b)
	if !strings.Contains(b.String(), "duroscope_projector_consumer_lag_events 0\n") ||
		!strings.Contains(b.String(), "duroscope_projector_report_cells_pending 0\n") {
		t.Errorf("WriteMetrics lacks the lag gauges:\n%s", b.String())
	}
}
