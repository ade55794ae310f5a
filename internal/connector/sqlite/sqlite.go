// Package sqlite reads a Duroxide SQLite provider's store (Duroxide's sqlx
// migrations: history, instances, executions, orchestrator_queue,
// worker_queue, timer_queue, ...) for the connector, without cgo
// (modernc.org/sqlite).
//
// Read only and gentle with the writer: the file is opened with mode=ro and
// query_only, so no statement of ours can write; Duroxide runs it in WAL
// mode, where a reader never blocks the writer. A reader does hold back
// checkpoints past its snapshot, so every snapshot is short: one bounded
// batch of rows by rowid, or one bounded page of the inventory, then it
// ends. busy_timeout covers the moments the WAL index is being rebuilt.
//
// Positions are the history table's rowid. The table has no INTEGER
// PRIMARY KEY, so SQLite gives a new row max(rowid)+1: rowids grow, except
// that after the rows with the highest rowids are deleted their rowids are
// handed out again, and VACUUM may renumber every row. Resume therefore
// checks each anchor's row (rowid, key and content hash) before trusting a
// position; see Snapshot.Resume and the connector's package comment.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/connector"
)

// Config configures Open.
type Config struct {
	// Path is the database file.
	Path string
	// BusyTimeout is how long a read waits for a lock (default 5s).
	BusyTimeout time.Duration
}

// ParseURL takes Duroxide's own URL forms of a SQLite store,
// "sqlite:/path/to/file.db", "sqlite:///abs/path" or "sqlite://rel/path",
// with or without Duroxide's query options (which are ignored: they ask
// for creating the file, which a reader never does), and returns the path.
func ParseURL(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "sqlite:")
	if !ok {
		return "", fmt.Errorf("not a sqlite: URL")
	}
	rest, _, _ = strings.Cut(rest, "?")
	if r, ok := strings.CutPrefix(rest, "//"); ok {
		rest = r
	}
	if rest == "" || rest == ":memory:" {
		return "", fmt.Errorf("want sqlite:/path/to/duroxide.db, got %q", s)
	}
	p, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("bad path in %q: %w", s, err)
	}
	return p, nil
}

// Source is an open Duroxide SQLite store.
type Source struct {
	db *sql.DB
}

// Open opens the store read only and checks that it has Duroxide's tables.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = 5 * time.Second
	}
	if _, err := os.Stat(cfg.Path); err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", cfg.Path, err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "query_only(1)")
	dsn := "file:" + (&url.URL{Path: cfg.Path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	// A few connections: the rows/inventory reader and the queue counter.
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	s := &Source{db: db}
	if err := s.check(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", cfg.Path, err)
	}
	return s, nil
}

// check verifies the tables and columns the connector reads.
func (s *Source) check(ctx context.Context) error {
	for _, q := range []string{
		"SELECT rowid, instance_id, execution_id, event_id, event_type, event_data, created_at FROM history LIMIT 0",
		"SELECT instance_id, execution_id FROM executions LIMIT 0",
		"SELECT lock_token FROM orchestrator_queue LIMIT 0",
		"SELECT lock_token FROM worker_queue LIMIT 0",
	} {
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("not a Duroxide SQLite store (%s): %w", q, err)
		}
		rows.Close()
	}
	return nil
}

// Close closes the database handle.
func (s *Source) Close() error { return s.db.Close() }

