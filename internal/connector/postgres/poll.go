package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/duroscope/duroscope/internal/connector"
)

// A poll source reads in two phases, told apart by the position:
//
//   - the backfill reads the history in primary-key order (the only index
//     it has), one bounded page per snapshot; positions are ordinals
//     (1, 2, ...), below ordinalLimit. A connector stopped during it
//     starts it again (re-published rows are duplicates).
//   - the tail reads by created_at from the newest created_at seen minus
//     the overlap; positions are that high-water mark in Unix µs, always
//     above any ordinal. The backfill hands over at the greatest
//     created_at present when it began, so a row committed during the
//     backfill in a key range already read is read by the tail.
const ordinalLimit = 1 << 50

// tailPage is the most rows one created_at read scans.
const tailPage = 50000

type rowKey struct {
	id        string
	exec, evt uint64
}

type seenRow struct {
	rowKey
	us int64
}

type pollSource struct {
	*store
	// backfill phase
	ordinal  uint64
	backfill bool
	after    rowKey // primary-key cursor
	handover int64  // µs: where the tail starts
	total    uint64 // rows present when the backfill began
	// tail phase
	high       int64 // µs: newest created_at published
	continuing bool  // the last read filled its batch: go on from cursor
	cursor     struct {
		at  time.Time
		key rowKey
	}
	// seen holds the rows read within the overlap window. A row is its key
	// and its created_at: an id deleted and started again reuses its keys
	// within seconds, with a later created_at.
	seen map[seenRow]struct{}
	// handed are the rows the last Rows call added to seen. They count as
	// published only once the connector reads on from that call's last
	// position: a batch it dropped (a later read of the same snapshot
	// failed) or a call that failed midway must not leave its rows in
	// seen, or the re-read would skip them as already published.
	handed []seenRow
	last   uint64 // Pos of the last row returned
}

func newPoll(st *store) *pollSource {
	return &pollSource{store: st, seen: make(map[seenRow]struct{})}
}

func (s *pollSource) Close() error { s.pool.Close(); return nil }

func (s *pollSource) Begin(ctx context.Context) (connector.Snapshot, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", redactErr(s.pgcfg, err))
	}
	return &pollSnapshot{src: s, ctx: ctx, tx: tx}, nil
}

type pollSnapshot struct {
	src *pollSource
	ctx context.Context
	tx  pgx.Tx
}

func (p *pollSnapshot) Close() error { return p.tx.Rollback(context.WithoutCancel(p.ctx)) }

// Resume trusts the newest anchor: positions are never reused here (an
// ordinal restarts the backfill, a time is re-read with its overlap).
func (p *pollSnapshot) Resume(anchors []connector.Anchor) (uint64, error) {
	if len(anchors) == 0 {
		return 0, nil
	}
	return anchors[len(anchors)-1].Pos, nil
}

// unpublished is a last position no read returns: the next Rows starts
// again from the connector's position.
const unpublished = math.MaxUint64

func (p *pollSnapshot) Rows(after uint64, limit int) (rows []connector.Row, err error) {
	s := p.src
	if after != s.last {
		s.unsee() // the connector did not publish the last batch
	}
	s.handed = s.handed[:0]
	defer func() {
		if err != nil {
			s.unsee()
			s.last = unpublished
		}
	}()
	if after != s.last || after == 0 {
		// First read of this process (or the connector went back).
		s.last = after
		s.continuing = false
		if after < ordinalLimit {
			if err := p.startBackfill(after); err != nil {
				return nil, err
			}
		} else {
			s.backfill = false
			s.high = int64(after)
		}
	}
	if s.backfill {
		rows, err = p.backfillPage(limit)
		if err != nil {
			return nil, err
		}
		if len(rows) == limit {
			s.last = rows[limit-1].Pos
			return rows, nil
		}
		// The backfill ends: the tail fills the rest of the batch.
		s.backfill = false
		s.high = s.handover
		limit -= len(rows)
	}
	more, err := p.tailRows(limit)
	if err != nil {
		return nil, err
	}
	rows = append(rows, more...)
	if n := len(rows); n > 0 {
		s.last = rows[n-1].Pos
	}
	return rows, nil
}

