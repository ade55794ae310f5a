package chcompat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// decodeNative decodes every block of a Native-format stream with the
// driver's own column decoders (the Native format is the native protocol's
// block without block info, i.e. revision 0).
//
// The driver's reader buffers ahead, so the end of the stream is marked
// instead of measured: a block of no columns and no rows, which no result
// contains, is appended and ends the loop.
func decodeNative(out []byte) ([]*proto.Block, error) {
	var blocks []*proto.Block
	rd := chproto.NewReader(io.MultiReader(bytes.NewReader(out), bytes.NewReader([]byte{0, 0})))
	for {
		b := proto.NewBlock()
		b.ServerContext = &column.ServerContext{Timezone: time.UTC}
		if err := b.Decode(rd, 0); err != nil {
			return nil, fmt.Errorf("block %d: %w", len(blocks), err)
		}
		if len(b.Columns) == 0 {
			break
		}
		blocks = append(blocks, b)
	}
	if _, err := rd.ReadByte(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%d blocks and then an empty block before the end of the result", len(blocks))
	}
	return blocks, nil
}

// nativeRows is driver.Rows over decoded blocks.
type nativeRows struct {
	blocks []*proto.Block
	block  int // current block
	row    int // current row in it; -1 before the first Next
}

func (r *nativeRows) Next() bool {
	r.row++
	for r.block < len(r.blocks) && r.row >= r.blocks[r.block].Rows() {
		r.block++
		r.row = 0
	}
	return r.block < len(r.blocks)
}

// Scan converts the current row's columns into dest with the driver's own
// column.ScanRow, as clickhouse-go's Rows.Scan does.
func (r *nativeRows) Scan(dest ...any) error {
	if r.block >= len(r.blocks) || r.row < 0 {
		return fmt.Errorf("chcompat: Scan without a current row")
	}
	b := r.blocks[r.block]
	if len(dest) != len(b.Columns) {
		return fmt.Errorf("chcompat: expected %d destination arguments in Scan, not %d", len(b.Columns), len(dest))
	}
	for i, d := range dest {
		if err := b.Columns[i].ScanRow(d, r.row); err != nil {
			return fmt.Errorf("chcompat: scan column %s: %w", b.Columns[i].Name(), err)
		}
	}
	return nil
}

func (r *nativeRows) ScanStruct(any) error { return errUnsupported }
func (r *nativeRows) Totals(...any) error  { return errUnsupported }
func (r *nativeRows) Close() error         { return nil }
func (r *nativeRows) Err() error           { return nil }
func (r *nativeRows) HasData() bool        { return len(r.blocks) > 0 && r.blocks[0].Rows() > 0 }

func (r *nativeRows) Columns() []string {
	if len(r.blocks) == 0 {
		return nil
	}
	return r.blocks[0].ColumnsNames()
}

func (r *nativeRows) ColumnTypes() []driver.ColumnType {
	if len(r.blocks) == 0 {
		return nil
	}
	out := make([]driver.ColumnType, len(r.blocks[0].Columns))
	for i, c := range r.blocks[0].Columns {
		out[i] = columnType{c}
	}
	return out
}

type columnType struct{ c column.Interface }

func (t columnType) Name() string             { return t.c.Name() }
func (t columnType) Nullable() bool           { return strings.HasPrefix(string(t.c.Type()), "Nullable(") }
func (t columnType) ScanType() reflect.Type   { return t.c.ScanType() }
func (t columnType) DatabaseTypeName() string { return string(t.c.Type()) }
