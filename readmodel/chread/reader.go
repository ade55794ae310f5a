// Package chread is the query side's read adapter over ClickHouse: Reader
// answers every read of the query API (API.md) from the read model. Its
// statements live in sql/*.sql.
package chread

import (
	"context"
	"embed"
	"fmt"
	"math"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/readmodel/chconn"
)

// ReaderConfig configures a Reader.
type ReaderConfig struct {
	// Database holds the read-model tables. It is spliced into SQL unquoted,
	// so it must satisfy chconn.ValidIdentifier (NewReader refuses anything else).
	Database string
	// MaxExecutionTime bounds every query: it is sent as ClickHouse's
	// max_execution_time and used as the client-side deadline. Default 10s.
	MaxExecutionTime time.Duration
	// MaxHistoryBytes bounds one /history answer (ClickHouse's
	// max_result_bytes): an instance with a pathological history fails
	// instead of exhausting the service's memory. Default 256 MiB.
	MaxHistoryBytes uint64
	// MaxExportTime bounds one streamed export (format=csv|ndjson), which
	// reads every matching row. Default 30 minutes.
	MaxExportTime time.Duration
	// ScanShards splits every FINAL scan (lists, stats, health, problems,
	// queues) into this many instance_id ranges read in parallel
	// (shards.go): -1 = one per server thread (max_threads); 0 or 1
	// = no split, the default. Splitting pays where the server has idle
	// cores; on a saturated one the branches only compete (BENCHMARKS.md).
	// Only on the split-final path (chconn.Features): a server that reads
	// FINAL in parallel never splits.
	ScanShards int
	// Features forces the server's code paths (tests); nil = detect them
	// from the server's version at the first query (chconn.DetectFeatures).
	Features *chconn.Features
	// Retention leaves the instances whose last update (updated_at) is
	// older than Now() − Retention out of every management answer
	// (retention.go); 0 = keep all. The reports are never cut.
	Retention time.Duration
	// Now is the clock of the retention; nil = time.Now.
	Now func() time.Time
}

// Defaults of ReaderConfig.
const (
	DefaultMaxExecutionTime = 10 * time.Second
	DefaultMaxHistoryBytes  = 256 << 20
	DefaultMaxExportTime    = 30 * time.Minute
)

// Reader answers the query API (API.md) from the read model. It is safe for
// concurrent use.
//
// Every derived table is a ReplacingMergeTree(row_version): until the
// background merge runs, a key may have several versions, and the newest is
// the truth. Filtering on a non-key column before deduplicating would see a
// stale version (an old Running row of an instance that has since
// completed), so every query here deduplicates first and filters after:
//   - point lookups: WHERE <key> = ? ORDER BY row_version DESC LIMIT 1, or
//     argMax(tuple(...), row_version) GROUP BY <rest of the key>, restricted
//     by the primary key (force_primary_key=1 makes a full scan an error);
//     argMax over one tuple keeps every column from the same row even when
//     two rows tie on row_version;
//   - scans (lists, aggregates): FROM (SELECT ... FROM t FINAL) with every
//     filter on a non-key column in the outer query. FINAL merges the sorted
//     parts while reading, several times faster on 18.16 than a GROUP BY
//     over all keys. The filters must stay outside: PREWHERE runs before
//     FINAL's deduplication and would see stale rows, so scanOpts switches
//     off both ways a filter could move there (predicate push-down into the
//     subquery and the automatic WHERE→PREWHERE move).
//     TestReaderSeesOnlyNewestVersion checks every answer against stale
//     versions kept unmerged.
type Reader struct {
	conn         Conn
	db           string
	timeout      time.Duration
	historyBytes uint64
	// exportTimeout bounds streamed exports (queryOpts.export).
	exportTimeout time.Duration
	// shards splits FINAL scans into parallel key ranges (shards.go).
	shards    shardCache
	shardOpts shardOpts
	// features are the server's code paths (features.go).
	features featureCache
	// retention and now: see ReaderConfig (retention.go).
	retention time.Duration
	now       func() time.Time
}

