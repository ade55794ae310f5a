// Package schema creates and upgrades Duroscope's ClickHouse read model.
//
// The DDL lives in migrations/NNNN_name.sql (embedded in the binary). Apply
// runs every numbered file that the database has not recorded yet in its
// schema_migrations table, in version order, and records it.
//
// Migration file rules:
//   - "{db}" is replaced by the configured database name.
//   - Statements end with ';' at the end of a line; "--" comment lines are
//     stripped (see splitStatements for the exact rules).
//   - Every statement must be idempotent (CREATE ... IF NOT EXISTS, ALTER ...
//     IF NOT EXISTS where the server has it; 18.16 has no ADD COLUMN IF NOT
//     EXISTS, so "ALTER TABLE {db}.t ADD COLUMN c ..." finding c already
//     there counts as done): Apply can run twice, and two
//     projectors starting together both run the same migration concurrently.
//     Nothing is locked; idempotent DDL is what makes that safe.
//   - A backfill (INSERT INTO {db}.t (...) SELECT ...) is idempotent when t
//     is a ReplacingMergeTree whose rows carry the version they were derived
//     at: running it again only adds copies that the version collapses
//     (TestEmbeddedMigrations checks the engine).
//   - Go steps: a comment line "-- step: NAME" runs, at that point of the
//     migration, the function the caller supplies as Config.Steps[NAME]
//     (Apply fails when it is missing). A step is for work whose SQL has its
//     home elsewhere: 0002_reports backfills the report tables with the
//     writer's own statements (chwrite), so the backfill can never drift
//     from the live writer, and the shipped file never needs editing for it.
//     This package imports none of its callers; they supply the function.
//     A step must be idempotent like every statement.
//   - Version gates: a comment line "-- requires: 20.1" directly before a
//     statement runs that statement only on ClickHouse >= 20.1. The reference
//     server is 18.16, so features newer than that (TTL, DateTime64, ...) go
//     behind a gate and the migration remains valid on 18.16. When a gated
//     statement is skipped, the migration is recorded with the skipped gate;
//     once the server has been upgraded far enough, the next Apply runs the
//     whole migration again (harmless, it is idempotent) so the gated
//     statements take effect without a new migration file.
package schema

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"
)

// Config says which database Apply manages.
type Config struct {
	// Database is created if missing; letters, digits and _ only.
	Database string
	// ServerVersion optionally states the server's version ("18.16.1" or
	// "20.1"); empty = ask the server with SELECT version().
	ServerVersion string
	// Logger receives one line per applied migration and skipped statement.
	// The zero value logs nothing.
	Logger zerolog.Logger
	// Steps supplies the Go steps that migrations name ("-- step: NAME"),
	// by name (StepReportsBackfill, ...). Apply fails when a migration it
	// has to run names a step missing here; nil is enough for a database
	// whose migrations with steps are all recorded.
	Steps map[string]Step
}

// Step is the Go part of a migration (see "Go steps" above). It runs with
// Apply's context, on the database Apply manages.
type Step func(ctx context.Context) error

// The Go steps the embedded migrations name.
const (
	// StepReportsBackfill (0002_reports) fills the report fact tables from
	// the version-1 tables and counts every report cell from the facts.
	StepReportsBackfill = "reports_backfill"
	// StepReportsV3 (0003_notices) copies the report facts into the
	// version-3 fact tables and counts every report cell from them.
	StepReportsV3 = "reports_v3"
	// StepActivityStatsBackfill (0004_activity_stats) fills the activity
	// stats facts from the activities table and counts every stats cell.
	StepActivityStatsBackfill = "activity_stats_backfill"
	// StepRetentionPartitions (0005_retention) swaps the partitioned
	// copies of the instance tables in for the unpartitioned ones.
	StepRetentionPartitions = "retention_partitions"
)

