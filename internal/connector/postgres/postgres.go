// Package postgres reads a Duroxide Postgres store (duroxide-pg, the
// schema JsPostgresProvider.connectWithSchema creates) for the connector,
// in one of two modes (API.md "Sources", DUROSCOPE_SOURCE_MODE).
//
// # cdc: logical replication
//
// The connector follows the store through a logical replication slot with
// the pgoutput plugin and a publication on the schema's history,
// executions and instances tables (created if missing and allowed; see
// docs/connector-postgres.md for the statement a DBA runs otherwise).
// Inserted history rows are events, published byte for byte (event_type is
// the literal "Event" on every row: the type is read from event_data).
// Deleted instances rows are InstanceDeleted notices and deleted
// executions rows of an instance that keeps its instances row are one
// ExecutionsPruned per transaction, both stamped with the commit time.
// Duroxide's tables keep the default REPLICA IDENTITY (the primary key),
// so a delete carries exactly the key, which is all a notice needs:
// nothing has to be changed on the tables.
//
// The slot's confirmed position (the standby status update) only moves
// to the end of a transaction once JetStream has stored every row of it
// and of every transaction before it (Stored, called by the connector
// after each committed batch). A crash of the connector or a restart of
// Postgres loses nothing: the slot keeps the WAL from the confirmed
// position and the next connection replays what was not confirmed; the
// stream's duplicate window drops what was already stored. When nothing
// is pending the position follows the server's keepalives, so an idle
// store does not make the slot hold WAL.
//
// # cdc: the first start's backfill
//
// The slot is created on a replication connection with EXPORT_SNAPSHOT:
// Postgres returns the slot's consistent point and the name of a snapshot
// that sees exactly the transactions committed before it. A second,
// ordinary connection runs a REPEATABLE READ READ ONLY transaction with
// SET TRANSACTION SNAPSHOT of that name and reads the whole history in
// primary-key order (bounded pages), while the replication connection
// stays idle (the snapshot lives until its next command). Then the
// stream starts at the consistent point: every transaction is either in
// the snapshot or in the stream, never both, never neither. Positions of
// backfill rows are below 1<<62, those of streamed rows above: a connector
// that stops before its stored position reached the stream drops the slot
// and backfills again (re-published rows are duplicates; nothing is
// missed), one that reached it resumes from the slot.
//
// # poll: for roles without REPLICATION
//
// history has no insertion-order column: created_at is the application's
// clock when the ack began, so rows commit out of created_at order (a
// long ack, or several Duroxide hosts whose clocks differ). Every poll
// therefore reads again from Overlap (default 30s) before the newest
// created_at it has seen: a row committed later than that after its own
// created_at would be missed, which needs an ack slower than 30 s or
// clocks further apart than that. The rows read again are dropped by a
// set of the keys seen inside the window (bounded: keys older than the
// window leave it). History has no index on created_at, so each poll
// scans the table: docs/connector-postgres.md recommends an index for
// large stores. Deletions and prunes are found by reconciliation, as for
// SQLite.
package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/connector"
)

// Modes of DUROSCOPE_SOURCE_MODE.
const (
	ModeAuto = "auto"
	ModeCDC  = "cdc"
	ModePoll = "poll"
)

// Config configures Open.
type Config struct {
	// URL is the store, postgres://user:pass@host:port/db?sslmode=...
	// Required.
	URL string
	// Schema holds duroxide-pg's tables (default "public").
	Schema string
	// Mode is ModeCDC, ModePoll or ModeAuto (default auto).
	Mode string
	// Slot is the replication slot (cdc); default SlotName("").
	Slot string
	// Publication is the publication (cdc); default "duroscope_<schema>".
	Publication string
	// Overlap is how far back each poll reads again (poll; default 30s).
	Overlap time.Duration
	// WALWarnBytes is the WAL the slot may hold back before a warning
	// (cdc; default 1 GiB).
	WALWarnBytes int64
	// Reconnect bounds the attempts to reconnect the replication stream
	// after it broke (cdc; default 2 minutes).
	Reconnect time.Duration
	Logger    zerolog.Logger
}

// IsURL tells whether s names a Postgres store.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

var slotUnsafe = regexp.MustCompile(`[^a-z0-9_]+`)

