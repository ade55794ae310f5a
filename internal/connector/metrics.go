package connector

import (
	"fmt"
	"io"
)

// WriteMetrics writes the counters in the Prometheus text format.
func (c *Connector) WriteMetrics(w io.Writer) {
	st := &c.stats
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
	}
	counter("duroscope_connector_rows_read_total", "History rows read from the source (re-reads included).", st.RowsRead.Load())
	counter("duroscope_connector_events_published_total", "History rows the stream acknowledged.", st.EventsPublished.Load())
	counter("duroscope_connector_notices_published_total", "InstanceDeleted and ExecutionsPruned notices the stream acknowledged.", st.NoticesPublished.Load())
	counter("duroscope_connector_deduplicated_total", "Acks JetStream flagged as duplicates (re-published overlap).", st.Deduplicated.Load())
	counter("duroscope_connector_publish_retries_total", "Messages published again after a failed or missing ack.", st.Retried.Load())
	counter("duroscope_connector_repaired_total", "OrchestrationFailed rows given their instance_id / execution_id from the row key.", st.Repaired.Load())
	counter("duroscope_connector_oversized_total", "Rows over the NATS server's max_payload, sent truncated to the dead-letter stream.", st.Oversized.Load())
	counter("duroscope_connector_rewinds_total", "Reads that found an anchor row gone and read again from a lower anchor.", st.Rewinds.Load())
	counter("duroscope_connector_reconciliations_total", "Completed comparisons of the store's inventory with what was published.", st.Reconciliations.Load())
	counter("duroscope_connector_queue_snapshots_total", "Queue-depth snapshots published.", st.QueueSnapshots.Load())
	pos, head := st.Position.Load(), st.Head.Load()
	gauge("duroscope_connector_source_position", "Stored source position (SQLite: history rowid) up to which the stream holds everything.", float64(pos))
	gauge("duroscope_connector_source_head", "Highest source position seen.", float64(head))
	gauge("duroscope_connector_lag_rows", "Source positions not yet stored in the stream (head - position; deleted rows count too).", float64(head-min(pos, head)))
	gauge("duroscope_connector_lag_seconds", "Age of the newest published row while behind the source, 0 when caught up.", float64(st.LagSeconds.Load()))
	gauge("duroscope_connector_last_reconcile_seconds", "Duration of the last reconciliation.", float64(st.ReconcileNs.Load())/1e9)
	gauge("duroscope_connector_instances", "Instance ids whose published state the connector keeps.", float64(st.Instances.Load()))
	caught := 0.0
	if st.CaughtUp.Load() {
		caught = 1
	}
	gauge("duroscope_connector_caught_up", "1 once the backfill is over.", caught)
}
