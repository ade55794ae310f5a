package chcompat

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/duroscope/duroscope/readmodel/chconn"
)

// insertRe matches the statement of a batch: INSERT INTO table (columns).
var insertRe = regexp.MustCompile(`(?is)^\s*INSERT\s+INTO\s+([A-Za-z0-9_.]+)\s*\(([^)]*)\)\s*(?:VALUES\s*)?$`)

// PrepareBatch starts a batch INSERT of "INSERT INTO table (columns)": the
// rows are collected in the driver's column types (the table's, as the
// server would announce them) and sent as one INSERT ... VALUES by Send.
func (c *Conn) PrepareBatch(ctx context.Context, query string, _ ...driver.PrepareBatchOption) (driver.Batch, error) {
	m := insertRe.FindStringSubmatch(query)
	if m == nil {
		return nil, fmt.Errorf("chcompat: batch statement %q: want INSERT INTO table (columns)", query)
	}
	table := m[1]
	var names []string
	for _, n := range strings.Split(m[2], ",") {
		names = append(names, strings.TrimSpace(n))
	}
	types, err := c.columnTypes(ctx, table)
	if err != nil {
		return nil, err
	}
	b := proto.NewBlock()
	b.ServerContext = &column.ServerContext{Timezone: time.UTC}
	for _, n := range names {
		t, ok := types[n]
		if !ok {
			return nil, fmt.Errorf("chcompat: batch into %s: no column %s", table, n)
		}
		if err := b.AddColumn(n, column.Type(t)); err != nil {
			return nil, fmt.Errorf("chcompat: batch into %s: column %s %s: %w", table, n, t, err)
		}
	}
	return &batch{ctx: ctx, conn: c, table: table, names: names, block: b}, nil
}

// columnTypes returns the type of every column of table.
func (c *Conn) columnTypes(ctx context.Context, table string) (map[string]string, error) {
	rows, err := c.Query(context.WithoutCancel(ctx), "DESCRIBE TABLE "+table)
	if err != nil {
		return nil, fmt.Errorf("chcompat: describe %s: %w", table, err)
	}
	nr := rows.(*nativeRows)
	out := map[string]string{}
	for nr.Next() {
		b := nr.blocks[nr.block]
		name, _ := b.Columns[0].Row(nr.row, false).(string)
		typ, _ := b.Columns[1].Row(nr.row, false).(string)
		out[name] = typ
	}
	return out, nil
}

// batch is driver.Batch collecting rows for one INSERT ... VALUES.
type batch struct {
	ctx   context.Context
	conn  *Conn
	table string
	names []string
	block *proto.Block
	sent  bool
}

var errBatchSent = errors.New("chcompat: batch already sent")

func (b *batch) Append(v ...any) error {
	if b.sent {
		return errBatchSent
	}
	return b.block.Append(v...)
}

func (b *batch) Column(i int) driver.BatchColumn {
	if i < 0 || i >= len(b.block.Columns) {
		return badColumn{fmt.Errorf("chcompat: batch into %s: no column %d", b.table, i)}
	}
	return batchColumn{b: b, c: b.block.Columns[i]}
}

// Send runs the INSERT (nothing for an empty batch, like the driver).
func (b *batch) Send() error {
	if b.sent {
		return errBatchSent
	}
	b.sent = true
	n := b.block.Rows()
	for _, c := range b.block.Columns {
		if c.Rows() != n {
			return fmt.Errorf("chcompat: batch into %s: column %s has %d rows, want %d", b.table, c.Name(), c.Rows(), n)
		}
	}
	if n == 0 {
		return nil
	}
	head, err := withSettings("INSERT INTO "+b.table+" ("+strings.Join(b.names, ", ")+")", chconn.SettingsFrom(b.ctx))
	if err != nil {
		return err
	}
	var sb strings.Builder
	sb.WriteString(head)
	sb.WriteString("\nVALUES ")
	if err := writeValues(&sb, b.block.Columns, n); err != nil {
		return fmt.Errorf("chcompat: batch into %s: %w", b.table, err)
	}
	if err := b.ctx.Err(); err != nil {
		return err
	}
	b.conn.mu.Lock()
	defer b.conn.mu.Unlock()
	_, err = b.conn.run(sb.String(), "Native")
	return err
}

func (b *batch) Abort() error                { b.sent = true; return nil }
func (b *batch) AppendStruct(any) error      { return errUnsupported }
func (b *batch) Flush() error                { return nil }
func (b *batch) IsSent() bool                { return b.sent }
func (b *batch) Rows() int                   { return b.block.Rows() }
func (b *batch) Columns() []column.Interface { return b.block.Columns }
func (b *batch) Close() error                { b.sent = true; return nil }

type batchColumn struct {
	b *batch
	c column.Interface
}

func (bc batchColumn) Append(v any) error {
	if bc.b.sent {
		return errBatchSent
	}
	_, err := bc.c.Append(v)
	return err
}

func (bc batchColumn) AppendRow(v any) error {
	if bc.b.sent {
		return errBatchSent
	}
	return bc.c.AppendRow(v)
}

type badColumn struct{ err error }

func (c badColumn) Append(any) error    { return c.err }
func (c badColumn) AppendRow(any) error { return c.err }
