package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/connector"
)

// The pgoutput side of cdc.go: one replication message in, rows and notices
// of the current transaction out.

func (c *cdcSource) decode(ctx context.Context, data []byte, rels map[uint32]relation, cur *txn) (*txn, error) {
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return cur, fmt.Errorf("cdc: decode pgoutput: %w", err)
	}
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		r := relation{table: m.RelationName, cols: map[string]int{}}
		if m.Namespace != c.cfg.Schema {
			r.table = ""
		}
		for i, col := range m.Columns {
			r.cols[col.Name] = i
		}
		rels[m.RelationID] = r
	case *pglogrepl.BeginMessage:
		cur = &txn{deleted: map[string]bool{}, pruned: map[string][]uint64{}}
	case *pglogrepl.InsertMessage:
		r := rels[m.RelationID]
		if cur == nil || r.table != "history" {
			break
		}
		row, err := historyRow(r, m.Tuple)
		if err != nil {
			return cur, err
		}
		cur.rows = append(cur.rows, row)
	case *pglogrepl.DeleteMessage:
		r := rels[m.RelationID]
		if cur == nil || m.OldTuple == nil {
			break
		}
		switch r.table {
		case "instances":
			id, ok := text(r, m.OldTuple, "instance_id")
			if ok && !cur.deleted[id] {
				cur.deleted[id] = true
				cur.order = append(cur.order, id)
			}
		case "executions":
			id, ok1 := text(r, m.OldTuple, "instance_id")
			e, ok2 := text(r, m.OldTuple, "execution_id")
			n, err := strconv.ParseUint(e, 10, 64)
			if ok1 && ok2 && err == nil {
				if _, seen := cur.pruned[id]; !seen && !cur.deleted[id] {
					cur.order = append(cur.order, id)
				}
				cur.pruned[id] = append(cur.pruned[id], n)
			}
		}
	case *pglogrepl.CommitMessage:
		if cur == nil {
			break
		}
		at := uint64(m.CommitTime.UnixMilli())
		rows := cur.rows
		for _, id := range cur.order {
			var n events.Notice
			switch {
			case cur.deleted[id]:
				n = events.InstanceDeleted(id, at)
			default:
				n = events.ExecutionsPruned(id, cur.pruned[id], at)
			}
			rows = append(rows, connector.Row{InstanceID: id, Notice: &n})
		}
		end := m.TransactionEndLSN
		if err := c.put(ctx, rows, &end, false); err != nil {
			return nil, err
		}
		cur = nil
	}
	return cur, nil
}

func text(r relation, t *pglogrepl.TupleData, col string) (string, bool) {
	i, ok := r.cols[col]
	if !ok || i >= len(t.Columns) || t.Columns[i].DataType != 't' {
		return "", false
	}
	return string(t.Columns[i].Data), true
}

// historyRow decodes an inserted history tuple (text format); the bytes
// are copied, the message buffer is reused.
func historyRow(r relation, t *pglogrepl.TupleData) (connector.Row, error) {
	var row connector.Row
	id, ok1 := text(r, t, "instance_id")
	e, ok2 := text(r, t, "execution_id")
	ev, ok3 := text(r, t, "event_id")
	data, ok4 := text(r, t, "event_data")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return row, errors.New("cdc: a history insert lacks instance_id, execution_id, event_id or event_data")
	}
	exec, err1 := strconv.ParseUint(e, 10, 64)
	evt, err2 := strconv.ParseUint(ev, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return row, fmt.Errorf("cdc: history key of %q: %w", id, err)
	}
	row = connector.Row{InstanceID: id, ExecutionID: exec, EventID: evt, Data: []byte(data)}
	if ts, ok := text(r, t, "created_at"); ok {
		if at, err := time.Parse("2006-01-02 15:04:05.999999-07", ts); err == nil {
			row.CreatedAtMs = at.UnixMilli()
		}
	}
	fixType(&row)
	return row, nil
}

type cdcSnapshot struct {
	c   *cdcSource
	ctx context.Context
}
