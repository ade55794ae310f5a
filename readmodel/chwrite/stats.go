package chwrite

// The activity stats pre-aggregate (schema/migrations/0004_activity_stats.sql,
// docs/activity-stats.md), which answers GET /v1/stats/activities.
//
// Facts (activity_stats_facts): the live activities, as the activities table
// has them, keyed by (hour of scheduled_at_ms, activity_name, instance_id,
// execution_id, event_id, scheduled_at_ms). Those come from the
// ActivityScheduled event alone, so a fact never changes its key; newer
// derivations replace its orchestration name, outcome and duration. The
// activities of a deleted incarnation are written again as tombstones
// (deleted = 1) under the keys they had while live: every derivation writes
// every incarnation's activities, live or tombstone, so whatever key an
// earlier derivation of a subset wrote is replaced by the newest derivation.
//
// Cells (activity_stats_cells): per (hour, activity name), value -> count
// pairs of its live facts by (orchestration, is_system, outcome, timed,
// duration), versioned by v = the sum of the row_version of its facts (as the
// report cells, recount.go).
//
// Touches and recounts (activity_stats_touches, activity_stats_recounts):
// a write adds 1 to the touches of every cell it changed once their facts
// are committed; a recount reads its cells' touches before it reads their
// facts, and records them as covered once its snapshot is committed. A
// cell whose touches exceed its newest covered count may have facts that no
// committed snapshot holds: the reader reads such a cell's facts instead.

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/ext"

	"github.com/duroscope/duroscope/internal/recount"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/reportcells"
)

type statsFactCols struct {
	hour, scheduled         []int64
	actName, orchName, id   []string
	execID, eventID         []uint64
	isSystem, timed, delete []uint8
	outcome                 []string
	duration                []int64
	rowVersion              []uint64
}

// statsFacts extracts the activity stats facts of rows and adds the cells
// they touch to cells.
func statsFacts(rows []projection.Rows, cells *recount.Cells) *statsFactCols {
	c := &statsFactCols{}
	for i := range rows {
		r := &rows[i]
		for j := range r.Activities {
			if a := &r.Activities[j]; !a.Deleted {
				c.add(a, false, r.Version, cells)
			}
		}
		for j := range r.Past {
			for k := range r.Past[j].Activities {
				c.add(&r.Past[j].Activities[k], true, r.Version, cells)
			}
		}
	}
	return c
}

func (c *statsFactCols) add(a *projection.ActivityRow, deleted bool, version uint64, cells *recount.Cells) {
	hour := reportcells.StatsHour(a.ScheduledAtMs)
	c.hour = append(c.hour, hour)
	c.actName = append(c.actName, a.ActivityName)
	c.id = append(c.id, a.InstanceID)
	c.execID = append(c.execID, a.ExecutionID)
	c.eventID = append(c.eventID, a.EventID)
	c.scheduled = append(c.scheduled, a.ScheduledAtMs)
	c.orchName = append(c.orchName, a.OrchestrationName)
	c.isSystem = append(c.isSystem, boolU8(a.IsSystem))
	c.outcome = append(c.outcome, a.Outcome)
	timed := (a.Outcome == projection.OutcomeCompleted || a.Outcome == projection.OutcomeFailed) && a.DurationMs.Valid
	c.timed = append(c.timed, boolU8(timed))
	var d int64
	if timed {
		d = a.DurationMs.Value
	}
	c.duration = append(c.duration, d)
	c.delete = append(c.delete, boolU8(deleted))
	c.rowVersion = append(c.rowVersion, version)
	cells.AddStats(recount.Cell{BucketMs: hour, A: a.ActivityName})
}

// writeStatsFacts inserts the facts, then counts a touch of their cells
// (after the facts are committed: that order is what a recount that covers
// the touch relies on).
func (w *Writer) writeStatsFacts(ctx context.Context, c *statsFactCols, cells []recount.Cell) error {
	err := w.insert(ctx, "activity_stats_facts", len(c.id), []insertColumn{
		{"hour_ms", c.hour},
		{"activity_name", c.actName},
		{"instance_id", c.id},
		{"execution_id", c.execID},
		{"event_id", c.eventID},
		{"scheduled_at_ms", c.scheduled},
		{"orchestration_name", c.orchName},
		{"is_system", c.isSystem},
		{"outcome", c.outcome},
		{"timed", c.timed},
		{"duration_ms", c.duration},
		{"deleted", c.delete},
		{"row_version", c.rowVersion},
	})
	if err != nil {
		return err
	}
	hour, name, one := make([]int64, len(cells)), make([]string, len(cells)), make([]uint64, len(cells))
	for i, x := range cells {
		hour[i], name[i], one[i] = x.BucketMs, x.A, 1
	}
	return w.insert(ctx, "activity_stats_touches", len(cells), []insertColumn{
		{"hour_ms", hour},
		{"activity_name", name},
		{"touches", one},
	})
}

