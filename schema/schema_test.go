package schema

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []statement
		wantErr string
	}{
		{
			name: "two statements, comments stripped",
			body: "-- header\n-- more\n\nCREATE TABLE a (x UInt8) ENGINE = Memory;\n\n  -- between\nCREATE TABLE b (\n  y String -- trailing\n) ENGINE = Memory;\n",
			want: []statement{
				{SQL: "CREATE TABLE a (x UInt8) ENGINE = Memory", Line: 4},
				{SQL: "CREATE TABLE b (\n  y String -- trailing\n) ENGINE = Memory", Line: 7},
			},
		},
		{
			name: "semicolon inside a line does not split",
			body: "SELECT 'a;b', 1;\nSELECT 2;",
			want: []statement{{SQL: "SELECT 'a;b', 1", Line: 1}, {SQL: "SELECT 2", Line: 2}},
		},
		{
			name: "comment-only chunks and comment lines ending in ; are ignored",
			body: "-- nothing here;\n\n-- still nothing;\n",
			want: nil,
		},
		{
			name: "last statement without semicolon",
			body: "SELECT 1;\nSELECT 2\n-- tail\n",
			want: []statement{{SQL: "SELECT 1", Line: 1}, {SQL: "SELECT 2", Line: 2}},
		},
		{
			name: "requires gates only the next statement",
			body: "-- requires: 20.1\nALTER TABLE t MODIFY TTL d;\nSELECT 1;\n  --   requires:   21  \nSELECT 2;\n",
			want: []statement{
				{SQL: "ALTER TABLE t MODIFY TTL d", Requires: serverVersion{20, 1}, Line: 2},
				{SQL: "SELECT 1", Line: 3},
				{SQL: "SELECT 2", Requires: serverVersion{21, 0}, Line: 5},
			},
		},
		{name: "requires with a bad version", body: "-- requires: twenty\nSELECT 1;", wantErr: "not a number"},
		{name: "misspelled requires", body: "-- requires 20.1\nSELECT 1;", wantErr: "write the gate as"},
		{name: "requires twice", body: "-- requires: 20.1\n-- requires: 21.1\nSELECT 1;", wantErr: "once"},
		{name: "requires inside a statement", body: "SELECT\n-- requires: 20.1\n1;", wantErr: "before its statement"},
		{name: "requires at end of file", body: "SELECT 1;\n-- requires: 20.1\n", wantErr: "gates no statement"},
		{
			name: "a Go step between statements",
			body: "SELECT 1;\n-- step: fill_it\n-- a comment about the step\nSELECT 2;\n",
			want: []statement{{SQL: "SELECT 1", Line: 1}, {Step: "fill_it", Line: 2}, {SQL: "SELECT 2", Line: 4}},
		},
		{name: "misspelled step", body: "-- Step: Fill\nSELECT 1;", wantErr: "write a Go step"},
		{name: "step inside a statement", body: "SELECT\n-- step: x\n1;", wantErr: "between statements"},
		{name: "gated step", body: "-- requires: 20.1\n-- step: x\nSELECT 1;", wantErr: "ungated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitStatements(tc.body)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestParseServerVersion(t *testing.T) {
	tests := []struct {
		in   string
		want serverVersion
		ok   bool
	}{
		{"18.16.1", serverVersion{18, 16}, true},
		{"21.8.10.19", serverVersion{21, 8}, true},
		{"20.1", serverVersion{20, 1}, true},
		{"22", serverVersion{22, 0}, true},
		{"", serverVersion{}, false},
		{"x.1", serverVersion{}, false},
		{"20.y", serverVersion{}, false},
		{"0.0", serverVersion{}, false},
	}
	for _, tc := range tests {
		got, err := parseServerVersion(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseServerVersion(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if !(serverVersion{18, 16}).AtLeast(serverVersion{18, 16}) || (serverVersion{18, 16}).AtLeast(serverVersion{20, 1}) ||
		!(serverVersion{20, 0}).AtLeast(serverVersion{18, 16}) {
		t.Error("AtLeast orders versions wrongly")
	}
}

func TestGatesStillUnmet(t *testing.T) {
	tests := []struct {
		skipped string
		server  serverVersion
		want    bool
	}{
		{"", serverVersion{18, 16}, true},
		{"20.1", serverVersion{18, 16}, true},
		{"20.1", serverVersion{20, 1}, false},
		{"20.1,22.3", serverVersion{21, 0}, false},
		{"20.1,22.3", serverVersion{19, 0}, true},
		{"garbage", serverVersion{18, 16}, false},
	}
	for _, tc := range tests {
		if got := gatesStillUnmet(tc.skipped, tc.server); got != tc.want {
			t.Errorf("gatesStillUnmet(%q, %v) = %v, want %v", tc.skipped, tc.server, got, tc.want)
		}
	}
}

// backfillRe matches an INSERT ... SELECT backfill and captures its table.
var backfillRe = regexp.MustCompile(`(?is)^\s*INSERT\s+INTO\s+\{db\}\.(\w+)\s*\(.*\)\s*SELECT\b`)

// collapsingRe matches the creation of a ReplacingMergeTree table.
var collapsingRe = regexp.MustCompile(`(?is)^\s*CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+\{db\}\.(\w+)\b.*ENGINE\s*=\s*ReplacingMergeTree\b`)

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	vs := Versions()
	if len(vs) == 0 || vs[0] != 1 || !sort.IntsAreSorted(vs) {
		t.Fatalf("Versions() = %v, want ascending starting at 1", vs)
	}
	// Tables whose engine collapses rows with the same key (and version).
	collapsing := map[string]bool{}
	for _, m := range ms {
		for _, st := range m.Statements {
			if c := collapsingRe.FindStringSubmatch(st.SQL); c != nil {
				collapsing[c[1]] = true
			}
		}
	}
	for _, m := range ms {
		if len(m.Statements) == 0 {
			t.Errorf("%s has no statements", m.Name)
		}
		for _, st := range m.Statements {
			if st.Step != "" {
				if st.Step != StepReportsBackfill && st.Step != StepReportsV3 && st.Step != StepActivityStatsBackfill && st.Step != StepRetentionPartitions {
					t.Errorf("%s line %d names the Go step %q, which this package does not declare", m.Name, st.Line, st.Step)
				}
				continue
			}
			// A statement without {db} would act on the connection's default
			// database, not the configured one.
			if !strings.Contains(st.SQL, "{db}.") {
				t.Errorf("%s line %d does not name {db}: %.60s", m.Name, st.Line, st.SQL)
			}
			if backfillRe.MatchString(st.SQL) {
				// A backfill is idempotent only into a table whose engine
				// collapses re-inserted rows (package doc).
				target := backfillRe.FindStringSubmatch(st.SQL)[1]
				if !collapsing[target] {
					t.Errorf("%s line %d backfills %s, which is not a ReplacingMergeTree created by the migrations", m.Name, st.Line, target)
				}
				continue
			}
			if !createIfNotExistsRe.MatchString(st.SQL) && !addColumnRe.MatchString(st.SQL) && !strings.Contains(strings.ToUpper(st.SQL), "IF NOT EXISTS") &&
				!strings.Contains(strings.ToUpper(st.SQL), "IF EXISTS") {
				t.Errorf("%s line %d is not idempotent (no IF [NOT] EXISTS): %.60s", m.Name, st.Line, st.SQL)
			}
		}
	}
}

func TestLoadMigrationsFromRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name    string
		files   fstest.MapFS
		wantErr string
	}{
		{"bad name", fstest.MapFS{"m/init.sql": {Data: []byte("SELECT 1;")}}, "want <number>_<name>.sql"},
		{"duplicate version", fstest.MapFS{
			"m/0001_a.sql": {Data: []byte("SELECT 1;")},
			"m/001_b.sql":  {Data: []byte("SELECT 1;")},
		}, "same version 1"},
		{"zero version", fstest.MapFS{"m/0000_a.sql": {Data: []byte("SELECT 1;")}}, "positive"},
		{"bad gate", fstest.MapFS{"m/0002_a.sql": {Data: []byte("-- requires: x\nSELECT 1;")}}, "0002_a.sql"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadMigrationsFrom(tc.files, "m")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	ms, err := loadMigrationsFrom(fstest.MapFS{
		"m/0010_b.sql":     {Data: []byte("SELECT 10;")},
		"m/0002_a.sql":     {Data: []byte("SELECT 2;")},
		"m/README.md":      {Data: []byte("not a migration")},
		"m/0003_dir.sql/x": {Data: []byte("a directory is not a migration")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 2 || ms[1].Version != 10 {
		t.Fatalf("got %+v, want versions 2 then 10", ms)
	}
}

// --- integration tests against the real ClickHouse ---

// testConn connects to the test ClickHouse and returns a fresh database name
// that is dropped when the test ends. Unreachable ClickHouse fails the test
// unless DUROSCOPE_SKIP_INTEGRATION=1.
func testConn(t *testing.T) (driver.Conn, string) {
	t.Helper()
	if os.Getenv("DUROSCOPE_SKIP_INTEGRATION") == "1" {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	addr := os.Getenv("DUROSCOPE_TEST_CLICKHOUSE_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9000"
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Protocol:    clickhouse.Native,
		Auth:        clickhouse.Auth{Database: "default", Username: "default"},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("clickhouse at %s: %v (set DUROSCOPE_SKIP_INTEGRATION=1 to skip)", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("clickhouse at %s does not answer: %v (start it with scripts/clickhouse.sh start, or set DUROSCOPE_SKIP_INTEGRATION=1)", addr, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	db := "dstest_schema_" + hex.EncodeToString(rnd[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop test database %s: %v", db, err)
		}
		conn.Close()
	})
	return conn, db
}

func tablesOf(t *testing.T, conn driver.Conn, db string) []string {
	t.Helper()
	var names []string
	rows, err := conn.Query(context.Background(), "SELECT name FROM system.tables WHERE database = ? ORDER BY name", db)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// wantTables are the tables of the embedded migrations with their Go steps
// skipped (skipSteps): migration 0005's partitioned copies (<name>_p) are
// not swapped in (chwrite's PartitionTables is tested there).
var wantTables = []string{"activities", "activities_p", "activity_stats_cells", "activity_stats_facts", "activity_stats_recounts", "activity_stats_touches",
	"executions", "executions_p", "history", "history_v3", "history_v3_p", "instances", "instances_p", "notices", "notices_p",
	"pending_work", "pending_work_p", "queue_snapshots",
	"report_activity_cells", "report_activity_facts", "report_activity_facts_v3", "report_instance_cells", "report_instance_facts",
	"report_instance_facts_v3", "schema_migrations"}

func recordedVersions(t *testing.T, conn driver.Conn, db string) []int {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT DISTINCT version FROM "+db+".schema_migrations ORDER BY version")
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, int(v))
	}
	return out
}

func TestApplyTwice(t *testing.T) {
	conn, db := testConn(t)
	ctx := context.Background()

	applied, err := Apply(ctx, conn, Config{Database: db, Steps: skipSteps})
	if err != nil {
		t.Fatalf("first Apply: %v", err)
	}
	if !slices.Equal(applied, Versions()) {
		t.Fatalf("first Apply ran %v, want %v", applied, Versions())
	}
	if got := tablesOf(t, conn, db); !slices.Equal(got, wantTables) {
		t.Fatalf("tables = %v, want %v", got, wantTables)
	}
	applied, err = Apply(ctx, conn, Config{Database: db, Steps: skipSteps})
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if len(applied) != 0 {
		t.Fatalf("second Apply ran %v, want nothing", applied)
	}
	if got := recordedVersions(t, conn, db); !slices.Equal(got, Versions()) {
		t.Fatalf("recorded versions = %v, want %v", got, Versions())
	}
}

func TestApplyConcurrent(t *testing.T) {
	conn, db := testConn(t)
	ctx := context.Background()

	const n = 3
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Apply(ctx, conn, Config{Database: db, Steps: skipSteps})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Apply %d: %v", i, err)
		}
	}
	if got := tablesOf(t, conn, db); !slices.Equal(got, wantTables) {
		t.Fatalf("tables = %v, want %v", got, wantTables)
	}
	if got := recordedVersions(t, conn, db); !slices.Equal(got, Versions()) {
		t.Fatalf("recorded versions = %v, want %v", got, Versions())
	}
	applied, err := Apply(ctx, conn, Config{Database: db, Steps: skipSteps})
	if err != nil || len(applied) != 0 {
		t.Fatalf("Apply after the concurrent ones = %v, %v; want nothing to do", applied, err)
	}
}

func TestApplyVersionGates(t *testing.T) {
	conn, db := testConn(t)
	ctx := context.Background()
	ms, err := loadMigrationsFrom(fstest.MapFS{
		"m/0001_base.sql": {Data: []byte(
			"CREATE TABLE IF NOT EXISTS {db}.base (x UInt8) ENGINE = Memory;\n" +
				"-- requires: 1.1\n" +
				"CREATE TABLE IF NOT EXISTS {db}.old_enough (x UInt8) ENGINE = Memory;\n" +
				"-- requires: 99.0\n" +
				"CREATE TABLE IF NOT EXISTS {db}.from_the_future (x UInt8) ENGINE = Memory;\n")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}

	// The real server (18.16) runs the ungated and the 1.1 statement and
	// skips the 99.0 one.
	applied, err := apply(ctx, conn, Config{Database: db}, ms)
	if err != nil || !slices.Equal(applied, []int{1}) {
		t.Fatalf("apply = %v, %v; want [1]", applied, err)
	}
	if got := tablesOf(t, conn, db); !slices.Equal(got, []string{"base", "old_enough", "schema_migrations"}) {
		t.Fatalf("tables on the real server = %v", got)
	}
	var skipped string
	if err := conn.QueryRow(ctx, "SELECT skipped_requires FROM "+db+".schema_migrations WHERE version = 1").Scan(&skipped); err != nil {
		t.Fatal(err)
	}
	if skipped != "99.0" {
		t.Fatalf("skipped_requires = %q, want 99.0", skipped)
	}
	// Still too old: nothing to re-run.
	if applied, err := apply(ctx, conn, Config{Database: db}, ms); err != nil || len(applied) != 0 {
		t.Fatalf("re-apply on the same server = %v, %v; want nothing", applied, err)
	}
	// After an "upgrade" the migration runs again and the gate is met.
	applied, err = apply(ctx, conn, Config{Database: db, ServerVersion: "99.2.1"}, ms)
	if err != nil || !slices.Equal(applied, []int{1}) {
		t.Fatalf("apply after upgrade = %v, %v; want [1]", applied, err)
	}
	if got := tablesOf(t, conn, db); !slices.Equal(got, []string{"base", "from_the_future", "old_enough", "schema_migrations"}) {
		t.Fatalf("tables after upgrade = %v", got)
	}
	if applied, err := apply(ctx, conn, Config{Database: db, ServerVersion: "99.2.1"}, ms); err != nil || len(applied) != 0 {
		t.Fatalf("re-apply after upgrade = %v, %v; want nothing", applied, err)
	}
}

func TestApplyErrors(t *testing.T) {
	conn, db := testConn(t)
	ctx := context.Background()
	if _, err := Apply(ctx, conn, Config{Database: "bad-name; DROP"}); err == nil || !strings.Contains(err.Error(), "database name") {
		t.Fatalf("bad database name: err = %v", err)
	}
	ms, err := loadMigrationsFrom(fstest.MapFS{
		"m/0001_ok.sql":     {Data: []byte("CREATE TABLE IF NOT EXISTS {db}.ok (x UInt8) ENGINE = Memory;")},
		"m/0002_broken.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS {db}.broken (x NoSuchType) ENGINE = Memory;")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	applied, err := apply(ctx, conn, Config{Database: db}, ms)
	if err == nil || !strings.Contains(err.Error(), "0002_broken.sql") {
		t.Fatalf("err = %v, want one naming 0002_broken.sql", err)
	}
	if !slices.Equal(applied, []int{1}) {
		t.Fatalf("applied = %v, want [1] (the migration before the broken one)", applied)
	}
	if got := recordedVersions(t, conn, db); !slices.Equal(got, []int{1}) {
		t.Fatalf("recorded = %v, want [1]: a failed migration must not be recorded", got)
	}
}

// skipSteps supplies every Go step of the embedded migrations as a no-op:
// these tests are about the DDL (the report backfill itself is tested
// against the live writer in readmodel/chwrite).
var skipSteps = map[string]Step{
	StepReportsBackfill:       func(context.Context) error { return nil },
	StepReportsV3:             func(context.Context) error { return nil },
	StepActivityStatsBackfill: func(context.Context) error { return nil },
	StepRetentionPartitions:   func(context.Context) error { return nil },
}

// TestApplyRunsGoSteps: a Go step runs once, in its place in the migration
// (after the statements before it), is not run again once the migration is
// recorded, and a missing or failing step fails Apply without recording
// the migration.
func TestApplyRunsGoSteps(t *testing.T) {
	conn, db := testConn(t)
	ctx := context.Background()
	ms, err := loadMigrationsFrom(fstest.MapFS{
		"m/0001_base.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS {db}.base (x UInt8) ENGINE = Memory;")},
		"m/0002_fill.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS {db}.filled (x UInt8) ENGINE = Memory;\n-- step: fill\n")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apply(ctx, conn, Config{Database: db}, ms); err == nil || !strings.Contains(err.Error(), `"fill"`) {
		t.Fatalf("missing step: err = %v, want one naming the step", err)
	}
	if got := recordedVersions(t, conn, db); !slices.Equal(got, []int{1}) {
		t.Fatalf("recorded = %v, want [1]: a migration whose step did not run must not be recorded", got)
	}
	boom := errors.New("boom")
	fail := map[string]Step{"fill": func(context.Context) error { return boom }}
	if _, err := apply(ctx, conn, Config{Database: db, Steps: fail}, ms); !errors.Is(err, boom) {
		t.Fatalf("failing step: err = %v, want it wrapped", err)
	}
	runs := 0
	steps := map[string]Step{"fill": func(ctx context.Context) error {
		runs++
		// The statements before the step have run.
		return conn.Exec(ctx, "INSERT INTO "+db+".filled (x) SELECT 7")
	}}
	if applied, err := apply(ctx, conn, Config{Database: db, Steps: steps}, ms); err != nil || !slices.Equal(applied, []int{2}) {
		t.Fatalf("apply = %v, %v; want [2]", applied, err)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".filled").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows the step wrote: %d, %v; want 1", n, err)
	}
	if applied, err := apply(ctx, conn, Config{Database: db, Steps: steps}, ms); err != nil || len(applied) != 0 || runs != 1 {
		t.Fatalf("re-apply = %v, %v, step runs %d; want nothing and one run", applied, err, runs)
	}
	// A database that recorded the migration needs no step supplied.
	if _, err := apply(ctx, conn, Config{Database: db}, ms); err != nil {
		t.Fatalf("apply without steps after the step ran: %v", err)
	}
}

// A database at version 2 with data upgrades in place: the derived tables
// gain deleted = 0, the history is copied into the version-3 table (the
// facts are, by the Go step: readmodel/chwrite's tests), and running 0003
// again (a second projector) changes nothing.
func TestUpgradeTo3KeepsData(t *testing.T) {
	conn, db := testConn(t)
	ctx := context.Background()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apply(ctx, conn, Config{Database: db, Steps: skipSteps}, ms[:2]); err != nil {
		t.Fatalf("apply 0001-0002: %v", err)
	}
	for _, q := range []string{
		`INSERT INTO {db}.history (instance_id, execution_id, event_id, event_type, timestamp_ms, known, payload, stream_seq)
			SELECT 'a', 1, number + 1, 'OrchestrationStarted', 10 + number, 1, '{}', 1 FROM system.numbers LIMIT 2`,
		`INSERT INTO {db}.instances (instance_id, orchestration_name, orchestration_version, status, created_at_ms, updated_at_ms,
			execution_count, current_execution_id, pending_activities, pending_timers, pending_events, pending_sub_orchestrations,
			event_count, row_version) SELECT 'a', 'O', '1', 'Running', 10, 11, 1, 1, 1, 0, 0, 0, 2, 2`,
		`INSERT INTO {db}.report_instance_facts (hour_ms, orchestration_name, orchestration_version, instance_id, created_at_ms,
			status, duration_ms, duration_bin, err_category, err_kind, err_message, row_version)
			SELECT 0, 'O', '1', 'a', 10, 'Running', 0, 0, '', '', '', 2`,
		`INSERT INTO {db}.report_activity_facts (hour_ms, activity_name, orchestration_name, instance_id, execution_id, event_id,
			is_system, scheduled_at_ms, outcome, duration_ms, duration_bin, err_category, err_kind, err_message, row_version)
			SELECT 0, 'Charge', 'O', 'a', 1, 2, 0, 11, 'Pending', 0, 0, '', '', '', 2`,
	} {
		if err := conn.Exec(ctx, strings.ReplaceAll(q, "{db}", db)); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	for range 2 {
		if _, err := apply(ctx, conn, Config{Database: db, Steps: skipSteps}, ms); err != nil {
			t.Fatalf("apply 0003: %v", err)
		}
		// A second projector re-running the whole migration.
		for _, st := range ms[2].Statements {
			if st.Step != "" {
				continue
			}
			if err := execDDL(ctx, conn, strings.ReplaceAll(st.SQL, "{db}", db)); err != nil {
				t.Fatalf("re-run 0003 line %d: %v", st.Line, err)
			}
		}
	}
	for q, want := range map[string]uint64{
		"SELECT count() FROM (SELECT * FROM {db}.history_v3 FINAL)": 2,
		"SELECT count() FROM {db}.instances WHERE deleted = 0":      1,
	} {
		var got uint64
		if err := conn.QueryRow(ctx, strings.ReplaceAll(q, "{db}", db)).Scan(&got); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
}

// A database at version 4 with data upgrades to 0005: every row is copied
// into the partitioned tables, each with its instance's largest updated_at
// as last_seen_ms (so every version of an instance lands in one month), and
// running the copies again (a second projector) changes nothing the
// readers see. The swap itself is chwrite's Go step (tested there).
func TestUpgradeTo5CopiesRows(t *testing.T) {
	conn, db := testConn(t)
	ctx := context.Background()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apply(ctx, conn, Config{Database: db, Steps: skipSteps}, ms[:4]); err != nil {
		t.Fatalf("apply 0001-0004: %v", err)
	}
	const nov, dec = 1762000000000, 1765000000000 // 2025-11-01, 2025-12-06
	for _, q := range []string{
		`INSERT INTO {db}.history_v3 (instance_id, execution_id, event_id, event_type, timestamp_ms, known, payload, stream_seq)
			SELECT 'a', 1, number + 1, 'OrchestrationStarted', ` + fmt.Sprint(nov) + ` + number, 1, '{}', 1 FROM system.numbers LIMIT 2`,
		// Two versions of a, the newer updated in December; b's newest is a tombstone (updated_at 0).
		`INSERT INTO {db}.instances (instance_id, orchestration_name, orchestration_version, status, created_at_ms, updated_at_ms,
			execution_count, current_execution_id, pending_activities, pending_timers, pending_events, pending_sub_orchestrations,
			event_count, deleted, row_version)
			SELECT 'a', 'O', '1', 'Running', ` + fmt.Sprint(nov) + `, ` + fmt.Sprint(nov) + `, 1, 1, 1, 0, 0, 0, 1, 0, 1
			UNION ALL SELECT 'a', 'O', '1', 'Completed', ` + fmt.Sprint(nov) + `, ` + fmt.Sprint(dec) + `, 1, 1, 0, 0, 0, 0, 2, 0, 2
			UNION ALL SELECT 'b', 'O', '1', 'Running', ` + fmt.Sprint(nov) + `, ` + fmt.Sprint(nov) + `, 1, 1, 0, 0, 0, 0, 1, 0, 1
			UNION ALL SELECT 'b', '', '', '', 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2`,
		`INSERT INTO {db}.executions (instance_id, execution_id, orchestration_name, status, started_at_ms, last_event_at_ms,
			event_count, deleted, row_version) SELECT 'a', 1, 'O', 'Completed', ` + fmt.Sprint(nov) + `, ` + fmt.Sprint(dec) + `, 2, 0, 2`,
		`INSERT INTO {db}.notices (instance_id, notice_type, timestamp_ms, execution_ids, payload, stream_seq)
			SELECT 'b', 'InstanceDeleted', ` + fmt.Sprint(dec) + `, CAST([] AS Array(UInt64)), '{}', 3`,
	} {
		if err := conn.Exec(ctx, strings.ReplaceAll(q, "{db}", db)); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	for range 2 {
		if _, err := apply(ctx, conn, Config{Database: db, Steps: skipSteps}, ms); err != nil {
			t.Fatalf("apply 0005: %v", err)
		}
		for _, st := range ms[4].Statements {
			if st.Step != "" {
				continue
			}
			if err := execDDL(ctx, conn, strings.ReplaceAll(st.SQL, "{db}", db)); err != nil {
				t.Fatalf("re-run 0005 line %d: %v", st.Line, err)
			}
		}
	}
	for q, want := range map[string]uint64{
		"SELECT count() FROM (SELECT * FROM {db}.history_v3_p FINAL)":                                                  2,
		"SELECT count() FROM (SELECT * FROM {db}.notices_p FINAL)":                                                     1,
		"SELECT count() FROM (SELECT * FROM {db}.instances_p FINAL)":                                                   2,
		"SELECT count() FROM {db}.instances_p FINAL WHERE instance_id = 'a' AND status = 'Completed'":                  1,
		"SELECT count() FROM {db}.instances_p FINAL WHERE instance_id = 'b' AND deleted = 1":                           1,
		"SELECT toUInt64(uniqExact(last_seen_ms)) FROM {db}.instances_p WHERE instance_id = 'a'":                       1,
		"SELECT toUInt64(max(last_seen_ms)) FROM {db}.instances_p WHERE instance_id = 'a'":                             dec,
		"SELECT toUInt64(min(last_seen_ms)) FROM {db}.instances_p WHERE instance_id = 'b'":                             nov,
		"SELECT toUInt64(max(last_seen_ms)) FROM {db}.executions_p FINAL WHERE instance_id = 'a' AND execution_id = 1": dec,
	} {
		var got uint64
		if err := conn.QueryRow(ctx, strings.ReplaceAll(q, "{db}", db)).Scan(&got); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
}
