// Package testenv gives integration tests and benchmarks the real
// infrastructure they run on: an embedded NATS JetStream server and a private
// database on the ClickHouse server that scripts/test.sh started. Nothing in
// here is a fake: it only sets up and tears down real servers.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/internal/natsembed"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chwrite"
	"github.com/duroscope/duroscope/schema"
)

// ClickHouseAddr is the server tests use (DUROSCOPE_TEST_CLICKHOUSE_ADDR).
func ClickHouseAddr() string {
	if a := os.Getenv("DUROSCOPE_TEST_CLICKHOUSE_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:9000"
}

// SkipIntegration reports whether integration tests were switched off.
func SkipIntegration() bool { return os.Getenv("DUROSCOPE_SKIP_INTEGRATION") == "1" }

// NATS is a running embedded JetStream server with a client connection.
type NATS struct {
	Server *server.Server
	URL    string
	NC     *nats.Conn
	JS     jetstream.JetStream
	dir    string
}

// StartNATS starts a JetStream server on a random port, stopped at cleanup.
func StartNATS(tb testing.TB) *NATS {
	tb.Helper()
	return StartNATSAt(tb, tb.TempDir(), -1)
}

// StartNATSAt starts a server with the given store dir and port (-1 =
// random); restarting on the same dir keeps the streams.
func StartNATSAt(tb testing.TB, dir string, port int) *NATS {
	tb.Helper()
	n, err := StartJetStream(dir, port)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n.Stop)
	return n
}

// StartJetStream starts an embedded JetStream server storing in dir, on
// port (-1 = random), and connects to it; the caller stops it with Stop.
// For programs that are not tests (the bench); tests use StartNATS.
func StartJetStream(dir string, port int, opts ...jetstream.JetStreamOpt) (*NATS, error) {
	s, err := natsembed.Start(natsembed.Config{StoreDir: dir, Port: port})
	if err != nil {
		return nil, fmt.Errorf("start NATS: %w", err)
	}
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		s.Shutdown()
		return nil, fmt.Errorf("connect NATS: %w", err)
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		s.Shutdown()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &NATS{Server: s, URL: s.ClientURL(), NC: nc, JS: js, dir: dir}, nil
}

// Stop shuts the server down (idempotent).
func (n *NATS) Stop() {
	n.NC.Close()
	n.Server.Shutdown()
	n.Server.WaitForShutdown()
}

// Database is a private ClickHouse database with the schema applied.
type Database struct {
	Conn driver.Conn
	Name string
	Addr string
}

// NewDatabase creates a uniquely named database, applies the schema and
// drops it at cleanup. It fails the test when ClickHouse is unreachable
// (unless DUROSCOPE_SKIP_INTEGRATION=1, then it skips).
func NewDatabase(tb testing.TB, prefix string) *Database {
	tb.Helper()
	if SkipIntegration() {
		tb.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	ctx := context.Background()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("dstest_%s_%s", prefix, hex.EncodeToString(rnd[:]))
	conn, err := chconn.Open(ctx, chconn.ConnConfig{Addrs: []string{ClickHouseAddr()}, Database: name, User: "default"})
	if err != nil {
		tb.Fatalf("ClickHouse at %s (start it with scripts/clickhouse.sh start): %v", ClickHouseAddr(), err)
	}
	if _, err := schema.Apply(ctx, conn, schema.Config{Database: name,
		Steps: chwrite.NewWriter(conn, chwrite.WriterConfig{Database: name}).SchemaSteps()}); err != nil {
		tb.Fatalf("apply schema: %v", err)
	}
	tb.Cleanup(func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name)
		conn.Close()
	})
	return &Database{Conn: conn, Name: name, Addr: ClickHouseAddr()}
}