func (p *pollSnapshot) startBackfill(after uint64) error {
	s := p.src
	var hand *time.Time
	if err := p.tx.QueryRow(p.ctx, "SELECT max(created_at), count(*) FROM "+s.table("history")).Scan(&hand, &s.total); err != nil {
		return fmt.Errorf("start backfill: %w", redactErr(s.pgcfg, err))
	}
	s.backfill, s.ordinal, s.after = true, after, rowKey{}
	s.handover = time.Now().UnixMicro()
	if hand != nil {
		s.handover = hand.UnixMicro()
	}
	s.total += after
	s.log.Info().Uint64("rows", s.total-after).Time("handover", time.UnixMicro(s.handover)).Msg("poll: backfill by primary key")
	return nil
}

const historyCols = "instance_id, execution_id, event_id, event_type, event_data, created_at"

func (p *pollSnapshot) backfillPage(limit int) ([]connector.Row, error) {
	s := p.src
	rs, err := p.tx.Query(p.ctx, "SELECT "+historyCols+" FROM "+s.table("history")+
		" WHERE (instance_id, execution_id, event_id) > ($1, $2, $3) ORDER BY instance_id, execution_id, event_id LIMIT $4",
		s.after.id, int64(s.after.exec), int64(s.after.evt), limit)
	if err != nil {
		return nil, fmt.Errorf("read history after %v: %w", s.after, redactErr(s.pgcfg, err))
	}
	out, err := scanRows(rs, func(r *connector.Row, created time.Time) bool {
		s.ordinal++
		r.Pos = s.ordinal
		k := rowKey{r.InstanceID, r.ExecutionID, r.EventID}
		s.after = k
		if us := created.UnixMicro(); us >= s.handover-s.cfg.Overlap.Microseconds() {
			s.see(seenRow{k, us}) // the tail's first window meets it again
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("read history after %v: %w", s.after, redactErr(s.pgcfg, err))
	}
	return out, nil
}

// tailRows reads rows by created_at from the overlap window (or from where
// the last full batch stopped), skipping the keys already read.
func (p *pollSnapshot) tailRows(limit int) ([]connector.Row, error) {
	s := p.src
	if !s.continuing {
		s.cursor.at = time.UnixMicro(s.high - s.cfg.Overlap.Microseconds() - 1)
		s.cursor.key = rowKey{}
	}
	// Pages are large: without an index on created_at each one is a scan
	// of the table, and the window's rows read again are most of a page.
	page := max(limit, tailPage)
	var out []connector.Row
	for len(out) < limit {
		rs, err := p.tx.Query(p.ctx, "SELECT "+historyCols+" FROM "+s.table("history")+
			" WHERE (created_at, instance_id, execution_id, event_id) > ($1, $2, $3, $4) ORDER BY created_at, instance_id, execution_id, event_id LIMIT $5",
			s.cursor.at, s.cursor.key.id, int64(s.cursor.key.exec), int64(s.cursor.key.evt), page)
		if err != nil {
			return nil, fmt.Errorf("read history since %s: %w", s.cursor.at.Format(time.RFC3339Nano), redactErr(s.pgcfg, err))
		}
		scanned, consumed := 0, 0
		_, err = scanRows(rs, func(r *connector.Row, created time.Time) bool {
			scanned++
			if len(out) >= limit {
				return false // the batch is full: the cursor stays before this row
			}
			consumed++
			k := rowKey{r.InstanceID, r.ExecutionID, r.EventID}
			s.cursor.at, s.cursor.key = created, k
			us := created.UnixMicro()
			if _, dup := s.seen[seenRow{k, us}]; dup {
				return false
			}
			s.see(seenRow{k, us})
			s.high = max(s.high, us)
			r.Pos = uint64(s.high)
			out = append(out, *r)
			return false // collected here, in order
		})
		if err != nil {
			return nil, fmt.Errorf("read history since %s: %w", s.cursor.at.Format(time.RFC3339Nano), redactErr(s.pgcfg, err))
		}
		if scanned < page && consumed == scanned {
			s.continuing = false
			s.forget()
			return out, nil
		}
	}
	s.continuing = true
	return out, nil
}

// see records a row read, as handed out by the current Rows call.
func (s *pollSource) see(r seenRow) {
	s.seen[r] = struct{}{}
	s.handed = append(s.handed, r)
}

// unsee forgets the rows the last Rows call handed out: they were not
// published.
func (s *pollSource) unsee() {
	for _, r := range s.handed {
		delete(s.seen, r)
	}
	s.handed = s.handed[:0]
}

// forget drops the keys that left the overlap window: what bounds the
// set is the rows written within Overlap.
func (s *pollSource) forget() {
	horizon := s.high - s.cfg.Overlap.Microseconds()
	for k := range s.seen {
		if k.us < horizon {
			delete(s.seen, k)
		}
	}
}

// scanRows reads history rows; keep decides (and may set Pos) per row.
func scanRows(rs pgx.Rows, keep func(*connector.Row, time.Time) bool) ([]connector.Row, error) {
	defer rs.Close()
	var out []connector.Row
	for rs.Next() {
		var r connector.Row
		var exec, evt int64
		var created time.Time
		var data string
		if err := rs.Scan(&r.InstanceID, &exec, &evt, &r.Type, &data, &created); err != nil {
			return nil, err
		}
		r.ExecutionID, r.EventID = uint64(exec), uint64(evt)
		r.Data = []byte(data)
		r.CreatedAtMs = created.UnixMilli()
		fixType(&r)
		if keep(&r, created) {
			out = append(out, r)
		}
	}
	return out, rs.Err()
}

// fixType puts the event's type in Type: duroxide-pg writes the literal
// "Event" in event_type, the type is event_data's "type".
func fixType(r *connector.Row) {
	r.Type = eventType(r.Data)
}

func (p *pollSnapshot) Head() (uint64, error) {
	s := p.src
	if s.backfill {
		return s.total, nil
	}
	return uint64(max(s.high, 0)), nil
}

// Instances reads the executions table by its primary key, as the SQLite
// source does.
func (p *pollSnapshot) Instances(after string, limit int) ([]connector.Inventory, error) {
	s := p.src
	rs, err := p.tx.Query(p.ctx, `SELECT e.instance_id, e.execution_id FROM `+s.table("executions")+` e
		JOIN (SELECT DISTINCT instance_id FROM `+s.table("executions")+` WHERE instance_id > $1 ORDER BY instance_id LIMIT $2) p
		ON e.instance_id = p.instance_id ORDER BY e.instance_id, e.execution_id`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read executions after %q: %w", after, redactErr(s.pgcfg, err))
	}
	defer rs.Close()
	var out []connector.Inventory
	for rs.Next() {
		var id string
		var exec int64
		if err := rs.Scan(&id, &exec); err != nil {
			return nil, fmt.Errorf("read executions: %w", err)
		}
		if n := len(out); n > 0 && out[n-1].InstanceID == id {
			out[n-1].ExecutionIDs = append(out[n-1].ExecutionIDs, uint64(exec))
			continue
		}
		out = append(out, connector.Inventory{InstanceID: id, ExecutionIDs: []uint64{uint64(exec)}})
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read executions: %w", redactErr(s.pgcfg, err))
	}
	return out, nil
}

func (p *pollSnapshot) HistoryExecutions(instanceID string) ([]uint64, error) {
	s := p.src
	rs, err := p.tx.Query(p.ctx, "SELECT DISTINCT execution_id FROM "+s.table("history")+" WHERE instance_id = $1 ORDER BY execution_id", instanceID)
	if err != nil {
		return nil, fmt.Errorf("read executions of %q from history: %w", instanceID, redactErr(s.pgcfg, err))
	}
	defer rs.Close()
	var out []uint64
	for rs.Next() {
		var e int64
		if err := rs.Scan(&e); err != nil {
			return nil, err
		}
		out = append(out, uint64(e))
	}
	if err := rs.Err(); err != nil {
		return nil, errors.Join(fmt.Errorf("read executions of %q from history", instanceID), redactErr(s.pgcfg, err))
	}
	return out, nil
}
