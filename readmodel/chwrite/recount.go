package chwrite

// The report tables (schema/migrations/0002_reports.sql, docs/reports.md).
//
// Facts: one row per instance (report_instance_facts_v3) and per activity
// (report_activity_facts_v3, migration 0003), keyed by the hour they are
// bucketed in, the incarnation's start and their
// group dimensions, all taken from events that never change once projected
// (execution 1's OrchestrationStarted, the ActivityScheduled event and the
// OrchestrationStarted of the execution that scheduled it). The rest of a fact
// (status, outcome, duration, error) is replaced by newer derivations
// (ReplacingMergeTree(row_version)), but a fact never changes its key, so a
// cell's facts are exactly the rows under the cell's key prefix.
//
// Cells: per (grain, bucket, dimensions) a snapshot of the aggregate of the
// cell's facts (counts, exact duration sums, duration histograms, error
// counts), versioned by v = the sum of the row_version of the cell's newest
// facts. Facts only enter a cell or move to a higher row_version, so v grows
// with every change and two snapshots with the same v are the same snapshot:
// ReplacingMergeTree(v) keeps the newest, whatever order writers insert
// snapshots in. The cells a write touched are recounted after its facts are
// committed (WriteDerived at once; the projector from its recount stream), so
// the last recount of a cell sees its final contents. Hour cells
// are recounted from the facts, day cells from the hour cells.
//
// Activity facts may be tombstones (deleted = 1, docs/deletions.md): a
// tombstone counts in v (its row_version replaced the fact's, so v still
// grows) and nowhere else.
//
// The recount statements (sql/recount_*.sql) are shared by the live writer
// (Cells: a filter on the cells touched, from the external table _cells) and
// by RecountAll (no filter), which migration 0003's step runs.

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"

	"github.com/duroscope/duroscope/internal/recount"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/reportcells"
)

// Recount brings the report cells in cells up to date with their facts:
// hour cells from the facts, then day cells from the hour cells; and the
// activity stats cells in cells (stats.go). Each step
// starts after the previous one is committed (ClickHouse INSERTs are
// synchronous), and a recount must start after the facts it is for were
// written (WriteRows returned): that is what makes the last recount of a
// cell see all of it. Instances, activities and activity stats are
// independent chains and run concurrently. Recounting a cell again, or
// concurrently with another writer, is harmless: a cell's snapshot is versioned by its facts (see
// the top of this file).
func (w *Writer) Recount(ctx context.Context, cells recount.Cells) error {
	chains := [2][]recountStep{
		{
			{"instance hour cells", "recount_instance_hours.sql", cells.InstanceHours(), "orchestration_name", "orchestration_version", false},
			{"instance day cells", "recount_instance_days.sql", cells.InstanceDays(), "orchestration_name", "orchestration_version", true},
		},
		{
			{"activity hour cells", "recount_activity_hours.sql", cells.ActivityHours(), "activity_name", "orchestration_name", false},
			{"activity day cells", "recount_activity_days.sql", cells.ActivityDays(), "activity_name", "orchestration_name", true},
		},
	}
	var (
		wg   sync.WaitGroup
		errs [3]error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs[2] = w.recountStats(ctx, cells.Stats())
	}()
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
	what, stmt string
	cells      []recount.Cell
	dimA, dimB string
	days       bool
}

// recountData is the template data of the recount statements: Cells
// restricts them to the cells of the external table _cells.
type recountData struct {
	DB    string
	Cells bool
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
	q, err := statements.Render(st.stmt, recountData{DB: w.db, Cells: true})
	if err != nil {
		return err
	}
	settings := w.recountSettings()
	settings["priority"] = chconn.PriorityRecount
	if err := w.conn.Exec(chconn.WithExternalTables(chconn.WithSettings(ctx, settings), t), q); err != nil {
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
	for _, st := range [...]struct{ what, stmt string }{
		{"instance hour cells", "recount_instance_hours.sql"},
		{"instance day cells", "recount_instance_days.sql"},
		{"activity hour cells", "recount_activity_hours.sql"},
		{"activity day cells", "recount_activity_days.sql"},
	} {
		q, err := statements.Render(st.stmt, recountData{DB: w.db})
		if err != nil {
			return err
		}
		if err := w.conn.Exec(chconn.WithSettings(ctx, w.recountSettings()), q); err != nil {
			return fmt.Errorf("recount all %s in %s: %w", st.what, w.db, err)
		}
	}
	return nil
}

// recountSettings are the settings of a recount on this server: on the
// parallel-final path, FINAL reads of the facts and cells deduplicate
// partition by partition (exact for the report tables:
// chconn.Features.PartitionFinal).
func (w *Writer) recountSettings() clickhouse.Settings {
	s := clickhouse.Settings{}
	if w.serverFeatures().PartitionFinal {
		s["do_not_merge_across_partitions_select_final"] = 1
	}
	return s
}
