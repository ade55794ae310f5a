package chwrite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/events"
)

// historyFixturesDir is the shared event contract's fixture directory, relative to
// this package (the same path internal/oracle uses).
const historyFixturesDir = "../../../shared/contract/fixtures"

// loadHistoryFixtures decodes every line of fixtures/*.jsonl with events.Decode.
func loadHistoryFixtures(t *testing.T) []events.Event {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(historyFixturesDir, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", historyFixturesDir, err)
	}
	var out []events.Event
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 2<<20)
		for line := 1; sc.Scan(); line++ {
			raw := bytes.TrimSpace(sc.Bytes())
			if len(raw) == 0 {
				continue
			}
			ev, err := events.Decode(bytes.Clone(raw))
			if err != nil {
				t.Fatalf("%s:%d: %v", f, line, err)
			}
			out = append(out, ev)
		}
	}
	return out
}

// wantHistories groups evs by instance, one copy per key, ordered by
// (execution_id, event_id): what LoadHistories must return.
func wantHistories(evs []events.Event) map[string][]events.Event {
	out := map[string][]events.Event{}
	seen := map[events.Key]bool{}
	for _, e := range evs {
		if seen[e.EventKey()] {
			continue
		}
		seen[e.EventKey()] = true
		out[e.InstanceID] = append(out[e.InstanceID], e)
	}
	for _, h := range out {
		sort.Slice(h, func(i, j int) bool { return h[i].EventKey().Less(h[j].EventKey()) })
	}
	return out
}

func historyRows(evs []events.Event, firstSeq uint64) []HistoryRow {
	rows := make([]HistoryRow, len(evs))
	for i := range evs {
		rows[i] = HistoryRow{Event: &evs[i], StreamSeq: firstSeq + uint64(i)}
	}
	return rows
}

func compareHistories(t *testing.T, got, want map[string][]events.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("LoadHistories returned %d instances, want %d", len(got), len(want))
	}
	for id, w := range want {
		g := got[id]
		if len(g) != len(w) {
			t.Errorf("instance %q: %d events, want %d", id, len(g), len(w))
			continue
		}
		for i := range w {
			if !reflect.DeepEqual(g[i], w[i]) {
				t.Errorf("instance %q event %d:\n got  %s\n want %s", id, i, g[i].Raw, w[i].Raw)
			}
		}
	}
}

func TestHistoryRoundTripDeduplicates(t *testing.T) {
	conn, w, db := writerTestDB(t)
	ctx := context.Background()
	// Background merges would collapse the duplicates before LoadHistories
	// sees them, and then the deduplication would go untested.
	if err := conn.Exec(ctx, "SYSTEM STOP MERGES "+db+".history_v3"); err != nil {
		t.Fatalf("stop merges: %v", err)
	}

	evs := loadHistoryFixtures(t)
	if err := w.WriteHistory(ctx, historyRows(evs, 1)); err != nil {
		t.Fatalf("WriteHistory: %v", err)
	}
	// At-least-once delivery: the same events again, in another order and
	// another batch (stream sequences differ, as they would on redelivery).
	again := make([]events.Event, len(evs))
	for i := range evs {
		again[len(evs)-1-i] = evs[i]
	}
	if err := w.WriteHistory(ctx, historyRows(again, 1000)); err != nil {
		t.Fatalf("WriteHistory (again): %v", err)
	}
	if err := w.WriteHistory(ctx, nil); err != nil {
		t.Fatalf("WriteHistory(nil): %v", err)
	}
	var stored uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".history_v3").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != uint64(2*len(evs)) {
		t.Fatalf("history holds %d rows, want %d (every event twice)", stored, 2*len(evs))
	}

	want := wantHistories(evs)
	ids := make([]string, 0, len(want)+2)
	for id := range want {
		ids = append(ids, id, id) // duplicate ids in the request are fine
	}
	ids = append(ids, "no-such-instance")
	got, err := w.LoadHistories(ctx, ids)
	if err != nil {
		t.Fatalf("LoadHistories: %v", err)
	}
	if _, ok := got["no-such-instance"]; ok {
		t.Error("an instance without events is in the result")
	}
	compareHistories(t, got, want)

	// Columns other than the payload: the unknown type is stored as such.
	var (
		typ   string
		known uint8
		ts    uint64
	)
	if err := conn.QueryRow(ctx, "SELECT event_type, known, timestamp_ms FROM "+db+".history_v3 WHERE instance_id = 'chat-1' AND event_type = 'FutureEventKind' LIMIT 1").Scan(&typ, &known, &ts); err != nil {
		t.Fatalf("read the unknown-type row: %v", err)
	}
	if known != 0 || ts == 0 {
		t.Errorf("unknown-type row: known=%d timestamp_ms=%d; want 0 and the event's timestamp", known, ts)
	}
	var minSeq, maxSeq uint64
	if err := conn.QueryRow(ctx, "SELECT min(stream_seq), max(stream_seq) FROM "+db+".history_v3").Scan(&minSeq, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if minSeq != 1 || maxSeq != uint64(1000+len(evs)-1) {
		t.Errorf("stream_seq range = [%d, %d], want [1, %d]", minSeq, maxSeq, 1000+len(evs)-1)
	}

	if got, err := w.LoadHistories(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("LoadHistories(nil) = %d instances, %v; want none", len(got), err)
	}
}

