package gen

import (
	"reflect"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/events"
)

// Without options WithNotices is Interleave: the same messages, in the
// same order.
func TestWithNoticesZeroIsInterleave(t *testing.T) {
	cfg := Config{Seed: 3, Instances: 500, SpreadMs: 600_000, RunningFraction: 0.1}
	var want, got []Message
	for m := range Interleave(Histories(cfg), 0) {
		want = append(want, m)
	}
	for m := range WithNotices(Histories(cfg), NoticeOptions{}) {
		got = append(got, m)
	}
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Notice != nil || got[i].Event.EventKey() != want[i].Event.EventKey() {
			t.Fatalf("message %d differs", i)
		}
	}
}

func TestWithNotices(t *testing.T) {
	cfg := Config{Seed: 5, Instances: 3000, SpreadMs: 3_600_000, RunningFraction: 0.2, UnknownTypeFraction: 0.2}
	opts := NoticeOptions{Seed: 9, DeleteFraction: 0.3, ReuseFraction: 0.3, RedeliverFraction: 0.3, PruneFraction: 0.5}
	var msgs []Message
	for m := range WithNotices(Histories(cfg), opts) {
		msgs = append(msgs, m)
	}
	var again []Message
	for m := range WithNotices(Histories(cfg), opts) {
		again = append(again, m)
	}
	if len(again) != len(msgs) {
		t.Fatal("not deterministic")
	}
	for i := range msgs {
		if msgs[i].MsgID() != again[i].MsgID() || !reflect.DeepEqual(msgs[i].Payload(), again[i].Payload()) {
			t.Fatalf("not deterministic at %d", i)
		}
	}

	deletedAt := map[string]uint64{} // latest deletion seen so far, per id
	lastEvent := map[string]uint64{}
	msgIDs := map[string]bool{}
	var deletions, prunes, reusedEvents, redelivered, cascaded int
	var prev uint64
	for i, m := range msgs {
		id := m.Subject()
		if m.Copy == 0 {
			if msgIDs[m.MsgID()] {
				t.Fatalf("message %d: Nats-Msg-Id %q used twice", i, m.MsgID())
			}
			msgIDs[m.MsgID()] = true
		}
		if m.Notice != nil {
			n := m.Notice
			back, err := events.DecodeNotice(m.Payload())
			if err != nil || !reflect.DeepEqual(back, *n) {
				t.Fatalf("notice %s does not decode back: %v", m.Payload(), err)
			}
			if n.TimestampMs < prev {
				t.Fatalf("notice %d at %d published after time %d", i, n.TimestampMs, prev)
			}
			prev = n.TimestampMs
			switch n.Type {
			case events.TypeInstanceDeleted:
				deletions++
				if n.TimestampMs < lastEvent[id] {
					t.Fatalf("%s deleted at %d before its last event %d", n.InstanceID, n.TimestampMs, lastEvent[id])
				}
				deletedAt[id] = n.TimestampMs
				if strings.Contains(n.InstanceID, "::sub::") {
					cascaded++
				}
			case events.TypeExecutionsPruned:
				prunes++
			}
			continue
		}
		e := m.Event
		switch {
		case m.Copy > 0:
			if e.TimestampMs > deletedAt[id] {
				t.Fatalf("re-delivered %v is not older than its deletion", e.EventKey())
			}
			redelivered++
			continue
		case m.DeletedAtMs > 0:
			reusedEvents++
			if m.DeletedAtMs != deletedAt[id] || e.TimestampMs <= m.DeletedAtMs {
				t.Fatalf("reused-id event %v at %d: deleted at %d (msg says %d)", e.EventKey(), e.TimestampMs, deletedAt[id], m.DeletedAtMs)
			}
			if back, err := events.Decode(e.Raw); err != nil || back.TimestampMs != e.TimestampMs || back.EventKey() != e.EventKey() {
				t.Fatalf("reused-id event payload %s: %v", e.Raw, err)
			}
		default:
			if d, ok := deletedAt[id]; ok && e.TimestampMs > d {
				t.Fatalf("event of %s at %d after its deletion at %d without a reused-id Msg-Id", id, e.TimestampMs, d)
			}
		}
		if e.TimestampMs < prev {
			t.Fatalf("event %d at %d published after time %d", i, e.TimestampMs, prev)
		}
		prev = e.TimestampMs
		lastEvent[id] = max(lastEvent[id], e.TimestampMs)
	}
	t.Logf("%d messages: %d deletions (%d cascaded), %d prunes, %d reused-id events, %d re-deliveries",
		len(msgs), deletions, cascaded, prunes, reusedEvents, redelivered)
	if deletions < 500 || cascaded == 0 || prunes == 0 || reusedEvents == 0 || redelivered == 0 {
		t.Fatal("the mix lacks a kind of notice or re-delivery")
	}
}
