package chwrite

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/projection"
)

const benchWriteBatch = 10_000

// benchHistoryEvents returns n ActivityScheduled events of a typical size (~250
// bytes of payload), spread over n/10 instances.
func benchHistoryEvents(b *testing.B, n int) []events.Event {
	b.Helper()
	out := make([]events.Event, n)
	for i := range out {
		raw, err := json.Marshal(map[string]any{
			"event_id": i%10 + 1, "source_event_id": nil, "instance_id": fmt.Sprintf("bench-order-%07d", i/10),
			"execution_id": 1, "timestamp_ms": 1764105600000 + i, "duroxide_version": "0.1.26",
			"type": "ActivityScheduled", "name": "ChargeCard", "input": `{"order_id":12345,"amount_cents":4200,"currency":"EUR"}`,
		})
		if err != nil {
			b.Fatal(err)
		}
		if out[i], err = events.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// BenchmarkWriteHistory writes 10k history rows per operation.
func BenchmarkWriteHistory(b *testing.B) {
	_, w, _ := writerTestDB(b)
	ctx := context.Background()
	rows := historyRows(benchHistoryEvents(b, benchWriteBatch), 1)
	b.ResetTimer()
	for b.Loop() {
		if err := w.WriteHistory(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchWriteBatch)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWriteHistoryRowWise is the same insert appended row by row
// (batch.Append), the baseline the columnar appends of Writer are for.
func BenchmarkWriteHistoryRowWise(b *testing.B) {
	conn, _, db := writerTestDB(b)
	ctx := context.Background()
	rows := historyRows(benchHistoryEvents(b, benchWriteBatch), 1)
	b.ResetTimer()
	for b.Loop() {
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".history_v3 (instance_id, execution_id, event_id, event_type, timestamp_ms, known, payload, stream_seq)")
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rows {
			e := r.Event
			if err := batch.Append(e.InstanceID, e.ExecutionID, e.EventID, e.Type, e.TimestampMs, boolU8(e.Known), string(e.Raw), r.StreamSeq); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Send(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchWriteBatch)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWriteDerived writes 10k derived instances per operation; each
// has 2 executions, 1 activity and 1 work row, so one operation inserts
// 50k table rows (reported as rows/s) in four INSERTs.
func BenchmarkWriteDerived(b *testing.B) {
	_, w, _ := writerTestDB(b)
	ctx := context.Background()
	rows := make([]projection.Rows, benchWriteBatch)
	tableRows := 0
	for i := range rows {
		rows[i] = derivedRows(fmt.Sprintf("bench-order-%07d", i), uint64(10+i%5), i%2 == 0)
		tableRows += 1 + len(rows[i].Executions) + len(rows[i].Activities) + len(rows[i].Work)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := w.WriteDerived(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*benchWriteBatch)/secs, "instances/s")
	b.ReportMetric(float64(b.N*tableRows)/secs, "rows/s")
}
