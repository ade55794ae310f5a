package chwrite

import (
	"context"
	"fmt"
	"sort"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/duroscope/duroscope/events"
)

// HistoryRow is one event to store, with the JetStream sequence of the
// message that carried it (kept for diagnosis: which message wrote a row).
type HistoryRow struct {
	Event     *events.Event
	StreamSeq uint64
}

// WriteHistory stores events in the history table (history_v3), payload =
// the published bytes verbatim (/history serves them as they were
// published). The table is a ReplacingMergeTree keyed by (instance_id,
// execution_id, event_id, timestamp_ms): a re-delivered event is stored
// again and collapses into one row on merge, while the same (execution_id,
// event_id) of two incarnations of a reused instance id (docs/deletions.md)
// are two rows; until merged, readers deduplicate by that key
// (LoadHistories does).
func (w *Writer) WriteHistory(ctx context.Context, rows []HistoryRow) error {
	n := len(rows)
	var (
		id, typ                 = make([]string, n), make([]string, n)
		payload                 = make([][]byte, n) // no copy: the driver copies into its buffer
		execID, eventID, ts, sq = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
		known                   = make([]uint8, n)
	)
	for i, r := range rows {
		e := r.Event
		if e == nil {
			return fmt.Errorf("insert into %s.history: row %d has no event", w.db, i)
		}
		if len(e.Raw) == 0 {
			// The payload is what /history serves and what LoadHistories
			// decodes; storing an empty one would break both later, far
			// from the cause.
			return fmt.Errorf("insert into %s.history: event %q/%d/%d has no payload (Event.Raw is empty)",
				w.db, e.InstanceID, e.ExecutionID, e.EventID)
		}
		id[i], execID[i], eventID[i] = e.InstanceID, e.ExecutionID, e.EventID
		typ[i], ts[i], known[i] = e.Type, e.TimestampMs, boolU8(e.Known)
		payload[i], sq[i] = e.Raw, r.StreamSeq
	}
	return w.insert(ctx, "history_v3", n, []insertColumn{
		{"instance_id", id},
		{"execution_id", execID},
		{"event_id", eventID},
		{"event_type", typ},
		{"timestamp_ms", ts},
		{"known", known},
		{"payload", payload},
		{"stream_seq", sq},
	})
}

// Bounds of one LoadHistories query. The ids are spliced into the SQL text
// (clickhouse-go binds client-side; 18.16 has no server-side parameters), and
// the server refuses a query longer than max_query_size (256 KiB by default),
// so a chunk is bounded by its quoted size as well as its id count.
const (
	loadChunkIDs   = 4000
	loadChunkBytes = 200 << 10
)

// LoadHistories returns the stored events of the given instances, each
// instance's events ordered by (execution_id, event_id) with one copy per
// (execution_id, event_id, timestamp_ms) (the history table may hold
// duplicates until ReplacingMergeTree merges them; copies with different
// timestamps may be two incarnations' events, which projection.Derive tells
// apart, docs/deletions.md). Instances with no stored event are absent from the map.
// Every payload is decoded again with events.Decode, so the caller gets the
// same Event values the projector built from the wire.
//
// The ids are read in chunks with WHERE instance_id IN (...), which uses the
// table's primary key (instance_id, ...) to read only the matching granules.
func (w *Writer) LoadHistories(ctx context.Context, instanceIDs []string) (map[string][]events.Event, error) {
	out := make(map[string][]events.Event)
	if err := inChunks(instanceIDs, func(chunk []any) error { return w.loadChunk(ctx, chunk, out) }); err != nil {
		return nil, err
	}
	for _, evs := range out {
		sort.Slice(evs, func(i, j int) bool {
			if evs[i].ExecutionID != evs[j].ExecutionID {
				return evs[i].ExecutionID < evs[j].ExecutionID
			}
			return evs[i].EventID < evs[j].EventID
		})
	}
	return out, nil
}

// loadChunk reads the history of ids (at most one chunk; no id in an earlier
// chunk) into out, one copy per event key. Deduplication (and, in the caller,
// ordering) happen here rather than with FINAL / ORDER BY / LIMIT 1 BY on the
// server: the server then only streams the matching rows, which keeps
// ClickHouse's share of the projector's re-derivations small.
func (w *Writer) loadChunk(ctx context.Context, ids []any, out map[string][]events.Event) error {
	q, err := statements.Render("load_histories.sql", dbData{w.db})
	if err != nil {
		return err
	}
	// GroupSet renders as ('a', 'b', ...). A plain []string would render as
	// an array literal, which 18.16 rejects on the right of IN.
	rows, err := w.conn.Query(ctx, q, clickhouse.Named("ids", clickhouse.GroupSet{Value: ids}))
	if err != nil {
		return fmt.Errorf("load from %s.history: %w", w.db, err)
	}
	defer rows.Close()
	type copyKey struct {
		events.Key
		ts uint64
	}
	seen := make(map[copyKey]struct{})
	for rows.Next() {
		var (
			k       events.Key
			ts      uint64
			payload string
		)
		if err := rows.Scan(&k.InstanceID, &k.ExecutionID, &k.EventID, &ts, &payload); err != nil {
			return fmt.Errorf("load from %s.history: %w", w.db, err)
		}
		if _, dup := seen[copyKey{k, ts}]; dup {
			continue
		}
		seen[copyKey{k, ts}] = struct{}{}
		ev, err := events.Decode([]byte(payload))
		if err != nil {
			// Only validated events are stored, so this is corruption or a
			// decoder regression: stop rather than derive from a partial
			// history.
			return fmt.Errorf("load from %s.history: stored event %q/%d/%d does not decode: %w",
				w.db, k.InstanceID, k.ExecutionID, k.EventID, err)
		}
		if ev.EventKey() != k {
			return fmt.Errorf("load from %s.history: row %q/%d/%d holds the payload of event %q/%d/%d",
				w.db, k.InstanceID, k.ExecutionID, k.EventID, ev.InstanceID, ev.ExecutionID, ev.EventID)
		}
		out[k.InstanceID] = append(out[k.InstanceID], ev)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load from %s.history: %w", w.db, err)
	}
	return nil
}

// inChunks calls fn with the distinct ids, in chunks that fit a query:
// at most loadChunkIDs ids and loadChunkBytes of quoted literals each.
func inChunks(instanceIDs []string, fn func(chunk []any) error) error {
	uniq := make(map[string]struct{}, len(instanceIDs))
	chunk := make([]any, 0, min(len(instanceIDs), loadChunkIDs))
	size := 0
	for _, id := range instanceIDs {
		if _, dup := uniq[id]; dup {
			continue
		}
		uniq[id] = struct{}{}
		// Worst case of the quoted literal: every byte escaped, two quotes
		// and the ", " separator.
		cost := 2*len(id) + 4
		if len(chunk) > 0 && (len(chunk) == loadChunkIDs || size+cost > loadChunkBytes) {
			if err := fn(chunk); err != nil {
				return err
			}
			chunk, size = chunk[:0], 0
		}
		chunk = append(chunk, id)
		size += cost
	}
	if len(chunk) > 0 {
		return fn(chunk)
	}
	return nil
}
