package chwrite

import (
	"context"
	"fmt"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/duroscope/duroscope/events"
)

// NoticeRow is one source notice to store, with the JetStream sequence of
// the message that carried it.
type NoticeRow struct {
	Notice    *events.Notice
	StreamSeq uint64
}

// WriteNotices stores notices in the notices table (migration 0003), so
// that an instance can be derived again from its events and notices
// (LoadNotices). The table is a ReplacingMergeTree keyed by the notice
// itself: a re-delivered notice collapses into one row on merge, and
// readers deduplicate until then.
func (w *Writer) WriteNotices(ctx context.Context, rows []NoticeRow) error {
	n := len(rows)
	var (
		id, typ = make([]string, n), make([]string, n)
		ts, seq = make([]uint64, n), make([]uint64, n)
		execs   = make([][]uint64, n)
		payload = make([][]byte, n)
	)
	for i, r := range rows {
		if r.Notice == nil {
			return fmt.Errorf("insert into %s.notices: row %d has no notice", w.db, i)
		}
		nt := r.Notice
		id[i], typ[i], ts[i], seq[i] = nt.InstanceID, nt.Type, nt.TimestampMs, r.StreamSeq
		execs[i] = canonicalIDs(nt.ExecutionIDs)
		payload[i] = nt.Marshal()
	}
	return w.insert(ctx, "notices", n, []insertColumn{
		{"instance_id", id},
		{"notice_type", typ},
		{"timestamp_ms", ts},
		{"execution_ids", execs},
		{"payload", payload},
		{"stream_seq", seq},
	})
}

// canonicalIDs is a notice's execution ids sorted and deduplicated (never
// nil, the column is an array).
func canonicalIDs(ids []uint64) []uint64 {
	out := append([]uint64{}, ids...)
	slices.Sort(out)
	return slices.Compact(out)
}

// LoadNotices returns the stored notices of the given instances, one copy
// each (by type, timestamp and executions). Instances without notices are
// absent from the map.
func (w *Writer) LoadNotices(ctx context.Context, instanceIDs []string) (map[string][]events.Notice, error) {
	out := make(map[string][]events.Notice)
	err := inChunks(instanceIDs, func(chunk []any) error {
		q, err := statements.Render("load_notices.sql", dbData{w.db})
		if err != nil {
			return err
		}
		rows, err := w.conn.Query(ctx, q, clickhouse.Named("ids", clickhouse.GroupSet{Value: chunk}))
		if err != nil {
			return fmt.Errorf("load from %s.notices: %w", w.db, err)
		}
		defer rows.Close()
		for rows.Next() {
			var n events.Notice
			if err := rows.Scan(&n.InstanceID, &n.Type, &n.TimestampMs, &n.ExecutionIDs); err != nil {
				return fmt.Errorf("load from %s.notices: %w", w.db, err)
			}
			if n.Type == events.TypeInstanceDeleted {
				n.ExecutionIDs = nil
			}
			out[n.InstanceID] = append(out[n.InstanceID], n)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load from %s.notices: %w", w.db, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
