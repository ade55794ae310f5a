// Package storetest makes Duroxide SQLite stores for the connector's tests
// and benchmarks: a file with Duroxide's real schema (created by the
// Duroxide addon itself when it is installed, else from schema.sql, which
// was dumped from it) and a writer that changes it the way Duroxide's
// SQLite provider does (history rows appended, instances deleted and
// executions pruned by hard DELETEs), with realistic event JSON from
// internal/gen.
package storetest

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
)

//go:embed schema.sql
var schemaSQL string

// AddonPath is the Duroxide Node addon (npm duroxide-linux-x64-gnu) when
// installed: DUROSCOPE_DUROXIDE_ADDON, else the test script's npm cache.
func AddonPath() string {
	if p := os.Getenv("DUROSCOPE_DUROXIDE_ADDON"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache/duroscope/npm/node_modules/duroxide-linux-x64-gnu/duroxide.linux-x64-gnu.node")
}

// CreateWithAddon has Duroxide's own SQLite provider create the store at
// path (its migrations, WAL mode), through the addon and Node.
func CreateWithAddon(ctx context.Context, path string) error {
	addon := AddonPath()
	if _, err := os.Stat(addon); err != nil {
		return fmt.Errorf("duroxide addon: %w", err)
	}
	script := `const m = require(process.argv[1]);
m.JsSqliteProvider.open("sqlite:" + process.argv[2]).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });`
	out, err := exec.CommandContext(ctx, "node", "-e", script, addon, path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("create %s with the duroxide addon: %w: %s", path, err, out)
	}
	return nil
}

// Store is a Duroxide SQLite store open for writing, as the runtime has it.
type Store struct {
	Path string
	DB   *sql.DB
}

// Create makes a store with Duroxide's schema in dir: by the addon when it
// is installed, else from schema.sql (the same statements).
func Create(tb testing.TB, dir string) *Store {
	tb.Helper()
	path := filepath.Join(dir, "duroxide.db")
	ctx := context.Background()
	if _, err := os.Stat(AddonPath()); err == nil {
		if err := CreateWithAddon(ctx, path); err != nil {
			tb.Fatal(err)
		}
	} else {
		tb.Logf("duroxide addon not installed (%v): creating the schema from schema.sql", err)
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := db.Exec(schemaSQL); err != nil {
			tb.Fatalf("apply schema.sql: %v", err)
		}
		db.Close()
	}
	s, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.DB.Close() })
	return s
}

// Open opens an existing store for writing with the pragmas Duroxide uses.
func Open(path string) (*Store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(60000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &Store{Path: path, DB: db}, nil
}

// Schema returns the store's table and index statements, in creation order.
func (s *Store) Schema() ([]string, error) {
	rows, err := s.DB.Query("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// Row is one history row to append.
type Row struct {
	InstanceID  string
	ExecutionID uint64
	EventID     uint64
	Type        string
	Data        []byte
}

// RowOf is the history row of an event, as Duroxide writes it.
func RowOf(e *events.Event) Row {
	return Row{InstanceID: e.InstanceID, ExecutionID: e.ExecutionID, EventID: e.EventID, Type: e.Type, Data: e.Raw}
}

// Append writes rows in one transaction, as one Duroxide ack does: the
// history rows, and the instance and execution rows they imply.
func (s *Store) Append(rows []Row) error {
	tx, err := s.DB.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	h, err := tx.Prepare("INSERT INTO history (instance_id, execution_id, event_id, event_type, event_data) VALUES (?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	inst, err := tx.Prepare(`INSERT INTO instances (instance_id, orchestration_name, orchestration_version, current_execution_id) VALUES (?, 'gen', '1.0.0', ?)
		ON CONFLICT(instance_id) DO UPDATE SET current_execution_id = max(current_execution_id, excluded.current_execution_id)`)
	if err != nil {
		return err
	}
	ex, err := tx.Prepare("INSERT OR IGNORE INTO executions (instance_id, execution_id) VALUES (?, ?)")
	if err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := h.Exec(r.InstanceID, int64(r.ExecutionID), int64(r.EventID), r.Type, string(r.Data)); err != nil {
			return fmt.Errorf("insert %s/%d/%d: %w", r.InstanceID, r.ExecutionID, r.EventID, err)
		}
		if _, err := inst.Exec(r.InstanceID, int64(r.ExecutionID)); err != nil {
			return err
		}
		if _, err := ex.Exec(r.InstanceID, int64(r.ExecutionID)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// AppendHistoryOnly writes history rows alone, as Duroxide's
// append_with_execution does (no instances or executions row).
func (s *Store) AppendHistoryOnly(rows []Row) error {
	for _, r := range rows {
		if _, err := s.DB.Exec("INSERT INTO history (instance_id, execution_id, event_id, event_type, event_data) VALUES (?, ?, ?, ?, ?)",
			r.InstanceID, int64(r.ExecutionID), int64(r.EventID), r.Type, string(r.Data)); err != nil {
			return err
		}
	}
	return nil
}

// DeleteInstance removes an instance the way Duroxide's delete_instance
// does: hard DELETEs of its rows in every table, no event written.
func (s *Store) DeleteInstance(id string) error {
	tx, err := s.DB.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range []string{"history", "executions", "orchestrator_queue", "worker_queue", "instance_locks", "kv_store", "kv_delta", "instances"} {
		if _, err := tx.Exec("DELETE FROM "+t+" WHERE instance_id = ?", id); err != nil {
			return fmt.Errorf("delete %s from %s: %w", id, t, err)
		}
	}
	return tx.Commit()
}

// Prune removes executions of an instance the way prune_executions does.
func (s *Store) Prune(id string, execs ...uint64) error {
	tx, err := s.DB.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, e := range execs {
		if _, err := tx.Exec("DELETE FROM history WHERE instance_id = ? AND execution_id = ?", id, int64(e)); err != nil {
			return err
		}
		if _, err := tx.Exec("DELETE FROM executions WHERE instance_id = ? AND execution_id = ?", id, int64(e)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Fill appends the histories of cfg (internal/gen's realistic Duroxide
// JSON), interleaved by time as a live runtime writes them, in
// transactions of about batch rows. It returns every row's key and bytes.
func (s *Store) Fill(cfg gen.Config, batch int) (map[string][]byte, error) {
	all := make(map[string][]byte)
	var rows []Row
	for m := range gen.Interleave(gen.Histories(cfg), 1000) {
		r := RowOf(m.Event)
		rows = append(rows, r)
		all[events.MsgID(r.InstanceID, r.ExecutionID, r.EventID)] = slices.Clone(r.Data)
		if len(rows) >= batch {
			if err := s.Append(rows); err != nil {
				return nil, err
			}
			rows = rows[:0]
		}
	}
	if err := s.Append(rows); err != nil {
		return nil, err
	}
	return all, nil
}

// Count is the number of history rows.
func (s *Store) Count() (int, error) {
	var n int
	err := s.DB.QueryRow("SELECT count(*) FROM history").Scan(&n)
	return n, err
}
