package projector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// expirerFunc is an Expirer whose result the test chooses (the real one,
// chwrite.Writer.DropExpired, runs against ClickHouse in
// readmodel/chread's TestRetention).
type expirerFunc func(c chwrite.Cutoffs) ([]chwrite.DroppedPartition, error)

func (f expirerFunc) DropExpired(_ context.Context, c chwrite.Cutoffs) ([]chwrite.DroppedPartition, error) {
	return f(c)
}

func newRetentionProjector(t *testing.T, r Retention) *Projector {
	t.Helper()
	if err := r.validate(); err != nil {
		t.Fatal(err)
	}
	return &Projector{cfg: Config{Retention: r, AckWait: 30 * time.Second}}
}

// TestRetentionStage: the stage runs at start and every Interval with the
// cutoffs of its clock, counts what it dropped per table for /metrics,
// retries a failing run and stops on a permanent error.
func TestRetentionStage(t *testing.T) {
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	var (
		mu    sync.Mutex
		calls []chwrite.Cutoffs
	)
	fail := 1 // the second call fails once, then succeeds
	ex := expirerFunc(func(c chwrite.Cutoffs) ([]chwrite.DroppedPartition, error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, c)
		if len(calls) == 2 && fail > 0 {
			fail--
			return []chwrite.DroppedPartition{{Table: "instances", Month: 202602}}, errors.New("connection refused")
		}
		return []chwrite.DroppedPartition{{Table: "history_v3", Month: 202601}}, nil
	})
	p := newRetentionProjector(t, Retention{Expirer: ex, Management: 90 * 24 * time.Hour, Reports: 400 * 24 * time.Hour,
		Interval: 20 * time.Millisecond, Now: func() time.Time { return now }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.runRetention(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for p.retention.runs.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stage ended with %v after a cancel", err)
	}
	mu.Lock()
	got := calls
	mu.Unlock()
	if len(got) < 4 { // 3 completed runs, one retried call among them
		t.Fatalf("%d calls", len(got))
	}
	want := chwrite.Cutoffs{Management: now.Add(-90 * 24 * time.Hour), Reports: now.Add(-400 * 24 * time.Hour)}
	if got[0] != want {
		t.Errorf("cutoffs %+v, want %+v", got[0], want)
	}
	var m bytes.Buffer
	p.writeRetentionMetrics(&m)
	runs := p.retention.runs.Load()
	for _, line := range []string{
		fmt.Sprintf("duroscope_projector_retention_runs_total %d", runs),
		fmt.Sprintf("duroscope_projector_retention_last_run_timestamp_seconds %g", float64(now.UnixMilli())/1000),
		`duroscope_projector_retention_partitions_dropped_total{table="instances"} 1`,
		fmt.Sprintf(`duroscope_projector_retention_partitions_dropped_total{table="history_v3"} %d`, len(got)-1),
		`duroscope_projector_retention_partitions_dropped_total{table="report_instance_cells"} 0`,
	} {
		if !strings.Contains(m.String(), line+"\n") {
			t.Errorf("metrics lack %q:\n%s", line, m.String())
		}
	}

	// A permanent error ends the stage with it.
	perm := newRetentionProjector(t, Retention{Expirer: expirerFunc(func(chwrite.Cutoffs) ([]chwrite.DroppedPartition, error) {
		return nil, fmt.Errorf("no such table: %w", ErrPermanent)
	}), Management: time.Hour})
	if err := perm.runRetention(context.Background()); !errors.Is(err, ErrPermanent) {
		t.Errorf("permanent error: stage returned %v", err)
	}
}

func TestRetentionConfig(t *testing.T) {
	if (Retention{}).enabled(0) {
		t.Error("the zero Retention runs a stage")
	}
	r := Retention{Management: time.Hour}
	if !r.enabled(0) || r.enabled(1) {
		t.Error("the stage must run on partition 0 only")
	}
	if err := r.validate(); err == nil {
		t.Error("a retention without an Expirer is accepted")
	}
	if err := (&Retention{Management: -time.Hour}).validate(); err == nil {
		t.Error("a negative retention is accepted")
	}
	ok := Retention{Reports: time.Hour, Expirer: expirerFunc(nil)}
	if err := ok.validate(); err != nil || ok.Interval != time.Hour || ok.Now == nil {
		t.Errorf("defaults: %+v, %v", ok, err)
	}
}

// TestDriftLeavesExpiredInstancesAlone: an instance is left to the
// retention only when neither its history nor its rows were seen since the
// cutoff.
func TestDriftLeavesExpiredInstancesAlone(t *testing.T) {
	const cutoff = 1_000
	stored := func(updated int64, deleted bool) *chwrite.StoredInstance {
		return &chwrite.StoredInstance{Instance: chwrite.Stored[projection.InstanceRow]{Version: 3,
			Copies: []projection.InstanceRow{{InstanceID: "a", UpdatedAtMs: updated, Deleted: deleted}}}}
	}
	for _, c := range []struct {
		name    string
		d       *projection.Rows
		s       *chwrite.StoredInstance
		expired bool
	}{
		{"old history, old rows", &projection.Rows{LastSeenMs: 500}, stored(400, false), true},
		{"history dropped, old rows", nil, stored(400, false), true},
		{"old history, rows dropped", &projection.Rows{LastSeenMs: 500}, nil, true},
		{"old history, old tombstone", &projection.Rows{LastSeenMs: 500}, stored(0, true), true},
		{"history seen since", &projection.Rows{LastSeenMs: 1_000}, stored(400, false), false},
		{"rows updated since", nil, stored(1_200, false), false},
		{"new history, no rows yet", &projection.Rows{LastSeenMs: 2_000}, nil, false},
	} {
		if got := expiredByRetention(c.d, c.s, cutoff); got != c.expired {
			t.Errorf("%s: expired = %v", c.name, got)
		}
	}
}
