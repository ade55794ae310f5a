package gen

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duroscope/duroscope/events"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startJetStream runs an embedded NATS server with JetStream on a random
// port, storing in a temporary directory.
func startJetStream(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		t.Fatalf("new nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready within 10s")
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connectJS(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

func TestPublishIntegration(t *testing.T) {
	srv := startJetStream(t)
	_, js := connectJS(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	stream, err := EnsureStream(ctx, js, events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Storage != jetstream.FileStorage || !slices.Equal(info.Config.Subjects, []string{events.StreamSubjects}) {
		t.Fatalf("stream config %+v", info.Config)
	}
	if _, err := EnsureStream(ctx, js, events.DefaultStream); err != nil {
		t.Fatalf("EnsureStream on an existing stream: %v", err)
	}

	// Ids with characters that must be %-escaped in the subject.
	cfg := Config{Seed: 21, Instances: 300, SpreadMs: 60_000, RunningFraction: 0.1, UnknownTypeFraction: 0.05, IDPrefix: "t.1 "}
	var want []events.Event
	for h := range Histories(cfg) {
		want = append(want, h...)
	}
	msgs := Duplicate(Interleave(Histories(cfg), 0), 0.1, 100, rand.New(rand.NewPCG(1, 1)))
	var progress int
	st, err := Publish(ctx, js, msgs, PublishOptions{MaxInFlight: 256, Progress: func(Stats) { progress++ }})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if progress == 0 {
		t.Error("Progress never called")
	}
	if st.Published-st.Duplicates != int64(len(want)) || st.Duplicates == 0 || st.Deduplicated != 0 {
		t.Fatalf("stats %+v for %d events", st, len(want))
	}
	info, err = stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(st.Published) {
		t.Fatalf("stream holds %d messages, published %d (duplicates must reach the stream)", info.State.Msgs, st.Published)
	}

	// Read everything back: subject, header and payload of each message.
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[events.Key][]byte{}
	for _, e := range want {
		byKey[e.EventKey()] = e.Raw
	}
	ids := map[events.Key][]string{}
	for read := uint64(0); read < info.State.Msgs; {
		batch, err := cons.Fetch(int(min(500, info.State.Msgs-read)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			read++
			e, err := events.Decode(m.Data())
			if err != nil {
				t.Fatalf("stored payload does not decode: %v", err)
			}
			k := e.EventKey()
			raw, ok := byKey[k]
			if !ok || string(raw) != string(m.Data()) {
				t.Fatalf("stored payload of %v differs from the generated one", k)
			}
			if m.Subject() != events.Subject(e.InstanceID) {
				t.Fatalf("subject %q for instance %q", m.Subject(), e.InstanceID)
			}
			if strings.ContainsAny(strings.TrimPrefix(m.Subject(), events.SubjectPrefix), ". ") {
				t.Fatalf("subject %q is not a single escaped token", m.Subject())
			}
			ids[k] = append(ids[k], m.Headers().Get(jetstream.MsgIDHeader))
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	if len(ids) != len(want) {
		t.Fatalf("%d distinct events stored, want %d", len(ids), len(want))
	}
	dups := 0
	for k, got := range ids {
		base := events.MsgID(k.InstanceID, k.ExecutionID, k.EventID)
		slices.Sort(got)
		switch {
		case slices.Equal(got, []string{base}):
		case slices.Equal(got, []string{base, base + "/dup1"}):
			dups++
		default:
			t.Fatalf("Nats-Msg-Ids %q for %v", got, k)
		}
	}
	if int64(dups) != st.Duplicates {
		t.Fatalf("%d duplicated events stored, %d published", dups, st.Duplicates)
	}

	// Publishing the originals again within the duplicate window stores
	// nothing new: the Nats-Msg-Id is the event's identity.
	again, err := Publish(ctx, js, Flatten(Histories(cfg)), PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Deduplicated != int64(len(want)) {
		t.Fatalf("republish: %d deduplicated, want %d", again.Deduplicated, len(want))
	}
	info, err = stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(st.Published) {
		t.Fatalf("republish changed the stream: %d messages, want %d", info.State.Msgs, st.Published)
	}
}

func TestPublishRate(t *testing.T) {
	srv := startJetStream(t)
	_, js := connectJS(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := EnsureStream(ctx, js, "RATE"); err != nil {
		t.Fatal(err)
	}
	hs := collect(Config{Seed: 1, Instances: 20})
	var msgs []Message
	for m := range Flatten(slices.Values(hs)) {
		msgs = append(msgs, m)
		if len(msgs) == 200 {
			break
		}
	}
	start := time.Now()
	st, err := Publish(ctx, js, slices.Values(msgs), PublishOptions{Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// 200 messages at 1000/s take about 0.2s.
	if el := time.Since(start); el < 150*time.Millisecond || st.Published != 200 {
		t.Fatalf("published %d in %s at rate 1000/s", st.Published, el)
	}
}

func TestPublishNoStream(t *testing.T) {
	srv := startJetStream(t)
	_, js := connectJS(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hs := collect(Config{Seed: 1, Instances: 3})
	_, err := Publish(ctx, js, Flatten(slices.Values(hs)), PublishOptions{Retries: 2, AckTimeout: time.Second})
	if err == nil {
		t.Fatal("publishing without a stream succeeded")
	}
	if !strings.Contains(err.Error(), "Nats-Msg-Id") {
		t.Fatalf("error does not name the message: %v", err)
	}
}

func TestPublishCancelled(t *testing.T) {
	srv := startJetStream(t)
	_, js := connectJS(t, srv.ClientURL())
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := EnsureStream(ctx, js, events.DefaultStream); err != nil {
		t.Fatal(err)
	}
	n := 0
	msgs := func(yield func(Message) bool) {
		for m := range Flatten(Histories(Config{Seed: 1, Instances: 100000})) {
			n++
			if n == 1000 {
				cancel()
			}
			if !yield(m) {
				return
			}
		}
	}
	_, err := Publish(ctx, js, msgs, PublishOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if n > 1100 {
		t.Fatalf("kept generating after cancel: %d messages", n)
	}
}

func TestPublishQueueSnapshots(t *testing.T) {
	srv := startJetStream(t)
	nc, _ := connectJS(t, srv.ClientURL())
	sub, err := nc.SubscribeSync(events.QueueSubject)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- PublishQueueSnapshots(ctx, nc, 50*time.Millisecond, NewQueueWalk(1)) }()
	var last uint64
	for i := 0; i < 3; i++ {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		q, err := events.DecodeQueueSnapshot(m.Data)
		if err != nil {
			t.Fatalf("snapshot %s does not decode: %v", m.Data, err)
		}
		if q.TimestampMs < last || q.TimestampMs == 0 {
			t.Fatalf("snapshot timestamps %d after %d", q.TimestampMs, last)
		}
		last = q.TimestampMs
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
