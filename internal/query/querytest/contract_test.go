package querytest_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/internal/query/querytest"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chread"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

const fixturesDir = "../../../../shared/contract/fixtures"

// clickhouseSubject loads a workload into a private database on the real
// ClickHouse as the projector would (history, the derived rows with their
// report cells, the queue snapshots) and reads it through the Reader.
var clickhouseSubject = querytest.Subject{Name: "clickhouse", Load: func(t *testing.T, w querytest.Workload) query.ReadModel {
	db := testenv.NewDatabase(t, "contract")
	ctx := context.Background()
	wr := chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name})
	hist := make([]chwrite.HistoryRow, len(w.Events))
	for i := range w.Events {
		hist[i] = chwrite.HistoryRow{Event: &w.Events[i], StreamSeq: uint64(i + 1)}
	}
	if err := wr.WriteHistory(ctx, hist); err != nil {
		t.Fatal(err)
	}
	rows, err := projection.DeriveAll(w.Events)
	if err != nil {
		t.Fatal(err)
	}
	if err := wr.WriteDerived(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := wr.WriteQueueSnapshots(ctx, w.Snapshots); err != nil {
		t.Fatal(err)
	}
	r, err := chread.NewReader(db.Conn, chread.ReaderConfig{Database: db.Name, MaxExecutionTime: time.Minute,
		Retention: w.Retention, Now: func() time.Time { return w.Now }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}}

var oracleSubject = querytest.Subject{Name: "oracle", Load: func(t *testing.T, w querytest.Workload) query.ReadModel {
	if w.Retention > 0 {
		return oracle.NewRetainedReadModel(w.Events, w.Snapshots, w.Now.Add(-w.Retention).UnixMilli())
	}
	return oracle.NewReadModel(w.Events, w.Snapshots)
}}

// TestContract holds the ClickHouse reader and the replay oracle to the
// same answers.
func TestContract(t *testing.T) {
	var fleet []events.Event
	// About 300 instances over three days (sub-orchestrations,
	// continue-as-new, retries, cancellations, unknown event types, a fifth
	// still running).
	for h := range gen.Histories(gen.Config{Seed: 11, Instances: 300, SpreadMs: 3 * 86_400_000, RunningFraction: 0.2,
		UnknownTypeFraction: 0.02}) {
		fleet = append(fleet, h...)
	}
	// The same fleet under a 36-hour retention: about half of it is older.
	retained := querytest.NewWorkload("retained", fleet)
	retained.Retention = 36 * time.Hour
	querytest.RunContract(t, fixturesDir, []querytest.Workload{querytest.NewWorkload("generated", fleet), retained},
		clickhouseSubject, oracleSubject)
}

// TestClickHouseUnreachable: with nothing listening at the address, every
// call is an ErrUnavailable (HTTP 503), from a pool that dials each time and
// from the lazy connection that has not connected yet.
func TestClickHouseUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{dead}, DialTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r, err := chread.NewReader(conn, chread.ReaderConfig{Database: "duroscope"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("pool", func(t *testing.T) { querytest.CheckUnavailable(t, r) })

	lazy := chconn.OpenLazy(chconn.LazyConnConfig{Conn: chconn.ConnConfig{Addrs: []string{dead}, Database: "duroscope",
		DialTimeout: 200 * time.Millisecond}})
	t.Cleanup(func() { lazy.Close() })
	lr, err := chread.NewReader(lazy, chread.ReaderConfig{Database: "duroscope"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("lazy", func(t *testing.T) { querytest.CheckUnavailable(t, lr) })
}

// TestClickHouseSchemaDefect: a database whose tables lack the columns the
// reader selects (as after a botched migration) makes every read fail with
// the server's UNKNOWN_IDENTIFIER — a defect (HTTP 500), not an outage.
func TestClickHouseSchemaDefect(t *testing.T) {
	db := testenv.NewDatabase(t, "defect")
	ctx := context.Background()
	rows, err := db.Conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? AND name != 'schema_migrations'", db.Name)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 8 {
		t.Fatalf("tables of the schema: %v", tables)
	}
	for _, tb := range tables {
		for _, q := range []string{"DROP TABLE " + db.Name + "." + tb,
			"CREATE TABLE " + db.Name + "." + tb + " (k UInt8) ENGINE = ReplacingMergeTree ORDER BY k"} {
			if err := db.Conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	r, err := chread.NewReader(db.Conn, chread.ReaderConfig{Database: db.Name})
	if err != nil {
		t.Fatal(err)
	}
	querytest.CheckDefect(t, r)
}
