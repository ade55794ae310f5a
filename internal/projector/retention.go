package projector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// Expirer drops what the retention no longer keeps (chwrite.Writer's
// DropExpired): whole months of the read model's tables. An error wrapping
// ErrPermanent stops the pipeline; any other is retried.
type Expirer interface {
	DropExpired(ctx context.Context, c chwrite.Cutoffs) ([]chwrite.DroppedPartition, error)
}

// Retention configures the retention stage (README "Retention"). The zero
// value keeps everything and starts no stage.
type Retention struct {
	// Expirer drops the partitions; required when Management or Reports
	// is set.
	Expirer Expirer
	// Management (DUROSCOPE_RETENTION) and Reports
	// (DUROSCOPE_REPORT_RETENTION): how long instance rows and report
	// cells are kept; 0 = forever.
	Management, Reports time.Duration
	// Interval between two runs (default 1h); the first runs at start.
	Interval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// enabled reports whether the stage runs for partition index i: only the
// first partition of a scaled-out set drops (the others would drop the
// same months again).
func (r Retention) enabled(i int) bool {
	return i == 0 && (r.Management > 0 || r.Reports > 0)
}

func (r *Retention) validate() error {
	if r.Management < 0 || r.Reports < 0 {
		return fmt.Errorf("projector: retention %v / report retention %v: want 0 (keep) or positive", r.Management, r.Reports)
	}
	if (r.Management > 0 || r.Reports > 0) && r.Expirer == nil {
		return errors.New("projector: a retention is set but no Expirer")
	}
	if r.Interval <= 0 {
		r.Interval = time.Hour
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return nil
}

// managementCutoff is the first time (epoch ms) the management retention
// keeps now, and false without one.
func (r Retention) managementCutoff() (int64, bool) {
	if r.Management <= 0 {
		return 0, false
	}
	return r.Now().Add(-r.Management).UnixMilli(), true
}

// expiredByRetention reports whether an instance is beyond the management
// retention's cutoff (epoch ms) in both its stored history (d, derived from
// it; nil = none left) and its stored rows (s; nil = none): the retention
// drops its months, possibly the history's before the rows', so the drift
// self-check leaves it alone.
func expiredByRetention(d *projection.Rows, s *chwrite.StoredInstance, cutoff int64) bool {
	if d != nil && d.LastSeenMs >= cutoff {
		return false
	}
	if s != nil {
		for _, r := range s.Instance.Copies {
			if !r.Deleted && r.UpdatedAtMs >= cutoff {
				return false
			}
		}
	}
	return true
}

// retentionStats are the retention stage's figures for /metrics.
type retentionStats struct {
	runs    atomic.Uint64
	lastRun atomic.Int64 // unix ms of the last completed run, 0 = none
	mu      sync.Mutex
	dropped map[string]uint64 // partitions dropped, by table
}

// runRetention drops expired months now and every Interval until ctx ends.
// A failing run is retried with backoff (retryLoop), so an outage delays
// it; an error wrapping ErrPermanent ends the stage, and the pipeline.
func (p *Projector) runRetention(ctx context.Context) error {
	r := p.cfg.Retention
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		err := p.retryLoop(ctx, func() {}, "retention", func() error { return p.retentionRun(ctx) }, false)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// retentionRun is one run: the cutoffs at the clock's now, the drops, the
// figures and a log line per dropped month.
func (p *Projector) retentionRun(ctx context.Context) error {
	r := p.cfg.Retention
	now := r.Now()
	var c chwrite.Cutoffs
	if r.Management > 0 {
		c.Management = now.Add(-r.Management)
	}
	if r.Reports > 0 {
		c.Reports = now.Add(-r.Reports)
	}
	dropped, err := r.Expirer.DropExpired(ctx, c)
	rs := &p.retention
	rs.mu.Lock()
	for _, d := range dropped {
		if rs.dropped == nil {
			rs.dropped = map[string]uint64{}
		}
		rs.dropped[d.Table]++
		p.log.Info().Str("table", d.Table).Uint32("month", d.Month).Msg("retention: dropped a month")
	}
	rs.mu.Unlock()
	if err != nil {
		return err
	}
	rs.runs.Add(1)
	rs.lastRun.Store(now.UnixMilli())
	return nil
}

// writeRetentionMetrics writes the retention stage's figures.
func (p *Projector) writeRetentionMetrics(w io.Writer) {
	rs := &p.retention
	fmt.Fprintf(w, "# HELP duroscope_projector_retention_runs_total Completed retention runs (DUROSCOPE_RETENTION, DUROSCOPE_REPORT_RETENTION).\n"+
		"# TYPE duroscope_projector_retention_runs_total counter\nduroscope_projector_retention_runs_total %d\n", rs.runs.Load())
	fmt.Fprintf(w, "# HELP duroscope_projector_retention_last_run_timestamp_seconds When the last retention run completed (0 = never).\n"+
		"# TYPE duroscope_projector_retention_last_run_timestamp_seconds gauge\nduroscope_projector_retention_last_run_timestamp_seconds %g\n",
		float64(rs.lastRun.Load())/1000)
	fmt.Fprintf(w, "# HELP duroscope_projector_retention_partitions_dropped_total Monthly partitions dropped by the retention, by table.\n"+
		"# TYPE duroscope_projector_retention_partitions_dropped_total counter\n")
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var b strings.Builder
	for _, t := range chwrite.RetentionTables() {
		fmt.Fprintf(&b, "duroscope_projector_retention_partitions_dropped_total{table=%q} %d\n", t, rs.dropped[t])
	}
	io.WriteString(w, b.String())
}
