package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/duroscope/duroscope/internal/connector"
)

// streamBase is the first position of a streamed row; backfill rows have
// ordinals below it, except the backfill's last row, which gets streamBase
// itself: a stored position at or above it means the backfill is stored.
const streamBase = 1 << 62

// bufferedRows bounds the rows decoded ahead of the connector.
const bufferedRows = 20000

// statusEvery is how often the confirmed position is sent to the server.
const statusEvery = time.Second

// cdcSource follows the store through the replication slot. One
// goroutine (run) owns the replication connection; the connector's loop
// takes decoded rows from buf and reports what is stored (Stored).
type cdcSource struct {
	*store
	mu      sync.Mutex
	cond    *sync.Cond
	buf     []connector.Row
	pending []txnMark // transactions handed out or buffered, not yet confirmable
	nextPos uint64
	stored  uint64 // highest position the connector reported stored
	head    uint64 // newest position assigned
	total   uint64 // backfill: rows in the snapshot + the ordinals before
	started bool
	// backfilling: the backfill is reading; the connector gets full
	// batches only, so that it does not take a short one for caught up.
	backfilling bool
	runErr      error // the replication goroutine's failure; nil while it runs
	running     bool
	stop        context.CancelFunc
	done        chan struct{}
	// walHeld is the WAL the slot holds back (bytes), -1 before the first look.
	walHeld   atomic.Int64
	watchStop context.CancelFunc
	watchDone chan struct{}
}

type txnMark struct {
	lastPos uint64
	end     pglogrepl.LSN
}

func newCDC(ctx context.Context, st *store) (*cdcSource, error) {
	c := &cdcSource{store: st}
	c.cond = sync.NewCond(&c.mu)
	c.walHeld.Store(-1)
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.watchStop, c.watchDone = cancel, make(chan struct{})
	go func() { defer close(c.watchDone); c.watchWAL(wctx) }()
	return c, nil
}

// Close stops the replication and the WAL watch; the slot stays (use
// DropSlot to decommission).
func (c *cdcSource) Close() error {
	c.halt()
	c.watchStop()
	<-c.watchDone
	c.pool.Close()
	return nil
}

func (c *cdcSource) halt() {
	c.mu.Lock()
	stop, done := c.stop, c.done
	c.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// replConfig is the replication connection's configuration.
func (c *cdcSource) replConfig() (*pgconn.Config, error) {
	pc, err := pgconn.ParseConfig(c.cfg.URL)
	if err != nil {
		return nil, redactErr(nil, err)
	}
	pc.RuntimeParams["replication"] = "database"
	pc.RuntimeParams["application_name"] = "duroscope-connector"
	return pc, nil
}

func (c *cdcSource) connectRepl(ctx context.Context) (*pgconn.PgConn, error) {
	pc, err := c.replConfig()
	if err != nil {
		return nil, err
	}
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("replication connection to %s: %w", Redact(c.cfg.URL), redactErr(pc, err))
	}
	return conn, nil
}

func (c *cdcSource) Begin(ctx context.Context) (connector.Snapshot, error) {
	c.mu.Lock()
	failed := c.started && !c.running
	err := c.runErr
	if failed && c.nextPos <= streamBase {
		// The backfill broke: the next Resume starts it again.
		c.started, c.backfilling, failed = false, false, false
		c.log.Warn().Err(err).Msg("cdc: the backfill broke; starting it again")
	}
	c.mu.Unlock()
	if failed {
		c.log.Warn().Err(err).Msg("cdc: replication stream broke; reconnecting from the slot's confirmed position")
		if err := c.restart(ctx); err != nil {
			return nil, err
		}
	}
	return &cdcSnapshot{c: c, ctx: ctx}, nil
}