// oddHistoryEvent builds a valid OrchestrationCompleted event for any instance id.
func oddHistoryEvent(t testing.TB, id string, exec, ev uint64) events.Event {
	t.Helper()
	raw, err := json.Marshal(map[string]any{
		"event_id": ev, "source_event_id": nil, "instance_id": id, "execution_id": exec,
		"timestamp_ms": 1764105600000 + ev, "duroxide_version": "0.1.26",
		"type": "OrchestrationCompleted", "output": "out '\\ \x00",
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := events.Decode(raw)
	if err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return e
}

// TestLoadHistoriesChunksAndQuotes loads more ids than one query takes, by
// count and by size, with ids full of characters that need escaping in SQL.
func TestLoadHistoriesChunksAndQuotes(t *testing.T) {
	_, w, _ := writerTestDB(t)
	ctx := context.Background()

	var evs []events.Event
	odd := []string{
		"it's", `back\slash`, "nul\x00byte", "new\nline", "tab\tand ; semicolon", "?", "'; DROP TABLE x; --",
		"ünïcödé-✓", "order-7::sub::2", "a/..", ".", "%2F", "(", "')",
	}
	ids := append([]string(nil), odd...)
	for i := range loadChunkIDs + 100 {
		ids = append(ids, fmt.Sprintf("many-%05d", i))
	}
	// Long ids overflow a chunk's byte budget long before its id count.
	long := strings.Repeat(`x'\`, 340) // 1020 bytes, all but a third need escaping
	for i := range 150 {
		ids = append(ids, fmt.Sprintf("%s%04d", long, i))
	}
	for _, id := range ids {
		evs = append(evs, oddHistoryEvent(t, id, 1, 1), oddHistoryEvent(t, id, 2, 1))
	}
	if err := w.WriteHistory(ctx, historyRows(evs, 1)); err != nil {
		t.Fatalf("WriteHistory: %v", err)
	}
	got, err := w.LoadHistories(ctx, ids)
	if err != nil {
		t.Fatalf("LoadHistories: %v", err)
	}
	compareHistories(t, got, wantHistories(evs))

	// One odd id alone: nothing else is returned.
	got, err = w.LoadHistories(ctx, []string{"it's"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got["it's"]) != 2 {
		t.Errorf("LoadHistories([it's]) = %d instances (%d events); want 1 instance with 2 events", len(got), len(got["it's"]))
	}
}

func TestLoadHistoriesRejectsCorruptPayload(t *testing.T) {
	conn, w, db := writerTestDB(t)
	ctx := context.Background()
	// INSERT ... SELECT: an INSERT ... VALUES through Exec waits forever for
	// data blocks on the native protocol.
	if err := conn.Exec(ctx, "INSERT INTO "+db+".history_v3 (instance_id, execution_id, event_id, event_type, timestamp_ms, known, payload, stream_seq) SELECT 'bad', 1, 1, 'X', 1, 0, 'not json', 1"); err != nil {
		t.Fatal(err)
	}
	good := oddHistoryEvent(t, "other", 1, 1)
	if err := conn.Exec(ctx, "INSERT INTO "+db+".history_v3 (instance_id, execution_id, event_id, event_type, timestamp_ms, known, payload, stream_seq) SELECT 'mislabelled', 1, 1, 'X', 1, 0, ?, 1", string(good.Raw)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bad", "mislabelled"} {
		_, err := w.LoadHistories(ctx, []string{id})
		if err == nil || !strings.Contains(err.Error(), db+".history") || !strings.Contains(err.Error(), `"`+id+`"`) {
			t.Errorf("LoadHistories(%q) error = %v; want one naming the table and the event", id, err)
		}
	}
}