// SlotName derives the replication slot's name from the connector's KV
// bucket (one connector per bucket, so one slot per connector):
// "duroscope_" and the bucket in lower case, other characters as "_", at
// most 63 bytes. The default bucket DUROXIDE_HISTORY_CONNECTOR gives
// duroscope_duroxide_history_connector.
func SlotName(bucket string) string {
	n := "duroscope_" + slotUnsafe.ReplaceAllString(strings.ToLower(bucket), "_")
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

func (cfg *Config) defaults() error {
	if cfg.URL == "" {
		return errors.New("postgres source: URL is required")
	}
	if cfg.Schema == "" {
		cfg.Schema = "public"
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeAuto
	}
	if cfg.Slot == "" {
		cfg.Slot = SlotName("")
	}
	if cfg.Publication == "" {
		cfg.Publication = "duroscope_" + slotUnsafe.ReplaceAllString(strings.ToLower(cfg.Schema), "_")
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = 30 * time.Second
	}
	if cfg.WALWarnBytes <= 0 {
		cfg.WALWarnBytes = 1 << 30
	}
	if cfg.Reconnect <= 0 {
		cfg.Reconnect = 2 * time.Minute
	}
	return nil
}

// Redact returns the URL without its password, for messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactErr removes the password from an error's text: pgx quotes the
// connection's parameters in some failures.
func redactErr(cfg *pgconn.Config, err error) error {
	if err == nil || cfg == nil || cfg.Password == "" {
		return err
	}
	msg := err.Error()
	if !strings.Contains(msg, cfg.Password) {
		return err
	}
	return errors.New(strings.ReplaceAll(msg, cfg.Password, "xxxxx"))
}

// store is what both modes share: the pool, the schema's quoted table
// names and the queue counts.
type store struct {
	cfg    Config
	log    zerolog.Logger
	pool   *pgxpool.Pool
	pgcfg  *pgconn.Config
	schema string // quoted identifier
}

func (s *store) table(name string) string { return s.schema + "." + pgx.Identifier{name}.Sanitize() }

func openStore(ctx context.Context, cfg Config) (*store, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres source %s: %w", Redact(cfg.URL), redactErr(nil, err))
	}
	pc.MaxConns = 4
	pc.ConnConfig.RuntimeParams["application_name"] = "duroscope-connector"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres source %s: %w", Redact(cfg.URL), redactErr(&pc.ConnConfig.Config, err))
	}
	s := &store{cfg: cfg, log: cfg.Logger.With().Str("component", "postgres-source").Logger(), pool: pool,
		pgcfg: &pc.ConnConfig.Config, schema: pgx.Identifier{cfg.Schema}.Sanitize()}
	if err := s.check(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres source %s schema %s: %w", Redact(cfg.URL), cfg.Schema, err)
	}
	return s, nil
}

// check verifies that the role can read the tables and columns the
// connector reads, naming the GRANT that is missing.
func (s *store) check(ctx context.Context) error {
	for _, q := range []struct{ table, cols string }{
		{"history", "instance_id, execution_id, event_id, event_type, event_data, created_at"},
		{"executions", "instance_id, execution_id"},
		{"instances", "instance_id"},
		{"orchestrator_queue", "visible_at, lock_token, locked_until"},
		{"worker_queue", "visible_at, lock_token, locked_until"},
	} {
		_, err := s.pool.Exec(ctx, "SELECT "+q.cols+" FROM "+s.table(q.table)+" LIMIT 0")
		var pe *pgconn.PgError
		switch {
		case err == nil:
		case errors.As(err, &pe) && pe.Code == "42501": // insufficient_privilege
			return fmt.Errorf("no SELECT on %s.%s (GRANT USAGE ON SCHEMA %s TO <role>; GRANT SELECT ON ALL TABLES IN SCHEMA %s TO <role>): %w",
				s.cfg.Schema, q.table, s.schema, s.schema, redactErr(s.pgcfg, err))
		case errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "42703" || pe.Code == "3F000"): // undefined table, column, schema
			return fmt.Errorf("not a duroxide-pg schema (%s.%s): %w", s.cfg.Schema, q.table, redactErr(s.pgcfg, err))
		default:
			return fmt.Errorf("read %s.%s: %w", s.cfg.Schema, q.table, redactErr(s.pgcfg, err))
		}
	}
	return nil
}

