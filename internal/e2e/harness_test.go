package e2e

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

const fixturesDir = "../../../shared/contract/fixtures"

// fixtureEvents decodes every fixture line, in file order.
func fixtureEvents(t testing.TB) []events.Event {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixturesDir, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixturesDir, err)
	}
	sort.Strings(files)
	var out []events.Event
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 2<<20)
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			e, err := events.Decode(line)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, e)
		}
		fh.Close()
	}
	return out
}

// workload returns a generated workload in a realistic publish order
// (instances interleaved by timestamp).
func workload(seed int64, instances int) []events.Event {
	var all []events.Event
	for h := range gen.Histories(gen.Config{Seed: seed, Instances: instances, StartMs: 1764105600000, SpreadMs: 3_600_000, RunningFraction: 0.15, UnknownTypeFraction: 0.02}) {
		all = append(all, h...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].TimestampMs < all[j].TimestampMs })
	return all
}

// shuffleDup reorders events within windows and appends re-published copies
// of a fraction of them at random later positions.
func shuffleDup(evs []events.Event, seed uint64, window int, dupFraction float64) []events.Event {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := append([]events.Event(nil), evs...)
	for lo := 0; lo < len(out); lo += window {
		hi := min(lo+window, len(out))
		rng.Shuffle(hi-lo, func(i, j int) { out[lo+i], out[lo+j] = out[lo+j], out[lo+i] })
	}
	n := int(float64(len(evs)) * dupFraction)
	for i := 0; i < n; i++ {
		e := evs[rng.IntN(len(evs))]
		pos := rng.IntN(len(out) + 1)
		out = append(out, events.Event{})
		copy(out[pos+1:], out[pos:])
		out[pos] = e
	}
	return out
}

// publish sends events to the history stream with their contract subject.
// Duplicates get no Nats-Msg-Id so the stream stores them and the projector
// really sees them again (as after the stream's duplicate window).
func publish(t testing.TB, js jetstream.JetStream, evs []events.Event) {
	publishOpts(t, js, evs, true)
}

// republish sends events again without Nats-Msg-Id, as a publisher retrying
// after the stream's duplicate window would.
func republish(t testing.TB, js jetstream.JetStream, evs []events.Event) {
	publishOpts(t, js, evs, false)
}

func publishOpts(t testing.TB, js jetstream.JetStream, evs []events.Event, msgIDs bool) {
	t.Helper()
	ctx := context.Background()
	if err := projector.EnsureStreams(ctx, js, events.DefaultStream, 0); err != nil {
		t.Fatal(err)
	}
	seen := make(map[events.Key]bool, len(evs))
	var futures []jetstream.PubAckFuture
	for i := range evs {
		e := &evs[i]
		m := nats.NewMsg(events.Subject(e.InstanceID))
		m.Data = e.Raw
		if k := e.EventKey(); msgIDs && !seen[k] {
			seen[k] = true
			m.Header.Set(nats.MsgIdHdr, events.MsgID(e.InstanceID, e.ExecutionID, e.EventID))
		}
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		futures = append(futures, f)
		if len(futures) >= 4000 {
			waitAcks(t, js, futures)
			futures = futures[:0]
		}
	}
	waitAcks(t, js, futures)
}

// publishMessages sends events and notices in the order given. The first
// copy of a message gets its Nats-Msg-Id (gen.Message.MsgID: a reused id's
// events carry the deletion's suffix); later copies get none, so the stream
// stores them and the projector sees them again.
func publishMessages(t testing.TB, js jetstream.JetStream, msgs []gen.Message) {
	t.Helper()
	ctx := context.Background()
	if err := projector.EnsureStreams(ctx, js, events.DefaultStream, 0); err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool, len(msgs))
	var futures []jetstream.PubAckFuture
	for _, gm := range msgs {
		m := nats.NewMsg(gm.Subject())
		m.Data = gm.Payload()
		if id := gm.MsgID(); gm.Copy == 0 && !seen[id] {
			seen[id] = true
			m.Header.Set(nats.MsgIdHdr, id)
		}
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		futures = append(futures, f)
		if len(futures) >= 4000 {
			waitAcks(t, js, futures)
			futures = futures[:0]
		}
	}
	waitAcks(t, js, futures)
}

func publishRaw(t testing.TB, js jetstream.JetStream, subject string, payloads [][]byte) {
	t.Helper()
	for _, p := range payloads {
		if _, err := js.Publish(context.Background(), subject, p); err != nil {
			t.Fatalf("publish raw: %v", err)
		}
	}
}

func waitAcks(t testing.TB, js jetstream.JetStream, fs []jetstream.PubAckFuture) {
	t.Helper()
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		t.Fatal("publish acks not received within 60s")
	}
	for _, f := range fs {
		select {
		case err := <-f.Err():
			t.Fatalf("publish: %v", err)
		default:
		}
	}
}

// startProjector runs an in-process projector until the test ends or the
// returned stop is called.
func startProjector(t testing.TB, n *testenv.NATS, db *testenv.Database, mod func(*projector.Config)) (stop func()) {
	t.Helper()
	cfg := projector.Config{
		JS:            n.JS,
		NC:            n.NC,
		Store:         chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name}),
		BatchSize:     5000,
		FlushInterval: 50 * time.Millisecond,
		AckWait:       5 * time.Second,
		Logger:        zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}
	if mod != nil {
		mod(&cfg)
	}
	return projtest.Start(t, cfg)
}