// restart reconnects the stream, retrying for up to cfg.Reconnect (a
// Postgres restart takes seconds).
func (c *cdcSource) restart(ctx context.Context) error {
	conn, err := c.connectRetry(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.buf, c.pending = nil, nil // what was not confirmed comes again
	c.mu.Unlock()
	c.launch(ctx, conn, 0, nil)
	return nil
}

func (c *cdcSource) connectRetry(ctx context.Context) (*pgconn.PgConn, error) {
	deadline := time.Now().Add(c.cfg.Reconnect)
	wait := 200 * time.Millisecond
	for {
		conn, err := c.connectRepl(ctx)
		if err == nil {
			return conn, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("cdc: reconnect for %s: %w", c.cfg.Reconnect, err)
		}
		c.log.Warn().Err(err).Dur("retry_in", wait).Msg("cdc: reconnect failed")
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// launch starts the goroutine that (after an optional backfill) streams
// from start (0: the slot's confirmed position).
func (c *cdcSource) launch(ctx context.Context, conn *pgconn.PgConn, start pglogrepl.LSN, backfill func(context.Context) error) {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	c.mu.Lock()
	c.started, c.running, c.runErr, c.stop, c.done = true, true, nil, cancel, done
	c.mu.Unlock()
	go func() {
		defer close(done)
		defer conn.Close(context.Background())
		var err error
		if backfill != nil {
			err = backfill(rctx)
		}
		if err == nil {
			err = c.stream(rctx, conn, start)
		}
		c.mu.Lock()
		c.running, c.runErr = false, err
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
}

// first decides, from the stored position, between resuming from the slot
// and a (new) backfill.
func (c *cdcSource) first(ctx context.Context, head uint64) (uint64, error) {
	conn, err := c.connectRetry(ctx)
	if err != nil {
		return 0, err
	}
	var exists bool
	if err := c.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)", c.cfg.Slot).Scan(&exists); err != nil {
		conn.Close(ctx)
		return 0, fmt.Errorf("cdc: read pg_replication_slots: %w", redactErr(c.pgcfg, err))
	}
	if exists && head >= streamBase {
		c.nextPos = head + 1
		c.log.Info().Str("slot", c.cfg.Slot).Msg("cdc: resuming from the replication slot")
		c.launch(ctx, conn, 0, nil)
		return head, nil
	}
	if exists {
		c.log.Info().Str("slot", c.cfg.Slot).Msg("cdc: the backfill was not completely stored: dropping the slot and starting again")
		if err := pglogrepl.DropReplicationSlot(ctx, conn, c.cfg.Slot, pglogrepl.DropReplicationSlotOptions{Wait: true}); err != nil {
			conn.Close(ctx)
			return 0, fmt.Errorf("cdc: drop slot %s: %w", c.cfg.Slot, redactErr(c.pgcfg, err))
		}
	}
	slot, err := pglogrepl.CreateReplicationSlot(ctx, conn, c.cfg.Slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{SnapshotAction: "EXPORT_SNAPSHOT", Mode: pglogrepl.LogicalReplication})
	if err != nil {
		conn.Close(ctx)
		return 0, fmt.Errorf("cdc: create replication slot %s: %w", c.cfg.Slot, redactErr(c.pgcfg, err))
	}
	start, err := pglogrepl.ParseLSN(slot.ConsistentPoint)
	if err != nil {
		conn.Close(ctx)
		return 0, fmt.Errorf("cdc: slot consistent point %q: %w", slot.ConsistentPoint, err)
	}
	c.log.Info().Str("slot", c.cfg.Slot).Str("consistent_point", slot.ConsistentPoint).Msg("cdc: slot created; backfilling its exported snapshot")
	c.nextPos = 1
	// The snapshot must be imported before the replication connection's
	// next command: the backfill opens its transaction here, then reads
	// in the goroutine.
	tx, err := c.importSnapshot(ctx, slot.SnapshotName)
	if err != nil {
		conn.Close(ctx)
		return 0, err
	}
	c.mu.Lock()
	c.backfilling = true
	c.mu.Unlock()
	c.launch(ctx, conn, start, func(rctx context.Context) error { return c.backfill(rctx, tx) })
	return 0, nil
}

func (c *cdcSource) importSnapshot(ctx context.Context, name string) (pgx.Tx, error) {
	tx, err := c.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("cdc: backfill transaction: %w", redactErr(c.pgcfg, err))
	}
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT "+quoteLiteral(name)); err != nil {
		tx.Rollback(ctx)
		return nil, fmt.Errorf("cdc: import the slot's snapshot: %w", redactErr(c.pgcfg, err))
	}
	var n uint64
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+c.table("history")).Scan(&n); err != nil {
		tx.Rollback(ctx)
		return nil, fmt.Errorf("cdc: count history: %w", redactErr(c.pgcfg, err))
	}
	c.mu.Lock()
	c.total = n
	c.mu.Unlock()
	return tx, nil
}

func quoteLiteral(s string) string {
	return "'" + string(bytes.ReplaceAll([]byte(s), []byte("'"), []byte("''"))) + "'"
}

