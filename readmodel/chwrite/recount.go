package chwrite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"

	"github.com/duroscope/duroscope/internal/recount"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/reportcells"
)

// Recount brings the report cells in cells up to date with their facts:
// hour cells from the facts, then day cells from the hour cells. Each step
// starts after the previous one is committed (ClickHouse INSERTs are
// synchronous), and a recount must start after the facts it is for were
// written (WriteRows returned): that is what makes the last recount of a
// cell see all of it. Instances and activities are independent chains and
// run concurrently. Recounting a cell again, or concurrently with another
// writer, is harmless: a cell's snapshot is versioned by its facts
// (report_sql.go).
func (w *Writer) Recount(ctx context.Context, cells recount.Cells) error {
	chains := [2][]recountStep{
		{
			{"instance hour cells", instanceHourRecount, instanceHourCellsFilter, cells.InstanceHours(), "orchestration_name", "orchestration_version", false},
			{"instance day cells", instanceDayRecount, instanceDayCellsFilter, cells.InstanceDays(), "orchestration_name", "orchestration_version", true},
		},
		{
			{"activity hour cells", activityHourRecount, activityHourCellsFilter, cells.ActivityHours(), "activity_name", "orchestration_name", false},
			{"activity day cells", activityDayRecount, activityDayCellsFilter, cells.ActivityDays(), "activity_name", "orchestration_name", true},
		},
	}
	var (
		wg   sync.WaitGroup
		errs [2]error
	)
	for i := range chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, st := range chains[i] {
				if errs[i] = w.recount(ctx, st); errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs[:]...)
}

// recountStep is one recount statement and the cells it is run for.
type recountStep struct {
	what, sql, filter string
	cells             []recount.Cell
	dimA, dimB        string
	days              bool
}

// recount runs one recount statement for its cells (none: nothing to do).
func (w *Writer) recount(ctx context.Context, st recountStep) error {
	if len(st.cells) == 0 {
		return nil
	}
	t, err := cellTable(st.cells, st.dimA, st.dimB, st.days)
	if err != nil {
		return err
	}
	q := strings.ReplaceAll(strings.ReplaceAll(st.sql, "{cells}", st.filter), "{db}", w.db)
	if err := w.conn.Exec(chconn.WithExternalTables(chconn.WithSettings(ctx, clickhouse.Settings{"priority": chconn.PriorityRecount}), t), q); err != nil {
		return fmt.Errorf("recount %d %s in %s: %w", len(st.cells), st.what, w.db, err)
	}
	return nil
}

// cellTable builds the external table _cells of a recount: for hour cells
// (hour_ms, dimA, dimB); for day cells every hour cell of each day,
// (grain_ms, bucket_ms, dimA, dimB), so that the filter is a primary-key
// lookup of the hour cells table.
func cellTable(cells []recount.Cell, dimA, dimB string, days bool) (*ext.Table, error) {
	var (
		t   *ext.Table
		err error
	)
	if days {
		t, err = ext.NewTable("_cells", ext.Column("grain_ms", "UInt32"), ext.Column("bucket_ms", "Int64"),
			ext.Column(dimA, "String"), ext.Column(dimB, "String"))
	} else {
		t, err = ext.NewTable("_cells", ext.Column("hour_ms", "Int64"), ext.Column(dimA, "String"), ext.Column(dimB, "String"))
	}
	if err != nil {
		return nil, fmt.Errorf("external cells table: %w", err)
	}
	for _, c := range cells {
		if !days {
			err = t.Append(c.BucketMs, c.A, c.B)
		} else {
			for h := int64(0); h < reportcells.GrainDayMs && err == nil; h += reportcells.GrainHourMs {
				err = t.Append(uint32(reportcells.GrainHourMs), c.BucketMs+h, c.A, c.B)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("external cells table: %w", err)
		}
	}
	return t, nil
}

// RecountAll recounts every report cell from all facts (what migration
// 0002's backfill does). The live path never needs it; tests use it to prove
// that the cells kept by Recount equal a recount from scratch, and an
// operator can use it to repair cells after a restore of the fact tables.
func (w *Writer) RecountAll(ctx context.Context) error {
	for _, st := range [...]struct{ what, sql string }{
		{"instance hour cells", instanceHourRecount},
		{"instance day cells", instanceDayRecount},
		{"activity hour cells", activityHourRecount},
		{"activity day cells", activityDayRecount},
	} {
		q := strings.ReplaceAll(strings.ReplaceAll(st.sql, "{cells}", ""), "{db}", w.db)
		if err := w.conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("recount all %s in %s: %w", st.what, w.db, err)
		}
	}
	return nil
}
