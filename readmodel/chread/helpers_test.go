package chread

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chwrite"
	"github.com/duroscope/duroscope/schema"
)

// qFixturesDir holds the contract's fixtures, relative to this package.
const qFixturesDir = "../../../shared/contract/fixtures"

// qDB is a private database with the schema applied, a Reader and a chwrite.Writer.
type qDB struct {
	conn driver.Conn
	name string
	r    *Reader
	w    *chwrite.Writer
}

// qTestDB creates a uniquely named database (other packages' tests share the
// server), applies the schema, and drops it at the end. Unreachable
// ClickHouse fails the test unless DUROSCOPE_SKIP_INTEGRATION=1.
func qTestDB(tb testing.TB, settings map[string]any) *qDB {
	tb.Helper()
	if os.Getenv("DUROSCOPE_SKIP_INTEGRATION") == "1" {
		tb.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	addr := os.Getenv("DUROSCOPE_TEST_CLICKHOUSE_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9000"
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "dstest_readmodel_q_" + hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := chconn.Open(ctx, chconn.ConnConfig{Addrs: []string{addr}, Database: name, User: "default", MaxOpenConns: 8})
	if err != nil {
		tb.Fatalf("clickhouse at %s: %v (start it with scripts/clickhouse.sh start, or set DUROSCOPE_SKIP_INTEGRATION=1)", addr, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
		conn.Close()
	})
	if _, err := schema.Apply(ctx, conn, schema.Config{Database: name,
		Steps: chwrite.NewWriter(conn, chwrite.WriterConfig{Database: name}).SchemaSteps()}); err != nil {
		tb.Fatalf("schema.Apply(%s): %v", name, err)
	}
	readConn := conn
	if settings != nil {
		// A second pool whose every query carries settings (e.g. the
		// read-only account's readonly=2).
		rc, err := chconn.Open(ctx, chconn.ConnConfig{Addrs: []string{addr}, Database: name, User: "default", MaxOpenConns: 4, Settings: settings})
		if err != nil {
			tb.Fatalf("clickhouse at %s with settings %v: %v", addr, settings, err)
		}
		tb.Cleanup(func() { rc.Close() })
		readConn = rc
	}
	r, err := NewReader(readConn, ReaderConfig{Database: name})
	if err != nil {
		tb.Fatal(err)
	}
	return &qDB{conn: conn, name: name, r: r, w: chwrite.NewWriter(conn, chwrite.WriterConfig{Database: name})}
}

// sql replaces {db} in a test's own SQL with the database name.
func (d *qDB) sql(q string) string { return strings.ReplaceAll(q, "{db}", d.name) }

// exec runs a statement with {db} replaced.
func (d *qDB) exec(tb testing.TB, q string, args ...any) {
	tb.Helper()
	if err := d.conn.Exec(context.Background(), d.sql(q), args...); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
}

// stopMerges keeps every version of every row in its own part, so a test
// sees the state a reader meets before background merges collapse versions.
func (d *qDB) stopMerges(tb testing.TB) {
	tb.Helper()
	for _, t := range []string{"history_v3", "notices", "instances", "executions", "activities", "pending_work", "queue_snapshots"} {
		d.exec(tb, "SYSTEM STOP MERGES {db}."+t)
	}
}

// write stores derived rows through the real chwrite.Writer.
func (d *qDB) write(tb testing.TB, rows ...projection.Rows) {
	tb.Helper()
	if err := d.w.WriteDerived(context.Background(), rows); err != nil {
		tb.Fatalf("WriteDerived: %v", err)
	}
}

// project stores events as the projector does: history, then the rows
// derived from every instance's whole history.
func (d *qDB) project(tb testing.TB, evs []events.Event) {
	tb.Helper()
	hr := make([]chwrite.HistoryRow, len(evs))
	for i := range evs {
		hr[i] = chwrite.HistoryRow{Event: &evs[i], StreamSeq: uint64(i + 1)}
	}
	if err := d.w.WriteHistory(context.Background(), hr); err != nil {
		tb.Fatalf("WriteHistory: %v", err)
	}
	rows, err := projection.DeriveAll(evs)
	if err != nil {
		tb.Fatalf("DeriveAll: %v", err)
	}
	d.write(tb, rows...)
}

// qLoadFixtures decodes every line of the contract's fixtures, keeping the
// raw lines per instance in publish order.
func qLoadFixtures(tb testing.TB) ([]events.Event, map[string][][]byte) {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(qFixturesDir, "*.jsonl"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no fixtures in %s: %v", qFixturesDir, err)
	}
	var out []events.Event
	raw := map[string][][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 2<<20)
		for line := 1; sc.Scan(); line++ {
			l := bytes.TrimSpace(sc.Bytes())
			if len(l) == 0 {
				continue
			}
			ev, err := events.Decode(bytes.Clone(l))
			if err != nil {
				tb.Fatalf("%s:%d: %v", f, line, err)
			}
			out = append(out, ev)
			raw[ev.InstanceID] = append(raw[ev.InstanceID], bytes.Clone(l))
		}
	}
	return out, raw
}

// qJSON normalizes v to generic JSON (maps, slices, float64) for comparison
// with expected.json.
func qJSON(tb testing.TB, v any) any {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

func qSameJSON(tb testing.TB, what string, got, want any) {
	tb.Helper()
	g, w := qJSON(tb, got), qJSON(tb, want)
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.MarshalIndent(g, "", "  ")
		wb, _ := json.MarshalIndent(w, "", "  ")
		tb.Errorf("%s:\n got: %s\nwant: %s", what, gb, wb)
	}
}

// qInst is a hand-made derivation of one instance with one execution.
func qInst(id string, version uint64, status string, created, updated int64) projection.Rows {
	execStatus := status
	var completed, dur projection.OptInt
	if status != "Running" {
		completed = projection.OptInt{Value: updated, Valid: true}
		dur = projection.OptInt{Value: updated - created, Valid: true}
	}
	return projection.Rows{
		Version: version,
		Instance: projection.InstanceRow{
			InstanceID: id, OrchestrationName: "Orch", OrchestrationVersion: "1.0.0", Status: status,
			CreatedAtMs: created, UpdatedAtMs: updated, ExecutionCount: 1, CurrentExecutionID: 1,
			DurationMs: dur, EventCount: version,
		},
		Executions: []projection.ExecutionRow{{
			InstanceID: id, ExecutionID: 1, OrchestrationName: "Orch", Status: execStatus,
			StartedAtMs: created, CompletedAtMs: completed, LastEventAtMs: updated, EventCount: version,
			DurationMs: dur,
		}},
	}
}

func qPtr[T any](v T) *T { return &v }