// digestQueries give each read-model table's deduplicated contents in a
// deterministic order. Columns that legitimately differ between equivalent
// runs (the stream sequence a copy came from, insert times) are left out.
var digestQueries = map[string]string{
	"history": `SELECT instance_id, execution_id, event_id, event_type, timestamp_ms, known, payload
		FROM {db}.history_v3 ORDER BY instance_id, execution_id, event_id, timestamp_ms
		LIMIT 1 BY instance_id, execution_id, event_id, timestamp_ms`,
	"notices": `SELECT DISTINCT instance_id, notice_type, timestamp_ms, execution_ids, payload
		FROM {db}.notices ORDER BY instance_id, timestamp_ms, notice_type, execution_ids`,
	"instances":       `SELECT * FROM {db}.instances FINAL ORDER BY instance_id`,
	"executions":      `SELECT * FROM {db}.executions FINAL ORDER BY instance_id, execution_id`,
	"activities":      `SELECT * FROM {db}.activities FINAL ORDER BY instance_id, execution_id, event_id`,
	"pending_work":    `SELECT * FROM {db}.pending_work FINAL ORDER BY instance_id, execution_id, kind, correlation_id`,
	"queue_snapshots": `SELECT timestamp_ms, orchestrator_queue, worker_queue, timer_queue FROM {db}.queue_snapshots FINAL ORDER BY timestamp_ms`,
	"report_instance_facts": `SELECT * FROM {db}.report_instance_facts_v3 FINAL
		ORDER BY hour_ms, orchestration_name, orchestration_version, instance_id, created_at_ms`,
	"report_activity_facts": `SELECT * FROM {db}.report_activity_facts_v3 FINAL
		ORDER BY hour_ms, activity_name, orchestration_name, instance_id, execution_id, event_id, scheduled_at_ms`,
	"report_instance_cells": `SELECT * FROM {db}.report_instance_cells FINAL
		ORDER BY grain_ms, bucket_ms, orchestration_name, orchestration_version`,
	"report_activity_cells": `SELECT * FROM {db}.report_activity_cells FINAL
		ORDER BY grain_ms, bucket_ms, activity_name, orchestration_name`,
	"activity_stats_facts": `SELECT * FROM {db}.activity_stats_facts FINAL
		ORDER BY hour_ms, activity_name, instance_id, execution_id, event_id, scheduled_at_ms`,
	"activity_stats_cells": `SELECT * FROM {db}.activity_stats_cells FINAL ORDER BY hour_ms, activity_name`,
}

// TableDigest is each table's deduplicated row count and a digest of its
// rows, for "identical table contents" comparisons.
type TableDigest map[string]string

// Digest reads every read-model table of db. It also checks that the
// report and activity stats cells equal a recount of all their facts from scratch (the live
// path recounts only the cells it touched, and late): it recounts them all
// and fails if that changes a cell table.
func (db *Database) Digest(ctx context.Context) (TableDigest, error) {
	out := TableDigest{}
	for table, q := range digestQueries {
		d, err := db.digest(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("digest %s: %w", table, err)
		}
		out[table] = d
	}
	w := chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name})
	if err := w.RecountAll(ctx); err != nil {
		return nil, err
	}
	if err := w.RecountActivityStatsAll(ctx); err != nil {
		return nil, err
	}
	for _, table := range []string{"report_instance_cells", "report_activity_cells", "activity_stats_cells"} {
		d, err := db.digest(ctx, digestQueries[table])
		if err != nil {
			return nil, fmt.Errorf("digest %s: %w", table, err)
		}
		if d != out[table] {
			return nil, fmt.Errorf("%s differs from a recount of its facts from scratch: %s, recounted %s", table, out[table], d)
		}
	}
	return out, nil
}

// digest is the row count and a digest of the rows of query q.
func (db *Database) digest(ctx context.Context, q string) (string, error) {
	q = strings.ReplaceAll(q, "{db}", db.Name)
	var n uint64
	var sum string
	// cityHash64 over the text form of each row, combined in row order
	// by groupArray, is deterministic for equal contents.
	err := db.Conn.QueryRow(ctx, fmt.Sprintf(
		"SELECT count(), hex(cityHash64(toString(groupArray(cityHash64(toString(tuple(*))))))) FROM (%s)", q)).Scan(&n, &sum)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d rows, %s", n, sum), nil
}

// Diff lists the tables whose digests differ.
func (d TableDigest) Diff(o TableDigest) []string {
	var diff []string
	for t, v := range d {
		if o[t] != v {
			diff = append(diff, fmt.Sprintf("%s: %s vs %s", t, v, o[t]))
		}
	}
	sort.Strings(diff)
	return diff
}