// statsCell is an activity stats cell's key.
type statsCell struct {
	hour int64
	name string
}

// recountStats brings the activity stats cells in cells up to date with
// their facts: it reads their touches, recounts them from the facts, then
// records the touches read as covered.
func (w *Writer) recountStats(ctx context.Context, cells []recount.Cell) error {
	if len(cells) == 0 {
		return nil
	}
	t, err := ext.NewTable("_cells", ext.Column("hour_ms", "Int64"), ext.Column("activity_name", "String"))
	if err != nil {
		return fmt.Errorf("external stats cells table: %w", err)
	}
	for _, c := range cells {
		if err := t.Append(c.BucketMs, c.A); err != nil {
			return fmt.Errorf("external stats cells table: %w", err)
		}
	}
	_, touched, err := w.statsTouches(chconn.WithExternalTables(ctx, t), true)
	if err != nil {
		return err
	}
	q, err := statements.Render("recount_activity_stats.sql", recountData{DB: w.db, Cells: true})
	if err != nil {
		return err
	}
	settings := w.recountSettings()
	settings["priority"] = chconn.PriorityRecount
	if err := w.conn.Exec(chconn.WithExternalTables(chconn.WithSettings(ctx, settings), t), q); err != nil {
		return fmt.Errorf("recount %d activity stats cells in %s: %w", len(cells), w.db, err)
	}
	keys := make([]statsCell, len(cells))
	for i, c := range cells {
		keys[i] = statsCell{c.BucketMs, c.A}
	}
	return w.writeCovered(ctx, keys, touched)
}

// statsTouches reads the touches of the cells of the external table _cells
// (only), or of every cell that has facts; it returns those cells too.
func (w *Writer) statsTouches(ctx context.Context, only bool) ([]statsCell, map[statsCell]uint64, error) {
	q, err := statements.Render("stats_touches.sql", recountData{DB: w.db, Cells: only})
	if err != nil {
		return nil, nil, err
	}
	rows, err := w.conn.Query(ctx, q)
	if err != nil {
		return nil, nil, fmt.Errorf("read activity stats touches in %s: %w", w.db, err)
	}
	defer rows.Close()
	var cells []statsCell
	touched := map[statsCell]uint64{}
	for rows.Next() {
		var (
			c statsCell
			n uint64
		)
		if err := rows.Scan(&c.hour, &c.name, &n); err != nil {
			return nil, nil, fmt.Errorf("read activity stats touches in %s: %w", w.db, err)
		}
		cells, touched[c] = append(cells, c), n
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read activity stats touches in %s: %w", w.db, err)
	}
	return cells, touched, nil
}

// writeCovered records that the snapshots of cells cover their touches
// (0 for a cell never touched: one counted by a backfill).
func (w *Writer) writeCovered(ctx context.Context, cells []statsCell, touched map[statsCell]uint64) error {
	hour, name, covered := make([]int64, len(cells)), make([]string, len(cells)), make([]uint64, len(cells))
	for i, c := range cells {
		hour[i], name[i], covered[i] = c.hour, c.name, touched[c]
	}
	return w.insert(ctx, "activity_stats_recounts", len(cells), []insertColumn{
		{"hour_ms", hour},
		{"activity_name", name},
		{"covered", covered},
	})
}

// RecountActivityStatsAll recounts every activity stats cell from all facts
// and records the touches it covers (migration 0004's backfill; tests use it
// to prove that the cells kept by Recount equal a recount from scratch).
func (w *Writer) RecountActivityStatsAll(ctx context.Context) error {
	cells, touched, err := w.statsTouches(ctx, false)
	if err != nil {
		return err
	}
	q, err := statements.Render("recount_activity_stats.sql", recountData{DB: w.db})
	if err != nil {
		return err
	}
	if err := w.conn.Exec(chconn.WithSettings(ctx, w.recountSettings()), q); err != nil {
		return fmt.Errorf("recount all activity stats cells in %s: %w", w.db, err)
	}
	// A cell whose first facts landed after the touches were read is not
	// recorded as covered: its touches keep it stale until its own recount.
	return w.writeCovered(ctx, cells, touched)
}

// BackfillActivityStats fills the activity stats facts of a store projected
// before they existed from the activities table (its live rows at their
// versions, as the live writer writes them), then counts every cell. It is
// migration 0004's Go step; running it again is harmless.
func (w *Writer) BackfillActivityStats(ctx context.Context) error {
	q, err := statements.Render("backfill_activity_stats_facts.sql", dbData{w.db})
	if err != nil {
		return err
	}
	if err := w.conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("backfill activity stats facts in %s: %w", w.db, err)
	}
	return w.RecountActivityStatsAll(ctx)
}
