package projector

import (
	"fmt"
	"io"
	"time"
)

// WriteMetrics writes the counters in the Prometheus text format.
func (p *Projector) WriteMetrics(w io.Writer) {
	st := &p.stats
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
	}
	counter("duroscope_projector_messages_received_total", "Messages pulled from the history stream.", st.Received.Load())
	counter("duroscope_projector_events_projected_total", "Valid events written to the read model.", st.Projected.Load())
	counter("duroscope_projector_events_skipped_total", "Valid events owned by another partition.", st.Skipped.Load())
	counter("duroscope_projector_dead_lettered_total", "Bad messages moved to the dead-letter stream.", st.DeadLettered.Load())
	counter("duroscope_projector_unknown_events_total", "Events of unknown type (stored, not projected).", st.Unknown.Load())
	counter("duroscope_projector_notices_total", "Source notices (InstanceDeleted, ExecutionsPruned) projected.", st.Notices.Load())
	counter("duroscope_projector_batches_total", "Batches written and acked.", st.Batches.Load())
	counter("duroscope_projector_instances_loaded_total", "Instance histories read back from ClickHouse.", st.Loaded.Load())
	counter("duroscope_projector_instances_derived_total", "Instance re-derivations written.", st.DerivedRows.Load())
	counter("duroscope_projector_clickhouse_errors_total", "Failed ClickHouse or NATS writes (retried).", st.StoreErrors.Load())
	counter("duroscope_projector_events_refused_total", "Events the read model refused, isolated by splitting the write and dead-lettered.", st.Refused.Load())
	counter("duroscope_projector_write_splits_total", "Refused writes split in halves to isolate the refused rows.", st.Splits.Load())
	counter("duroscope_projector_report_recounts_total", "Recounts of report cells (each covering the cells of one or more batches).", st.Recounts.Load())
	counter("duroscope_projector_report_cells_recounted_total", "Report hour cells recounted.", st.RecountCells.Load())
	counter("duroscope_projector_queue_snapshots_total", "Queue-depth snapshots stored.", st.QueueSnaps.Load())
	counter("duroscope_drift_checked_total", "Instances the drift self-check compared with their stored history.", st.DriftChecked.Load())
	counter("duroscope_drift_found_total", "Instances whose read-model rows differed from their stored history (logged with the instance id).", st.DriftFound.Load())
	counter("duroscope_drift_repaired_total", "Drifted instances whose rows were rewritten from their stored history.", st.DriftRepaired.Load())
	gauge("duroscope_projector_last_batch_seconds", "Time to write the last batch.", float64(st.LastInsertNs.Load())/1e9)
	gauge("duroscope_projector_cache_instances", "Instances held in the cache.", float64(p.cacheLen.Load()))
	p.writeLagMetrics(w, time.Now())
	p.writeRetentionMetrics(w)
}
