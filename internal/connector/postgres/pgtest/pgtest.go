// Package pgtest fills a duroxide-pg schema (created by real Duroxide) with
// internal/gen's synthetic histories, for the Postgres source's tests and
// measurements when real Duroxide is too slow to write a million events.
package pgtest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
)

// Fill appends the histories of cfg to schema's history table, interleaved
// by time as a live runtime writes them, in transactions of about batch
// rows (COPY), with the instances and executions rows they imply (ON
// CONFLICT DO NOTHING). created_at is the time of the write. It returns
// every row's Nats-Msg-Id and bytes.
func Fill(ctx context.Context, url, schema string, cfg gen.Config, batch int) (map[string][]byte, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	all := make(map[string][]byte)
	var rows [][]any
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		defer func() { rows = rows[:0] }()
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{schema, "history"},
			[]string{"instance_id", "execution_id", "event_id", "event_type", "event_data", "created_at"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy history: %w", err)
		}
		ids := make([]string, 0, len(rows))
		execs := make([]int64, 0, len(rows))
		for _, r := range rows {
			ids = append(ids, r[0].(string))
			execs = append(execs, r[1].(int64))
		}
		q := pgx.Identifier{schema}.Sanitize()
		if _, err := tx.Exec(ctx, `INSERT INTO `+q+`.instances (instance_id, orchestration_name, orchestration_version, current_execution_id, created_at, updated_at)
			SELECT DISTINCT ON (i) i, 'Synthetic', '1.0.0', 1, now(), now() FROM unnest($1::text[]) i ON CONFLICT DO NOTHING`, ids); err != nil {
			return fmt.Errorf("instances: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+q+`.executions (instance_id, execution_id, status, started_at)
			SELECT DISTINCT i, e, 'Running', now() FROM unnest($1::text[], $2::bigint[]) AS t(i, e) ON CONFLICT DO NOTHING`, ids, execs); err != nil {
			return fmt.Errorf("executions: %w", err)
		}
		return tx.Commit(ctx)
	}
	for m := range gen.Interleave(gen.Histories(cfg), 1000) {
		e := m.Event
		rows = append(rows, []any{e.InstanceID, int64(e.ExecutionID), int64(e.EventID), "Event", string(e.Raw), time.Now()})
		all[events.MsgID(e.InstanceID, e.ExecutionID, e.EventID)] = slices.Clone(e.Raw)
		if len(rows) >= batch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	return all, flush()
}
