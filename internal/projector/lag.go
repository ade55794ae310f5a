package projector

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Consumer lag, for /metrics: how many messages of the history stream this
// projector's consumer has not acked yet (not delivered + delivered, not
// acked) and how old the oldest of them is (now − its publish time). Both
// come from JetStream (consumer info, and one message lookup when there is
// a lag), read at most once per lagMaxAge however often /metrics is scraped.

// lagMaxAge is how long a lag reading is reused.
const lagMaxAge = 2 * time.Second

// lagTimeout bounds one reading.
const lagTimeout = 2 * time.Second

// lagReading is one reading of the consumer lag.
type lagReading struct {
	at         time.Time
	events     uint64
	seconds    float64
	hasSeconds bool
	// cellsPending: recorded sets of report cells not yet recounted (-1:
	// unknown).
	cellsPending int64
	err          error
}

// lagCache holds the latest reading.
type lagCache struct {
	mu       sync.Mutex
	cur      lagReading
	failures uint64
}

// consumerLag returns the current lag, reading it when the last reading is
// older than lagMaxAge.
func (p *Projector) consumerLag(now time.Time) (lagReading, uint64) {
	c := &p.lag
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cur.at.IsZero() && now.Sub(c.cur.at) < lagMaxAge {
		return c.cur, c.failures
	}
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	r := p.readLag(ctx, now)
	if r.err != nil {
		c.failures++
	}
	c.cur = r
	return r, c.failures
}

// readLag asks JetStream for the consumer's state.
func (p *Projector) readLag(ctx context.Context, now time.Time) lagReading {
	r := lagReading{at: now, cellsPending: -1}
	if n, err := ReportCellsPending(ctx, p.cfg.JS, p.cfg.Stream); err == nil {
		r.cellsPending = int64(n)
	}
	name := ConsumerName(p.cfg.Partition, p.cfg.Partitions)
	cons, err := p.cfg.JS.Consumer(ctx, p.cfg.Stream, name)
	if err != nil {
		r.err = fmt.Errorf("consumer %s: %w", name, err)
		return r
	}
	info, err := cons.Info(ctx)
	if err != nil {
		r.err = fmt.Errorf("consumer %s info: %w", name, err)
		return r
	}
	r.events = info.NumPending + uint64(info.NumAckPending)
	if r.events == 0 {
		r.hasSeconds = true
		return r
	}
	// The oldest message not acked follows the ack floor. (It may have been
	// removed by the stream's limits; then the age is unknown this time.)
	st, err := p.cfg.JS.Stream(ctx, p.cfg.Stream)
	if err != nil {
		r.err = fmt.Errorf("stream %s: %w", p.cfg.Stream, err)
		return r
	}
	msg, err := st.GetMsg(ctx, info.AckFloor.Stream+1)
	if err != nil {
		return r
	}
	r.seconds = max(now.Sub(msg.Time).Seconds(), 0)
	r.hasSeconds = true
	return r
}

// writeLagMetrics renders the lag gauges (omitted while unknown) and the
// count of failed readings.
func (p *Projector) writeLagMetrics(w io.Writer, now time.Time) {
	r, failures := p.consumerLag(now)
	fmt.Fprintf(w, "# HELP duroscope_projector_lag_errors_total Failed readings of the consumer lag.\n"+
		"# TYPE duroscope_projector_lag_errors_total counter\nduroscope_projector_lag_errors_total %d\n", failures)
	if r.cellsPending >= 0 {
		fmt.Fprintf(w, "# HELP duroscope_projector_report_cells_pending Recorded sets of report cells not yet recounted (all projectors; 0 = report tables up to date).\n"+
			"# TYPE duroscope_projector_report_cells_pending gauge\nduroscope_projector_report_cells_pending %d\n", r.cellsPending)
	}
	if r.err != nil {
		return
	}
	fmt.Fprintf(w, "# HELP duroscope_projector_consumer_lag_events History messages not yet acked by this projector's consumer.\n"+
		"# TYPE duroscope_projector_consumer_lag_events gauge\nduroscope_projector_consumer_lag_events %d\n", r.events)
	if r.hasSeconds {
		fmt.Fprintf(w, "# HELP duroscope_projector_consumer_lag_seconds Age of the oldest history message not yet acked (0 without lag).\n"+
			"# TYPE duroscope_projector_consumer_lag_seconds gauge\nduroscope_projector_consumer_lag_seconds %g\n", r.seconds)
	}
}
