package projector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/testenv"
)

// TestSlotIsTheServersPartition: the slot the projector computes for an
// instance is the one JetStream's subject transform writes into the stored
// subject, for ids that need escaping too. If they differed, an instance's
// messages would reach a partition that does not own it.
func TestSlotIsTheServersPartition(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := context.Background()
	if err := EnsureStreams(ctx, n.JS, events.DefaultStream, 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := HistorySlotted(ctx, n.JS, events.DefaultStream); err != nil || !ok {
		t.Fatalf("HistorySlotted = %v, %v; want the embedded server to tag slots", ok, err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	ids := []string{"order-1", "a.b c", "x%y", "order-7::sub::2", "ü/ñ", "*", ">"}
	for i := range 300 {
		var b strings.Builder
		for range 1 + rng.IntN(20) {
			b.WriteByte(byte(32 + rng.IntN(95)))
		}
		ids = append(ids, b.String(), "inst-"+strconv.Itoa(i))
	}
	st, err := n.JS.Stream(ctx, events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, id := range ids {
		ack, err := n.JS.Publish(ctx, events.Subject(id), []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.GetMsg(ctx, ack.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%s%d.%s", events.SubjectPrefix, Slot(id), events.SubjectToken(id))
		if m.Subject != want {
			t.Fatalf("instance %q stored as %s, want %s", id, m.Subject, want)
		}
		seen[Slot(id)] = true
	}
	if len(seen) < Slots/2 {
		t.Errorf("%d ids fell into only %d of %d slots", len(ids), len(seen), Slots)
	}
}

// TestPartitionFiltersCoverEverySlotOnce: for every n, the partitions'
// filters hold each slot exactly once, and owns agrees with them.
func TestPartitionFiltersCoverEverySlotOnce(t *testing.T) {
	for n := 1; n <= Slots; n++ {
		count := map[string]int{}
		for i := range n {
			f := partitionFilters(i, n)
			if f[0] != events.SubjectPrefix+"*" {
				t.Fatalf("%d/%d: first filter %s, want the untagged subjects", i, n, f[0])
			}
			for _, s := range f[1:] {
				count[s]++
				slot, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(s, events.SubjectPrefix), ".*"))
				if err != nil || slot%n != i {
					t.Fatalf("%d/%d: filter %s is not one of its slots", i, n, s)
				}
			}
		}
		if len(count) != Slots {
			t.Fatalf("n=%d: %d slots covered, want %d", n, len(count), Slots)
		}
		for s, c := range count {
			if c != 1 {
				t.Fatalf("n=%d: %s in %d partitions", n, s, c)
			}
		}
	}
	p := &Projector{cfg: Config{Partition: 1, Partitions: 3}}
	for _, id := range []string{"a", "b.c", "order-9"} {
		if p.owns(id) != (Slot(id)%3 == 1) {
			t.Errorf("owns(%q) disagrees with its slot %d", id, Slot(id))
		}
	}
}

// TestSlotTransformAddedToAnUntaggedStream: a stream created without the
// transform (an older version, another tool) gets it; messages stored
// before keep their subjects, new ones are tagged.
func TestSlotTransformAddedToAnUntaggedStream(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := context.Background()
	if _, err := n.JS.CreateStream(ctx, jetstream.StreamConfig{Name: events.DefaultStream, Subjects: []string{events.StreamSubjects}}); err != nil {
		t.Fatal(err)
	}
	old, err := n.JS.Publish(ctx, events.Subject("before"), []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureStreams(ctx, n.JS, events.DefaultStream, 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := HistorySlotted(ctx, n.JS, events.DefaultStream); err != nil || !ok {
		t.Fatalf("HistorySlotted after EnsureStreams = %v, %v", ok, err)
	}
	after, err := n.JS.Publish(ctx, events.Subject("after"), []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := n.JS.Stream(ctx, events.DefaultStream)
	for _, c := range []struct {
		seq  uint64
		want string
	}{{old.Sequence, events.Subject("before")}, {after.Sequence, fmt.Sprintf("%s%d.after", events.SubjectPrefix, Slot("after"))}} {
		m, err := st.GetMsg(ctx, c.seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != c.want {
			t.Errorf("message %d stored as %s, want %s", c.seq, m.Subject, c.want)
		}
	}
}

func TestPublishedSubject(t *testing.T) {
	for stored, want := range map[string]string{
		"duroxide.history.56.bad":          "duroxide.history.bad",
		"duroxide.history.0.a%2Eb":         "duroxide.history.a%2Eb",
		"duroxide.history.bad":             "duroxide.history.bad",  // untagged (stored before the transform)
		"duroxide.history.64.x":            "duroxide.history.64.x", // not a slot
		"duroxide.history.07.x":            "duroxide.history.07.x",
		"duroxide.history.1.x.y":           "duroxide.history.1.x.y",
		"duroxide.queues":                  "duroxide.queues",
		"duroxide.history.3.order-1::s::2": "duroxide.history.order-1::s::2",
	} {
		if got := publishedSubject(stored); got != want {
			t.Errorf("publishedSubject(%q) = %q, want %q", stored, got, want)
		}
	}
}
