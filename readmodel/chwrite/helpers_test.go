package chwrite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/schema"
)

// testDB is a private database with the schema applied and a Writer of it.
type testDB struct {
	conn driver.Conn
	name string
	w    *Writer
}

// newTestDB creates a uniquely named database (other packages' tests share
// the server), applies the schema, and drops it at the end. Unreachable
// ClickHouse fails the test unless DUROSCOPE_SKIP_INTEGRATION=1.
func newTestDB(tb testing.TB) *testDB {
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
	name := "dstest_chwrite_" + hex.EncodeToString(rnd[:])
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
	w := NewWriter(conn, WriterConfig{Database: name})
	if _, err := schema.Apply(ctx, conn, schema.Config{Database: name, Steps: w.SchemaSteps()}); err != nil {
		tb.Fatalf("schema.Apply(%s): %v", name, err)
	}
	return &testDB{conn: conn, name: name, w: w}
}

// writerTestDB is newTestDB for tests that want its parts.
func writerTestDB(tb testing.TB) (driver.Conn, *Writer, string) {
	tb.Helper()
	d := newTestDB(tb)
	return d.conn, d.w, d.name
}

// exec runs a statement with {db} replaced by the database name.
func (d *testDB) exec(tb testing.TB, q string, args ...any) {
	tb.Helper()
	if err := d.conn.Exec(context.Background(), strings.ReplaceAll(q, "{db}", d.name), args...); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
}