// Queues counts exactly what Duroxide 0.1.29's get_queue_depths counts
// (TestQueuesEqualDuroxide compares them): the rows of orchestrator_queue
// and of worker_queue that no dispatcher has locked (lock_token IS NULL),
// whether already visible or delayed (a timer not yet due is a delayed
// orchestrator message); timer_queue is 0, as in Duroxide, whose timers
// moved into the orchestrator queue (the legacy table is not read).
func (s *Source) Queues(ctx context.Context) (events.QueueSnapshot, error) {
	var q events.QueueSnapshot
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM orchestrator_queue WHERE lock_token IS NULL),
		(SELECT COUNT(*) FROM worker_queue WHERE lock_token IS NULL)`).Scan(&q.OrchestratorQueue, &q.WorkerQueue)
	if err != nil {
		return events.QueueSnapshot{}, fmt.Errorf("count queue depths: %w", err)
	}
	q.TimestampMs = uint64(time.Now().UnixMilli())
	return q, nil
}

// Begin opens a read transaction: one snapshot of the WAL.
func (s *Source) Begin(ctx context.Context) (connector.Snapshot, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	return &snapshot{ctx: ctx, tx: tx}, nil
}

type snapshot struct {
	ctx context.Context
	tx  *sql.Tx
}

func (s *snapshot) Close() error { return s.tx.Rollback() }

func (s *snapshot) Resume(anchors []connector.Anchor) (uint64, error) {
	// Newest first: the first anchor that holds is the exact resume point.
	for i := len(anchors) - 1; i >= 0; i-- {
		a := anchors[i]
		var id string
		var exec, ev uint64
		var data []byte
		err := s.tx.QueryRowContext(s.ctx, "SELECT instance_id, execution_id, event_id, event_data FROM history WHERE rowid = ?", int64(a.Pos)).
			Scan(&id, &exec, &ev, &data)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("check anchor at rowid %d: %w", a.Pos, err)
		}
		if id == a.InstanceID && exec == a.ExecutionID && ev == a.EventID && connector.HashData(data) == a.Hash {
			return a.Pos, nil
		}
	}
	return 0, nil
}

func (s *snapshot) Rows(after uint64, limit int) ([]connector.Row, error) {
	rs, err := s.tx.QueryContext(s.ctx, `SELECT rowid, instance_id, execution_id, event_id, event_type, event_data, CAST(strftime('%s', created_at) AS INTEGER)
		FROM history WHERE rowid > ? ORDER BY rowid LIMIT ?`, int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("read history after rowid %d: %w", after, err)
	}
	defer rs.Close()
	out := make([]connector.Row, 0, min(limit, 1<<16))
	for rs.Next() {
		var r connector.Row
		var pos int64
		var created sql.NullInt64
		if err := rs.Scan(&pos, &r.InstanceID, &r.ExecutionID, &r.EventID, &r.Type, &r.Data, &created); err != nil {
			return nil, fmt.Errorf("read history row after rowid %d: %w", after, err)
		}
		r.Pos = uint64(pos)
		if created.Valid {
			r.CreatedAtMs = created.Int64 * 1000
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read history after rowid %d: %w", after, err)
	}
	return out, nil
}

func (s *snapshot) Head() (uint64, error) {
	var head sql.NullInt64
	if err := s.tx.QueryRowContext(s.ctx, "SELECT max(rowid) FROM history").Scan(&head); err != nil {
		return 0, fmt.Errorf("read the highest history rowid: %w", err)
	}
	return uint64(head.Int64), nil
}

// Instances reads the executions table (one row per execution; Duroxide
// deletes and prunes it together with the history), by its primary key.
func (s *snapshot) Instances(after string, limit int) ([]connector.Inventory, error) {
	// Page by instance: the ids of the next limit instances, then their
	// executions, both by primary-key order.
	rs, err := s.tx.QueryContext(s.ctx, `SELECT e.instance_id, e.execution_id FROM executions e
		JOIN (SELECT DISTINCT instance_id FROM executions WHERE instance_id > ? ORDER BY instance_id LIMIT ?) p
		ON e.instance_id = p.instance_id ORDER BY e.instance_id, e.execution_id`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read executions after %q: %w", after, err)
	}
	defer rs.Close()
	var out []connector.Inventory
	for rs.Next() {
		var id string
		var exec uint64
		if err := rs.Scan(&id, &exec); err != nil {
			return nil, fmt.Errorf("read executions: %w", err)
		}
		if n := len(out); n > 0 && out[n-1].InstanceID == id {
			out[n-1].ExecutionIDs = append(out[n-1].ExecutionIDs, exec)
			continue
		}
		out = append(out, connector.Inventory{InstanceID: id, ExecutionIDs: []uint64{exec}})
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read executions: %w", err)
	}
	return out, nil
}

func (s *snapshot) HistoryExecutions(instanceID string) ([]uint64, error) {
	rs, err := s.tx.QueryContext(s.ctx, "SELECT DISTINCT execution_id FROM history WHERE instance_id = ? ORDER BY execution_id", instanceID)
	if err != nil {
		return nil, fmt.Errorf("read executions of %q from history: %w", instanceID, err)
	}
	defer rs.Close()
	var out []uint64
	for rs.Next() {
		var e uint64
		if err := rs.Scan(&e); err != nil {
			return nil, fmt.Errorf("read executions of %q from history: %w", instanceID, err)
		}
		out = append(out, e)
	}
	return out, rs.Err()
}