// Reader is the query side's ClickHouse adapter.
var _ query.ReadModel = (*Reader)(nil)

// Conn is what a Reader needs of a ClickHouse connection: a driver.Conn, or
// a chconn.LazyConn for a service that starts while ClickHouse is down.
type Conn interface {
	Query(ctx context.Context, query string, args ...any) (driver.Rows, error)
	Ping(ctx context.Context) error
	ServerVersion() (*driver.ServerVersion, error)
}

// NewReader returns a Reader of cfg.Database over conn.
func NewReader(conn Conn, cfg ReaderConfig) (*Reader, error) {
	if !chconn.ValidIdentifier(cfg.Database) {
		return nil, fmt.Errorf("reader: database name %q: want letters, digits and _ only", cfg.Database)
	}
	if conn == nil {
		return nil, fmt.Errorf("reader: no ClickHouse connection")
	}
	t := cfg.MaxExecutionTime
	if t == 0 {
		t = DefaultMaxExecutionTime
	}
	if t < 0 {
		return nil, fmt.Errorf("reader: MaxExecutionTime %v: must be positive", t)
	}
	hb := cfg.MaxHistoryBytes
	if hb == 0 {
		hb = DefaultMaxHistoryBytes
	}
	et := cfg.MaxExportTime
	if et == 0 {
		et = DefaultMaxExportTime
	}
	if et < 0 {
		return nil, fmt.Errorf("reader: MaxExportTime %v: must be positive", et)
	}
	so := defaultShardOpts
	switch {
	case cfg.ScanShards == 0 || cfg.ScanShards == 1:
		so.minRows = math.MaxInt
	case cfg.ScanShards > 1:
		so.fixed = min(cfg.ScanShards, so.maxShards)
	case cfg.ScanShards != -1:
		return nil, fmt.Errorf("reader: ScanShards %d: want -1, 0 or a count", cfg.ScanShards)
	}
	if cfg.Retention < 0 {
		return nil, fmt.Errorf("reader: Retention %v: must be 0 (keep all) or positive", cfg.Retention)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	r := &Reader{conn: conn, db: cfg.Database, timeout: t, historyBytes: hb, exportTimeout: et, shardOpts: so,
		retention: cfg.Retention, now: now}
	if cfg.Features != nil {
		r.features.f, r.features.known = *cfg.Features, true
	}
	return r, nil
}

// The reader's statements, one file each in sql/ (chconn.Statements).
//
//go:embed sql/*.sql
var sqlFiles embed.FS

var statements = chconn.MustParseStatements(sqlFiles)

// dbData is the template data of a statement that needs only the database.
type dbData struct{ DB string }

// queryOpts are the per-query extras.
type queryOpts struct {
	// pointLookup sets force_primary_key=1: the query must be restricted by
	// the table's primary key, and ClickHouse refuses it otherwise, so an
	// accidental full scan is an error instead of a slow answer.
	pointLookup bool
	// scan marks a FINAL subquery with outer filters (see Reader).
	scan bool
	// partitionFinal deduplicates FINAL reads partition by partition
	// (chconn.Features.PartitionFinal: the report tables only).
	partitionFinal bool
	external       []*ext.Table
	// maxRows / maxBytes, when set, bound the result (and, in ClickHouse,
	// every subquery's result; exceeding them is an error): a guard for
	// queries whose answer size is known in advance.
	maxRows, maxBytes uint64
	// export marks a streamed export: the export deadline instead of the
	// query timeout, small blocks (the client holds one block at a time) and
	// a sort that spills to disk instead of holding every row in memory.
	export bool
}

// Export settings: rows per block sent to the client, and the sort memory
// beyond which ClickHouse sorts externally.
const (
	exportBlockRows = 1024
	exportSortBytes = 256 << 20
)

// scanOpts are the options of a scan: a FINAL subquery with outer filters
// (see Reader).
func (r *Reader) scanOpts() queryOpts { return queryOpts{scan: true} }

// reportOpts are the options of a scan of the report tables (partitioned
// by a column of their sorting key).
func (r *Reader) reportOpts(ctx context.Context) queryOpts {
	return queryOpts{scan: true, partitionFinal: r.featuresOf(ctx).PartitionFinal}
}

// ctx derives the context of one query: its deadline and ClickHouse settings.
func (r *Reader) ctx(parent context.Context, o queryOpts) (context.Context, context.CancelFunc) {
	timeout := r.timeout
	if o.export {
		timeout = r.exportTimeout
	}
	secs := int(math.Ceil(timeout.Seconds()))
	// readonly=2: every read runs in a read-only session whatever the
	// account (the writer's default user included), while still allowing
	// the per-query settings below (readonly=1 would refuse them).
	// priority: ahead of report recounts (chconn.PriorityRecount).
	settings := clickhouse.Settings{"max_execution_time": secs, "readonly": 2, "priority": chconn.PriorityRows}
	if o.pointLookup {
		settings["force_primary_key"] = 1
	}
	if o.scan {
		settings["enable_optimize_predicate_expression"] = 0
		settings["optimize_move_to_prewhere"] = 0
	}
	if o.partitionFinal {
		settings["do_not_merge_across_partitions_select_final"] = 1
	}
	if o.export {
		settings["max_block_size"] = exportBlockRows
		settings["max_bytes_before_external_sort"] = exportSortBytes
	}
	// result_overflow_mode is left at its default, throw: clickhouse-go can
	// send only integer settings to a server as old as 18.16.
	if o.maxRows > 0 {
		settings["max_result_rows"] = int(o.maxRows)
	}
	if o.maxBytes > 0 {
		settings["max_result_bytes"] = int(o.maxBytes)
	}
	// The client-side deadline ends a request even when the server or the
	// network stalls. (The driver then sends max_execution_time as the
	// deadline plus a few seconds, which the deadline makes moot.)
	ctx, cancel := context.WithTimeout(parent, timeout)
	ctx = chconn.WithSettings(ctx, settings)
	if len(o.external) > 0 {
		ctx = chconn.WithExternalTables(ctx, o.external...)
	}
	return ctx, cancel
}

// query renders the statement file stmt with data, runs it with args (bound
// by name: clickhouse.Named) and calls scan for every row.
func (r *Reader) query(ctx context.Context, o queryOpts, what, stmt string, data any, args []any, scan func(driver.Rows) error) error {
	q, err := statements.Render(stmt, data)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return r.run(ctx, o, what, q, args, scan)
}

// run runs the SQL text q and calls scan for every row.
func (r *Reader) run(ctx context.Context, o queryOpts, what, q string, args []any, scan func(driver.Rows) error) error {
	qctx, cancel := r.ctx(ctx, o)
	defer cancel()
	rows, err := r.conn.Query(qctx, q, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		// Not classified: a scan error is a defect of this code, and an
		// error of emit (the caller's) goes back as it is.
		if err := scan(rows); err != nil {
			return fmt.Errorf("%s: scan: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, classify(err))
	}
	return nil
}

// Ping checks that ClickHouse answers (the query service's /readyz).
func (r *Reader) Ping(ctx context.Context) error {
	ctx, cancel := r.ctx(ctx, queryOpts{})
	defer cancel()
	if err := r.conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse ping: %w", classify(err))
	}
	return nil
}

// idTable builds an external table "_ids" with one String column "id", so a
// long id list travels as data instead of inflating the query text past
// ClickHouse's max_query_size.
func idTable(ids []string) (*ext.Table, error) {
	t, err := ext.NewTable("_ids", ext.Column("id", "String"))
	if err != nil {
		return nil, fmt.Errorf("external id table: %w", err)
	}
	for _, id := range ids {
		if err := t.Append(id); err != nil {
			return nil, fmt.Errorf("external id table: %w", err)
		}
	}
	return t, nil
}

// inList is a list of values for "x IN @name": a parenthesized list (a Go
// slice would be bound as an array, which 18.16 refuses on the right of IN).
func inList[T any](vs []T) clickhouse.GroupSet {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return clickhouse.GroupSet{Value: out}
}