// backfill reads the snapshot's history in primary-key pages into the
// buffer; the last row gets streamBase.
func (c *cdcSource) backfill(ctx context.Context, tx pgx.Tx) error {
	defer tx.Rollback(context.WithoutCancel(ctx))
	const page = 5000
	var after rowKey
	var held *connector.Row
	for {
		rs, err := tx.Query(ctx, "SELECT "+historyCols+" FROM "+c.table("history")+
			" WHERE (instance_id, execution_id, event_id) > ($1, $2, $3) ORDER BY instance_id, execution_id, event_id LIMIT $4",
			after.id, int64(after.exec), int64(after.evt), page)
		if err != nil {
			return fmt.Errorf("cdc backfill: %w", redactErr(c.pgcfg, err))
		}
		rows, err := scanRows(rs, func(*connector.Row, time.Time) bool { return true })
		if err != nil {
			return fmt.Errorf("cdc backfill: %w", redactErr(c.pgcfg, err))
		}
		read := len(rows)
		if read > 0 {
			after = rowKey{rows[read-1].InstanceID, rows[read-1].ExecutionID, rows[read-1].EventID}
		}
		if held != nil {
			rows = append([]connector.Row{*held}, rows...)
			held = nil
		}
		if len(rows) > 0 {
			last := rows[len(rows)-1]
			held, rows = &last, rows[:len(rows)-1]
		}
		done := read < page
		if done && held != nil {
			held.Pos = streamBase
			rows = append(rows, *held)
		}
		if err := c.put(ctx, rows, nil, done && held != nil); err != nil {
			return err
		}
		if done {
			c.mu.Lock()
			c.nextPos, c.backfilling = streamBase+1, false
			c.mu.Unlock()
			c.log.Info().Uint64("rows", c.total).Msg("cdc: backfill read; streaming from the slot's consistent point")
			return nil
		}
	}
}

// put appends rows to the buffer (waiting for room), giving positions to
// those without; mark, when set, records a transaction's end.
func (c *cdcSource) put(ctx context.Context, rows []connector.Row, mark *pglogrepl.LSN, lastIsSet bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.buf) > bufferedRows && ctx.Err() == nil {
		c.cond.Wait()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for i := range rows {
		if lastIsSet && i == len(rows)-1 {
			break
		}
		rows[i].Pos = c.nextPos
		c.nextPos++
	}
	if n := len(rows); n > 0 {
		c.head = rows[n-1].Pos
	}
	c.buf = append(c.buf, rows...)
	if mark != nil {
		c.pending = append(c.pending, txnMark{lastPos: c.head, end: *mark})
	}
	c.cond.Broadcast()
	return nil
}

// take hands out up to limit buffered rows, waiting up to wait for one.
func (c *cdcSource) take(limit int, wait time.Duration) ([]connector.Row, error) {
	deadline := time.Now().Add(wait)
	c.mu.Lock()
	defer c.mu.Unlock()
	for (len(c.buf) == 0 || c.backfilling && len(c.buf) < limit) && c.running && (c.backfilling || time.Now().Before(deadline)) {
		c.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		c.mu.Lock()
	}
	if len(c.buf) == 0 && !c.running && c.runErr != nil {
		return nil, c.runErr
	}
	n := min(limit, len(c.buf))
	out := c.buf[:n:n]
	c.buf = c.buf[n:]
	c.cond.Broadcast()
	return out, nil
}

// Stored records that the connector stored everything up to pos; the
// stream goroutine confirms the transactions it completes.
func (c *cdcSource) Stored(_ context.Context, pos uint64) error {
	c.mu.Lock()
	c.stored = max(c.stored, pos)
	c.mu.Unlock()
	return nil
}

// confirmable returns the end of the newest transaction whose rows, and
// those of every transaction before it, are stored.
func (c *cdcSource) confirmable(confirmed pglogrepl.LSN) pglogrepl.LSN {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := 0
	for i < len(c.pending) && c.pending[i].lastPos <= c.stored {
		confirmed = max(confirmed, c.pending[i].end)
		i++
	}
	c.pending = c.pending[i:]
	return confirmed
}

// idle tells whether nothing decoded is waiting to be stored.
func (c *cdcSource) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) == 0 && len(c.buf) == 0 && c.head <= c.stored
}

type relation struct {
	table string
	cols  map[string]int
}

type txn struct {
	rows    []connector.Row
	deleted map[string]bool
	pruned  map[string][]uint64
	order   []string // ids in the order their first deletion came
}

