package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
)

// TestPartitionedByTheBroker (issue 15 item 2): a stream created untagged
// (as before the slot transform) holds the first third of a shuffled,
// duplicated workload; the projector's stream setup adds the transform and
// the rest is published tagged. Then 1, 2 and 4 partitioned projectors each
// project the whole stream into their own database: every set gives the
// same tables, and each partition receives the untagged messages (which it
// filters by discarding, as before) but only its own slots' tagged ones.
func TestPartitionedByTheBroker(t *testing.T) {
	evs := workload(16, 600)
	pub := shuffleDup(evs, 16, 300, 0.1)
	msgs := make([]gen.Message, len(pub))
	for i := range pub {
		msgs[i] = gen.Message{Event: &pub[i]}
	}
	n := testenv.StartNATS(t)
	ctx := context.Background()
	if _, err := n.JS.CreateStream(ctx, jetstream.StreamConfig{Name: events.DefaultStream, Subjects: []string{events.StreamSubjects}}); err != nil {
		t.Fatal(err)
	}
	// gen.Publish, unlike the tests' publish helpers, leaves the stream
	// as it is.
	legacy := len(msgs) / 3
	if _, err := gen.Publish(ctx, n.JS, slices.Values(msgs[:legacy]), gen.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := projector.EnsureStreams(ctx, n.JS, events.DefaultStream, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Publish(ctx, n.JS, slices.Values(msgs[legacy:]), gen.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := n.JS.Stream(ctx, events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	stored := st.CachedInfo().State.Msgs
	untagged := countSubjects(ctx, t, st, events.SubjectPrefix+"*")
	if untagged == 0 || untagged == stored {
		t.Fatalf("%d of %d stored messages untagged: want the first third", untagged, stored)
	}

	var want testenv.TableDigest
	for _, parts := range []int{1, 2, 4} {
		db := testenv.NewDatabase(t, fmt.Sprintf("bp%d", parts))
		var stops []func()
		var names []string
		for i := range parts {
			stops = append(stops, startProjector(t, n, db, func(c *projector.Config) { c.Partition, c.Partitions = i, parts }))
			names = append(names, projector.ConsumerName(i, parts))
		}
		projtest.WaitCaughtUp(t, n.JS, 3*time.Minute, names...)
		for _, stop := range stops {
			stop()
		}
		var delivered uint64
		for _, name := range names {
			c, err := n.JS.Consumer(ctx, events.DefaultStream, name)
			if err != nil {
				t.Fatal(err)
			}
			delivered += c.CachedInfo().Delivered.Consumer
		}
		// At least: every partition reads the untagged messages, and the
		// tagged ones once in all; redeliveries only add.
		least := uint64(parts)*untagged + (stored - untagged)
		t.Logf("%d partition(s): %d deliveries for %d stored messages (%d untagged): %.2f reads per message (%.2f without the untagged)",
			parts, delivered, stored, untagged, float64(delivered)/float64(stored), float64(delivered-uint64(parts)*untagged)/float64(stored-untagged))
		if delivered < least {
			t.Errorf("%d partitions: %d deliveries, fewer than the %d the stream holds for them", parts, delivered, least)
		}
		if parts > 1 && delivered >= uint64(parts)*stored {
			t.Errorf("%d partitions read %d messages: every partition read the whole stream (%d)", parts, delivered, stored)
		}
		got, err := db.Digest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = got
			continue
		}
		if diff := want.Diff(got); len(diff) > 0 {
			t.Fatalf("%d partitions differ from one:\n%s", parts, strings.Join(diff, "\n"))
		}
	}
}

// countSubjects counts the stored messages whose subject matches filter.
func countSubjects(ctx context.Context, t *testing.T, st jetstream.Stream, filter string) uint64 {
	t.Helper()
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}
