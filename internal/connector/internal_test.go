package connector

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/duroscope/duroscope/events"
)

func TestLadderKeepsDoublingDistances(t *testing.T) {
	var l ladder
	for pos := uint64(1); pos <= 1_000_000; pos += 7 {
		l.push(Anchor{Pos: pos})
	}
	if len(l.a) > 25 || len(l.a) < 15 {
		t.Fatalf("%d anchors after a million rows, want about log2: %v", len(l.a), l.a)
	}
	head := l.head()
	for i := 1; i < len(l.a); i++ {
		if l.a[i-1].Pos >= l.a[i].Pos {
			t.Fatalf("not ascending: %v", l.a)
		}
	}
	// Some anchor lies in each doubling band below the head, far ones included.
	if d := head - l.a[0].Pos; d < 200_000 {
		t.Fatalf("oldest anchor only %d below the head", d)
	}
	l.cut(head - 100)
	if l.head() > head-100 {
		t.Fatalf("cut left %d above %d", l.head(), head-100)
	}
	l.push(Anchor{Pos: 3}) // positions went back: only the new one holds
	if len(l.a) != 1 || l.head() != 3 {
		t.Fatalf("after a lower push: %v", l.a)
	}
}

func TestRepair(t *testing.T) {
	cases := []struct{ in, out string }{
		{`{"event_id":3,"source_event_id":null,"instance_id":"","execution_id":0,"timestamp_ms":1,"type":"OrchestrationFailed","details":{}}`,
			`{"event_id":3,"source_event_id":null,"instance_id":"a\"b","execution_id":7,"timestamp_ms":1,"type":"OrchestrationFailed","details":{}}`},
		// Only what is missing is filled in.
		{`{"event_id":3,"instance_id":"x","execution_id":0,"type":"OrchestrationFailed"}`,
			`{"event_id":3,"instance_id":"x","execution_id":7,"type":"OrchestrationFailed"}`},
		// execution_id 01 or 0 inside details is not touched; a complete event is not either.
		{`{"event_id":3,"instance_id":"x","execution_id":2,"type":"OrchestrationFailed","details":{"m":"\"execution_id\":0"}}`, ""},
		{`{"instance_id":"x","execution_id":05}`, ""},
	}
	for _, c := range cases {
		out, ok := repair([]byte(c.in), `a"b`, 7)
		if c.out == "" {
			if ok || string(out) != c.in {
				t.Errorf("repair(%s) changed it: %s", c.in, out)
			}
			continue
		}
		if !ok || string(out) != c.out {
			t.Errorf("repair(%s) = %s, want %s", c.in, out, c.out)
		}
	}
}

func TestPublishedStateReincarnationAndReconcile(t *testing.T) {
	p := newPublished()
	if eff := p.apply("a", 1, 1, 100); eff.msgID != "a/1/1" || eff.notice != nil || !eff.changed {
		t.Fatalf("first row: %+v", eff)
	}
	if eff := p.apply("a", 1, 1, 100); eff.changed || eff.notice != nil {
		t.Fatalf("re-published row changed the state: %+v", eff)
	}
	p.apply("a", 2, 1, 0)
	p.apply("b", 1, 1, 50)
	p.apply("c", 1, 2, 0)
	// A new start of "a": the old incarnation is deleted just before it.
	eff := p.apply("a", 1, 1, 900)
	if eff.notice == nil || eff.notice.TimestampMs != 899 || eff.msgID != "a/1/1/899" {
		t.Fatalf("reincarnation: %+v", eff)
	}
	if s := p.m["a"]; !reflect.DeepEqual(*s, instState{Born: 900, Deleted: 899, Execs: []uint64{1}}) {
		t.Fatalf("state after reincarnation: %+v", *s)
	}
	// Store: a keeps exec 1, b is gone, c pruned of nothing; d was never published.
	inv := []Inventory{{InstanceID: "a", ExecutionIDs: []uint64{1}}, {InstanceID: "c", ExecutionIDs: []uint64{1}}, {InstanceID: "d", ExecutionIDs: []uint64{1}}}
	p.apply("c", 2, 1, 0)
	notices, changed := p.reconcile(p.sortedIDs(), inv, 5000)
	want := []events.Notice{events.InstanceDeleted("b", 5000), events.ExecutionsPruned("c", []uint64{2}, 5000)}
	if !reflect.DeepEqual(notices, want) || fmt.Sprint(changed) != "[b c]" {
		t.Fatalf("reconcile: %v %v", notices, changed)
	}
	// Idempotent: a second pass over the same store finds nothing.
	if n, _ := p.reconcile(p.sortedIDs(), inv, 6000); len(n) != 0 {
		t.Fatalf("second pass: %v", n)
	}
	// b comes back: its events carry the suffix of its deletion.
	if eff := p.apply("b", 1, 1, 7000); eff.notice != nil || eff.msgID != "b/1/1/5000" {
		t.Fatalf("b reused: %+v", eff)
	}
	// State survives a round trip through its KV forms: the journal's
	// chunks and the one key per id of earlier versions.
	q := newPublished()
	for ch := range encodeChunks(maps.All(p.m), 64) {
		if _, err := decodeChunk(ch, q.m); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(p.m, q.m) {
		t.Fatalf("journal round trip: %v vs %v", p.m, q.m)
	}
	q = newPublished()
	for id, s := range p.m {
		legacy, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.load(stateKey(id), legacy); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(p.m, q.m) {
		t.Fatalf("per-id key round trip: %v vs %v", p.m, q.m)
	}
}

func TestCheckpointChunksRoundTrip(t *testing.T) {
	m := map[string]*instState{
		"":                  {},
		"a/b c":             {Born: 1 << 60, Deleted: 7, Execs: []uint64{1, 2, 300}},
		"deleted":           {Deleted: 12345},
		string([]byte{255}): {Born: 9, Execs: []uint64{1}},
	}
	for i := 0; i < 2000; i++ {
		m[fmt.Sprintf("order-%05d", i)] = &instState{Born: uint64(i) * 1000, Execs: []uint64{1, uint64(i%3 + 1)}}
	}
	chunks := slices.Collect(encodeChunks(maps.All(m), 4096))
	if len(chunks) < 10 {
		t.Fatalf("%d chunks of at most 4 KiB for %d ids", len(chunks), len(m))
	}
	got := map[string]*instState{}
	for _, ch := range chunks {
		if len(ch) > 4096 {
			t.Fatalf("chunk of %d bytes over the limit", len(ch))
		}
		if _, err := decodeChunk(ch, got); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip differs: %d ids back of %d", len(got), len(m))
	}
	for _, bad := range [][]byte{nil, {2}, {checkpointVersion, 5, 'a'}, {checkpointVersion, 1, 'a', 1, 0, 3, 1}} {
		if _, err := decodeChunk(bad, map[string]*instState{}); err == nil {
			t.Errorf("decodeChunk(%v) accepted", bad)
		}
	}
}
