package chwrite

import (
	"context"
	"fmt"

	"github.com/duroscope/duroscope/schema"
)

// SchemaSteps are the Go steps of the schema's migrations that the writer
// supplies (schema.Config.Steps): the report backfill of migration 0002.
func (w *Writer) SchemaSteps() map[string]schema.Step {
	return map[string]schema.Step{schema.StepReportsBackfill: w.BackfillReports}
}

// BackfillReports fills the report tables of a store projected before they
// existed: the facts from the version-1 tables (instances, activities and
// the stored OrchestrationStarted events), then every cell from the facts
// (RecountAll). The facts come out as the live writer's (facts.go) would
// have written them, TestReportBackfillEqualsLive checks it. Running it
// again is harmless: every table is a ReplacingMergeTree whose rows carry
// the version they were derived at. It is migration 0002's Go step.
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
	return w.RecountAll(ctx)
}