// stream follows the slot from start, decoding pgoutput.
func (c *cdcSource) stream(ctx context.Context, conn *pgconn.PgConn, start pglogrepl.LSN) error {
	err := pglogrepl.StartReplication(ctx, conn, c.cfg.Slot, start, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names " + quoteLiteral(c.cfg.Publication)}})
	if err != nil {
		return fmt.Errorf("cdc: start replication on slot %s: %w", c.cfg.Slot, redactErr(c.pgcfg, err))
	}
	rels := map[uint32]relation{}
	var cur *txn
	confirmed := start
	nextStatus := time.Now()
	for {
		if time.Now().After(nextStatus) {
			confirmed = c.confirmable(confirmed)
			if err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: confirmed}); err != nil {
				return fmt.Errorf("cdc: standby status: %w", err)
			}
			nextStatus = time.Now().Add(statusEvery)
		}
		rctx, cancel := context.WithDeadline(ctx, nextStatus)
		raw, err := conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if pgconn.Timeout(err) {
				continue
			}
			return fmt.Errorf("cdc: receive: %w", redactErr(c.pgcfg, err))
		}
		switch m := raw.(type) {
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("cdc: server: %s (%s)", m.Message, m.Code)
		case *pgproto3.CopyData:
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				k, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return fmt.Errorf("cdc: keepalive: %w", err)
				}
				if cur == nil && c.idle() {
					confirmed = max(confirmed, k.ServerWALEnd)
				}
				if k.ReplyRequested {
					nextStatus = time.Time{}
				}
			case pglogrepl.XLogDataByteID:
				x, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return fmt.Errorf("cdc: xlog data: %w", err)
				}
				if cur, err = c.decode(ctx, x.WALData, rels, cur); err != nil {
					return err
				}
			}
		}
	}
}

func (s *cdcSnapshot) Close() error { return nil }

// Resume decides at the first call (resume from the slot, or backfill);
// later it keeps the connector's position.
func (s *cdcSnapshot) Resume(anchors []connector.Anchor) (uint64, error) {
	var head uint64
	if n := len(anchors); n > 0 {
		head = anchors[n-1].Pos
	}
	s.c.mu.Lock()
	started := s.c.started
	s.c.mu.Unlock()
	if started {
		return head, nil
	}
	return s.c.first(s.ctx, head)
}

// Rows hands out what the stream decoded, waiting a little for the first
// row so that the connector's loop does not spin.
func (s *cdcSnapshot) Rows(_ uint64, limit int) ([]connector.Row, error) {
	return s.c.take(limit, 250*time.Millisecond)
}

func (s *cdcSnapshot) Head() (uint64, error) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.head < streamBase && s.c.total > 0 {
		return s.c.total, nil // backfilling: ordinals of total
	}
	return s.c.head, nil
}

// Instances is never asked: cdc reports deletions itself (NoReconcile).
func (s *cdcSnapshot) Instances(string, int) ([]connector.Inventory, error) {
	return nil, errors.New("cdc: no inventory reads (the connector runs with NoReconcile)")
}

func (s *cdcSnapshot) HistoryExecutions(string) ([]uint64, error) {
	return nil, errors.New("cdc: no inventory reads (the connector runs with NoReconcile)")
}

// watchWAL measures every 10 s the WAL the slot holds back and warns
// when it is over cfg.WALWarnBytes (a stopped or slow connector makes
// Postgres keep WAL; --drop-slot ends that for good).
func (c *cdcSource) watchWAL(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		var held *int64
		err := c.pool.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1", c.cfg.Slot).Scan(&held)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			c.log.Warn().Err(redactErr(c.pgcfg, err)).Msg("cdc: read the slot's retained WAL")
		case held != nil:
			c.walHeld.Store(*held)
			if *held > c.cfg.WALWarnBytes {
				c.log.Warn().Str("slot", c.cfg.Slot).Int64("wal_bytes", *held).Int64("warn_bytes", c.cfg.WALWarnBytes).
					Msg("cdc: the replication slot holds back a lot of WAL (connector behind or stopped); decommission with --drop-slot")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// WriteMetrics writes the source's own gauges (Prometheus text).
func (c *cdcSource) WriteMetrics(w io.Writer) {
	fmt.Fprintf(w, "# HELP duroscope_connector_slot_wal_bytes WAL the replication slot holds back (pg_wal_lsn_diff of the current WAL and the slot's restart_lsn); -1 before the first look.\n")
	fmt.Fprintf(w, "# TYPE duroscope_connector_slot_wal_bytes gauge\nduroscope_connector_slot_wal_bytes %d\n", c.walHeld.Load())
}

// DropSlot drops the connector's replication slot (decommissioning: a slot
// nobody reads makes Postgres keep WAL forever). Absent is not an error.
func DropSlot(ctx context.Context, cfg Config) (bool, error) {
	if err := cfg.defaults(); err != nil {
		return false, err
	}
	c := &cdcSource{store: &store{cfg: cfg}}
	conn, err := c.connectRepl(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	err = pglogrepl.DropReplicationSlot(ctx, conn, cfg.Slot, pglogrepl.DropReplicationSlotOptions{Wait: true})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42704" { // undefined_object
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("drop replication slot %s: %w", cfg.Slot, err)
	}
	return true, nil
}
