package projector

import (
	"reflect"
	"testing"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/projection"
)

// genHistories returns complete and cut-off generated histories (every
// event type the generator emits, unknown types included).
func genHistories(t testing.TB, n int) [][]events.Event {
	t.Helper()
	var out [][]events.Event
	for h := range gen.Histories(gen.Config{Seed: 5, Instances: n, SpreadMs: 3_600_000, RunningFraction: 0.2, UnknownTypeFraction: 0.1}) {
		out = append(out, h)
	}
	return out
}

// pruned is e as the cache keeps it: the fields projection.Derive reads.
func pruned(e events.Event) events.Event {
	p := events.Event{
		EventID: e.EventID, SourceEventID: e.SourceEventID, InstanceID: e.InstanceID, ExecutionID: e.ExecutionID,
		TimestampMs: e.TimestampMs, Type: e.Type, Known: e.Known, Name: e.Name, Version: e.Version,
		Input: e.Input, Output: e.Output, Instance: e.Instance, ParentInstance: e.ParentInstance,
		ParentID: e.ParentID, InitialCustomStatus: e.InitialCustomStatus, Status: e.Status, Tag: e.Tag,
		FireAtMs: e.FireAtMs, Details: e.Details,
	}
	if e.Type == events.TypeOrchestrationStarted || e.Type == events.TypeOrchestrationContinuedAsNew {
		p.Input = ""
	}
	return p
}

func TestPackRoundTrip(t *testing.T) {
	unknown := events.Event{EventID: 9, InstanceID: "x", ExecutionID: 2, TimestampMs: 1 << 50, Type: "SomethingNew",
		SourceEventID: events.OptUint{Value: 3, Valid: true}}
	failed := events.Event{EventID: 4, InstanceID: "x", ExecutionID: 1, Type: events.TypeActivityFailed, Known: true,
		Details: &events.ErrorDetails{Category: "application", Kind: "ActivityFailed", Message: "boom ✓", Retryable: true}}
	cases := []events.Event{unknown, failed, {EventID: 1, ExecutionID: 1, InstanceID: "x", Type: events.TypeOrchestrationStarted,
		Known: true, Name: "N", Version: "1.0", Input: "dropped", ParentInstance: events.OptString{Value: "", Valid: true},
		ParentID: events.OptUint{Value: 0, Valid: true}, InitialCustomStatus: events.OptString{Value: "s", Valid: true}}}
	for _, h := range genHistories(t, 200) {
		cases = append(cases, h...)
	}
	c := newInstanceCache(1 << 30)
	byID := map[string]*cachedInstance{}
	want := map[string][]events.Event{}
	for _, e := range cases {
		ci := byID[e.InstanceID]
		if ci == nil {
			ci = c.put(e.InstanceID)
			byID[e.InstanceID] = ci
		}
		if c.add(ci, e) {
			want[e.InstanceID] = append(want[e.InstanceID], pruned(e))
		}
	}
	for id, ci := range byID {
		got := ci.history(nil)
		if !reflect.DeepEqual(got, want[id]) {
			for i := range got {
				if i < len(want[id]) && !reflect.DeepEqual(got[i], want[id][i]) {
					t.Fatalf("%s event %d:\n got %+v\nwant %+v", id, i, got[i], want[id][i])
				}
			}
			t.Fatalf("%s: %d events back, want %d", id, len(got), len(want[id]))
		}
	}
}

// TestCachedHistoryDerivesSameRows checks the point of the cache: deriving
// from it gives exactly the rows of deriving from the decoded events,
// whatever the arrival order and duplicates.
func TestCachedHistoryDerivesSameRows(t *testing.T) {
	for _, h := range genHistories(t, 300) {
		want, err := projection.Derive(h)
		if err != nil {
			t.Fatal(err)
		}
		c := newInstanceCache(1 << 30)
		ci := c.put(h[0].InstanceID)
		// Reverse order with every event twice: the cache dedups.
		for i := len(h) - 1; i >= 0; i-- {
			c.add(ci, h[i])
			if c.add(ci, h[i]) {
				t.Fatalf("%s: duplicate of event %d/%d accepted", h[i].InstanceID, h[i].ExecutionID, h[i].EventID)
			}
		}
		got, err := projection.Derive(ci.history(nil))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: rows from the cache differ:\n got %+v\nwant %+v", h[0].InstanceID, got, want)
		}
	}
}

func TestCacheEvictsToItsBound(t *testing.T) {
	hs := genHistories(t, 400)
	c := newInstanceCache(64 << 10)
	for _, h := range hs {
		ci := c.put(h[0].InstanceID)
		for _, e := range h {
			c.add(ci, e)
		}
		c.evict(map[string]struct{}{h[0].InstanceID: {}})
		if _, ok := c.get(h[0].InstanceID); !ok {
			t.Fatal("the entry being written was evicted")
		}
	}
	if c.bytes > 64<<10 || c.len() == 0 || c.len() == len(hs) {
		t.Fatalf("cache holds %d bytes in %d of %d instances; want at most 64 KiB and some evicted", c.bytes, c.len(), len(hs))
	}
	var sum int64
	for el := c.lru.Front(); el != nil; el = el.Next() {
		sum += el.Value.(*cachedInstance).bytes
	}
	if sum != c.bytes {
		t.Fatalf("entries account %d bytes, cache %d", sum, c.bytes)
	}
}

func BenchmarkCacheAddAndHistory(b *testing.B) {
	hs := genHistories(b, 2000)
	var buf []events.Event
	b.ReportAllocs()
	for b.Loop() {
		c := newInstanceCache(1 << 30)
		for _, h := range hs {
			ci := c.put(h[0].InstanceID)
			for _, e := range h {
				c.add(ci, e)
			}
			buf = ci.history(buf)
		}
	}
}