// Versions returns the versions of the embedded migrations in ascending
// order. It panics if an embedded file is malformed: that is a build defect,
// caught by this package's tests before any binary ships.
func Versions() []int {
	ms, err := loadMigrations()
	if err != nil {
		panic(fmt.Sprintf("schema: embedded migrations are malformed: %v", err))
	}
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.Version
	}
	return out
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ValidIdentifier reports whether s can be spliced into SQL unquoted as a
// database name: letters, digits and _, not starting with a digit, at most
// 63 characters. The one home of that rule (the read model, the
// configuration and the migrations all check it).
func ValidIdentifier(s string) bool { return identRe.MatchString(s) }

// ClickHouse error codes that an idempotent CREATE can still raise when two
// clients create the same object at the same moment: old servers check
// existence and create in two steps without a lock between them.
const (
	codeDuplicateColumn       = 15 // current servers: "column with this name already exists"
	codeIllegalColumn         = 44 // 18.16: also "column with this name already exists"
	codeTableAlreadyExists    = 57
	codeDatabaseAlreadyExists = 82
)

// addColumnRe matches a single ADD COLUMN, which is idempotent when the
// column turns out to exist already.
var addColumnRe = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+\S+\s+ADD\s+COLUMN\s+\w+\s+[^,]*$`)

var createIfNotExistsRe = regexp.MustCompile(`(?is)^\s*CREATE\s+(?:MATERIALIZED\s+VIEW|VIEW|TABLE|DATABASE|DICTIONARY)\s+IF\s+NOT\s+EXISTS\b`)

// Apply brings cfg.Database up to the newest embedded migration and returns
// the versions it ran in this call (empty when the schema was already
// current). It is safe to call repeatedly and from several processes at once.
// On error, applied lists the migrations completed (and recorded) before the
// failing one; the failing one is not recorded, so the next Apply retries it.
func Apply(ctx context.Context, conn driver.Conn, cfg Config) (applied []int, err error) {
	if !ValidIdentifier(cfg.Database) {
		return nil, fmt.Errorf("schema: database name %q: want letters, digits and _ only (at most 63)", cfg.Database)
	}
	ms, err := loadMigrations()
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return apply(ctx, conn, cfg, ms)
}

// apply is Apply over an explicit migration list (tests use their own).
func apply(ctx context.Context, conn driver.Conn, cfg Config, ms []migration) (applied []int, err error) {
	if !ValidIdentifier(cfg.Database) {
		return nil, fmt.Errorf("schema: database name %q: want letters, digits and _ only (at most 63)", cfg.Database)
	}
	db := cfg.Database
	log := cfg.Logger

	if err := execDDL(ctx, conn, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
		return nil, fmt.Errorf("schema: create database %s: %w", db, err)
	}
	// ReplacingMergeTree keyed by version: recording a migration twice (two
	// processes, or a re-run after a server upgrade) leaves one row per
	// version after merges; readers below do not rely on merges either.
	// skipped_requires lists the version gates that were not met when the
	// migration ran ('' = every statement ran).
	if err := execDDL(ctx, conn, `CREATE TABLE IF NOT EXISTS `+db+`.schema_migrations (
    version          UInt32,
    name             String,
    applied_at       DateTime,
    skipped_requires String DEFAULT ''
) ENGINE = ReplacingMergeTree
ORDER BY version`); err != nil {
		return nil, fmt.Errorf("schema: create %s.schema_migrations: %w", db, err)
	}

	server, err := serverVersionOf(ctx, conn, cfg.ServerVersion)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	done, err := recorded(ctx, conn, db, server)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}

	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		var skipped []string
		for _, st := range m.Statements {
			if st.Step != "" {
				fn := cfg.Steps[st.Step]
				if fn == nil {
					return applied, fmt.Errorf("schema: migration %s (line %d) runs the Go step %q, which Config.Steps does not supply", m.Name, st.Line, st.Step)
				}
				if err := fn(ctx); err != nil {
					return applied, fmt.Errorf("schema: migration %s (line %d), step %s: %w", m.Name, st.Line, st.Step, err)
				}
				continue
			}
			if !st.Requires.IsZero() && !server.AtLeast(st.Requires) {
				skipped = append(skipped, st.Requires.String())
				log.Info().Int("migration", m.Version).Int("line", st.Line).
					Str("requires", st.Requires.String()).Str("server", server.String()).
					Msg("schema: statement skipped, server too old")
				continue
			}
			q := strings.ReplaceAll(st.SQL, "{db}", db)
			if err := execDDL(ctx, conn, q); err != nil {
				return applied, fmt.Errorf("schema: migration %s (line %d): %w", m.Name, st.Line, err)
			}
		}
		if err := record(ctx, conn, db, m, strings.Join(skipped, ",")); err != nil {
			return applied, fmt.Errorf("schema: record migration %s: %w", m.Name, err)
		}
		log.Info().Int("migration", m.Version).Str("name", m.Name).Str("database", db).Msg("schema: migration applied")
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// execDDL runs one statement, treating "already exists" from a CREATE ... IF
// NOT EXISTS as success (a concurrent Apply won the race; the object is
// there), and likewise an existing column from a single ADD COLUMN.
func execDDL(ctx context.Context, conn driver.Conn, q string) error {
	err := conn.Exec(ctx, q)
	if err == nil {
		return nil
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && (ex.Code == codeTableAlreadyExists || ex.Code == codeDatabaseAlreadyExists) &&
		createIfNotExistsRe.MatchString(q) {
		return nil
	}
	if errors.As(err, &ex) && (ex.Code == codeIllegalColumn || ex.Code == codeDuplicateColumn) && strings.Contains(ex.Message, "already exists") &&
		addColumnRe.MatchString(q) {
		return nil
	}
	return err
}

func serverVersionOf(ctx context.Context, conn driver.Conn, configured string) (serverVersion, error) {
	s := configured
	if s == "" {
		if err := conn.QueryRow(ctx, "SELECT version()").Scan(&s); err != nil {
			return serverVersion{}, fmt.Errorf("ask server version: %w", err)
		}
	}
	v, err := parseServerVersion(s)
	if err != nil {
		return serverVersion{}, fmt.Errorf("server version: %w", err)
	}
	return v, nil
}

// recorded returns the migration versions that need no (re-)run on server.
// A version counts as done when some recording of it skipped nothing, or
// skipped only gates the server still does not meet.
func recorded(ctx context.Context, conn driver.Conn, db string, server serverVersion) (map[int]bool, error) {
	rows, err := conn.Query(ctx, "SELECT version, skipped_requires FROM "+db+".schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", db, err)
	}
	defer rows.Close()
	done := map[int]bool{}
	for rows.Next() {
		var (
			v       uint32
			skipped string
		)
		if err := rows.Scan(&v, &skipped); err != nil {
			return nil, fmt.Errorf("read %s.schema_migrations: %w", db, err)
		}
		if gatesStillUnmet(skipped, server) {
			done[int(v)] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", db, err)
	}
	return done, nil
}

// gatesStillUnmet reports whether none of the recorded skipped gates (comma
// separated) is met by server now, i.e. a re-run would change nothing.
func gatesStillUnmet(skipped string, server serverVersion) bool {
	if skipped == "" {
		return true
	}
	for _, s := range strings.Split(skipped, ",") {
		v, err := parseServerVersion(s)
		if err != nil || server.AtLeast(v) {
			// Unparseable: re-run rather than guess; the run rewrites it.
			return false
		}
	}
	return true
}

func record(ctx context.Context, conn driver.Conn, db string, m migration, skipped string) error {
	// The column list is explicit: ClickHouse 18.16 requires it for the
	// native batch INSERT, and it keeps this working if columns are added.
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name, applied_at, skipped_requires)")
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Append(uint32(m.Version), m.Name, time.Now().UTC().Truncate(time.Second), skipped); err != nil {
		return err
	}
	return b.Send()
}