// Queues counts what duroxide-pg's get_queue_depths counts: the messages
// of orchestrator_queue and of worker_queue that are visible now and not
// locked (lock_token NULL or the lock expired); a timer not yet due does
// not count (unlike SQLite). timer_queue does not exist: 0.
func (s *store) Queues(ctx context.Context) (events.QueueSnapshot, error) {
	now := time.Now()
	var q events.QueueSnapshot
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM `+s.table("orchestrator_queue")+` WHERE visible_at <= $1 AND (lock_token IS NULL OR locked_until <= $2)),
		(SELECT count(*) FROM `+s.table("worker_queue")+` WHERE visible_at <= $1 AND (lock_token IS NULL OR locked_until <= $2))`,
		now, now.UnixMilli()).Scan(&q.OrchestratorQueue, &q.WorkerQueue)
	if err != nil {
		return events.QueueSnapshot{}, fmt.Errorf("count queue depths: %w", redactErr(s.pgcfg, err))
	}
	q.TimestampMs = uint64(now.UnixMilli())
	return q, nil
}

// cdcProblem says why cdc cannot run with this server and role (nil: it
// can): wal_level, the REPLICATION attribute, and a publication that
// exists or may be created.
func (s *store) cdcProblem(ctx context.Context) error {
	var level string
	if err := s.pool.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		return fmt.Errorf("read wal_level: %w", redactErr(s.pgcfg, err))
	}
	if level != "logical" {
		return fmt.Errorf("wal_level is %s, cdc needs logical (ALTER SYSTEM SET wal_level = logical; then restart Postgres)", level)
	}
	var repl bool
	if err := s.pool.QueryRow(ctx, "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&repl); err != nil {
		return fmt.Errorf("read the role's attributes: %w", redactErr(s.pgcfg, err))
	}
	if !repl {
		return errors.New("the role lacks the REPLICATION attribute (ALTER ROLE <role> REPLICATION)")
	}
	return s.ensurePublication(ctx)
}

// ensurePublication creates the publication when missing; a role that
// may not (creating one needs ownership of the tables) gets the statement
// a DBA runs once. An existing publication must cover the three tables.
func (s *store) ensurePublication(ctx context.Context) error {
	want := []string{"executions", "history", "instances"}
	var have []string
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(array_agg(tablename::text ORDER BY tablename), '{}') FROM pg_publication_tables
		WHERE pubname = $1 AND schemaname = $2`, s.cfg.Publication, s.cfg.Schema).Scan(&have); err != nil {
		return fmt.Errorf("read publication %s: %w", s.cfg.Publication, redactErr(s.pgcfg, err))
	}
	missing := 0
	for _, t := range want {
		if !contains(have, t) {
			missing++
		}
	}
	if missing == 0 {
		return nil
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", s.cfg.Publication).Scan(&exists); err != nil {
		return fmt.Errorf("read publication %s: %w", s.cfg.Publication, redactErr(s.pgcfg, err))
	}
	tables := s.table("history") + ", " + s.table("executions") + ", " + s.table("instances")
	stmt := "CREATE PUBLICATION " + pgx.Identifier{s.cfg.Publication}.Sanitize() + " FOR TABLE " + tables + " WITH (publish = 'insert, delete')"
	if exists {
		stmt = "ALTER PUBLICATION " + pgx.Identifier{s.cfg.Publication}.Sanitize() + " SET TABLE " + tables
	}
	if _, err := s.pool.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("publication %s is missing or incomplete and this role may not fix it; as the tables' owner run once: %s (%w)",
			s.cfg.Publication, stmt, redactErr(s.pgcfg, err))
	}
	s.log.Info().Str("publication", s.cfg.Publication).Msg("publication created")
	return nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Open opens the store in cfg.Mode; auto tries cdc and falls back to poll,
// logging which and why. The mode chosen is returned.
func Open(ctx context.Context, cfg Config) (src connector.Source, mode string, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, "", err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	switch cfg.Mode {
	case ModePoll:
		return newPoll(st), ModePoll, nil
	case ModeCDC:
		if err := st.cdcProblem(ctx); err != nil {
			st.pool.Close()
			return nil, "", fmt.Errorf("postgres source %s: cdc: %w", Redact(cfg.URL), err)
		}
	case ModeAuto:
		if err := st.cdcProblem(ctx); err != nil {
			st.log.Warn().Str("mode", ModePoll).Str("why", err.Error()).Msg("source mode auto: cdc is not possible, polling")
			return newPoll(st), ModePoll, nil
		}
		st.log.Info().Str("mode", ModeCDC).Msg("source mode auto: logical replication is possible")
	default:
		st.pool.Close()
		return nil, "", fmt.Errorf("postgres source: mode %q: want cdc, poll or auto", cfg.Mode)
	}
	c, err := newCDC(ctx, st)
	if err != nil {
		st.pool.Close()
		return nil, "", err
	}
	return c, ModeCDC, nil
}

// eventType reads the event's "type" from event_data: Duroxide's JSON
// writes its common fields first (event_id, source_event_id, instance_id,
// execution_id, timestamp_ms, duroxide_version), then "type", so the first
// `"type":"` is the top-level one (nested payloads are JSON texts, whose
// quotes are escaped). "" when absent.
func eventType(data []byte) string {
	const key = `"type":"`
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return ""
	}
	rest := data[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}
