package projector

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// BenchmarkDriftRound times one round of the drift self-check (sample,
// stored rows, history and notices, derive, compare) of 100 instances of a
// read model holding 30,000 generated top-level instances (~520,000
// events), written straight through the writer, against the real ClickHouse
// (DUROSCOPE_TEST_CLICKHOUSE_ADDR).
//
//	go test -run x -bench DriftRound ./internal/projector
func BenchmarkDriftRound(b *testing.B) {
	db := testenv.NewDatabase(b, "driftbench")
	w := chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name})
	ctx := context.Background()
	var (
		hist []chwrite.HistoryRow
		rows []projection.Rows
	)
	flush := func() {
		if err := w.WriteHistory(ctx, hist); err != nil {
			b.Fatal(err)
		}
		if _, err := w.WriteRows(ctx, rows); err != nil {
			b.Fatal(err)
		}
		hist, rows = hist[:0], rows[:0]
	}
	for h := range gen.Histories(gen.Config{Seed: 1, Instances: 30000}) {
		for i := range h {
			hist = append(hist, chwrite.HistoryRow{Event: &h[i]})
		}
		r, err := projection.Derive(h)
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, r)
		if len(hist) > 50000 {
			flush()
		}
	}
	flush()
	if err := db.Conn.Exec(ctx, "OPTIMIZE TABLE "+db.Name+".history_v3 FINAL"); err != nil {
		b.Fatal(err)
	}
	p := &Projector{cfg: Config{Store: w, Drift: w, DriftSample: 100, DriftGrace: time.Minute, Partitions: 1}, log: zerolog.Nop()}
	c := newDriftChecker(p)
	b.ResetTimer()
	for range b.N {
		if err := c.round(ctx, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if f := p.stats.DriftFound.Load(); f != 0 {
		b.Fatalf("%d drifts found in a model written from the same derivations", f)
	}
	b.ReportMetric(float64(p.stats.DriftChecked.Load())/b.Elapsed().Seconds(), "instances/s")
}
