package chwrite

import (
	"context"
	"fmt"

	"github.com/duroscope/duroscope/schema"
)

// SchemaSteps are the Go steps of the schema's migrations that the writer
// supplies (schema.Config.Steps): the report backfill of migration 0002,
// the move to the version-3 fact tables of migration 0003 and the activity
// stats backfill of migration 0004 and the swap to partitioned tables of
// migration 0005.
func (w *Writer) SchemaSteps() map[string]schema.Step {
	return map[string]schema.Step{schema.StepReportsBackfill: w.BackfillReports, schema.StepReportsV3: w.MoveReportsToV3,
		schema.StepActivityStatsBackfill: w.BackfillActivityStats, schema.StepRetentionPartitions: w.PartitionTables}
}

// BackfillReports fills the version-2 report facts of a store projected
// before they existed, from the version-1 tables (instances, activities and
// the stored OrchestrationStarted events). Migration 0003's step
// (MoveReportsToV3), which always runs after it, moves them to the
// version-3 tables and counts the cells. The facts come out as the live
// writer's (facts.go) would have written them, TestReportBackfillEqualsLive
// checks it. Running it again is harmless: every table is a
// ReplacingMergeTree whose rows carry the version they were derived at. It
// is migration 0002's Go step.
func (w *Writer) BackfillReports(ctx context.Context) error {
	for _, st := range [...]struct{ what, stmt string }{
		{"instance facts", "backfill_instance_facts.sql"},
		{"activity facts", "backfill_activity_facts.sql"},
	} {
		q, err := statements.Render(st.stmt, dbData{w.db})
		if err != nil {
			return err
		}
		if err := w.conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("backfill %s in %s: %w", st.what, w.db, err)
		}
	}
	return nil
}

// MoveReportsToV3 copies the version-2 report facts into the version-3
// tables (keyed by the incarnation's start too, docs/deletions.md), then
// counts every cell from them (RecountAll). Idempotent like
// BackfillReports. It is migration 0003's Go step.
func (w *Writer) MoveReportsToV3(ctx context.Context) error {
	for _, st := range [...]struct{ what, stmt string }{
		{"instance facts", "copy_instance_facts_v3.sql"},
		{"activity facts", "copy_activity_facts_v3.sql"},
	} {
		q, err := statements.Render(st.stmt, dbData{w.db})
		if err != nil {
			return err
		}
		if err := w.conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("copy %s to version 3 in %s: %w", st.what, w.db, err)
		}
	}
	return w.RecountAll(ctx)
}
