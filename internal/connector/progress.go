package connector

import (
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows the backfill: a bar with rate and ETA on a terminal, a log
// line every ProgressEvery otherwise.
type progress struct {
	bar       *progressbar.ProgressBar
	start     uint64 // position the backfill started from
	lastLog   time.Time
	lastPos   uint64
	startedAt time.Time
}

// showProgress reports the backfill reaching pos of head (rowids stand in
// for rows: deleted rows leave gaps, so the count is an upper bound).
func (c *Connector) showProgress(pos, head uint64) {
	if c.stats.CaughtUp.Load() {
		return
	}
	now := time.Now()
	if c.prog == nil {
		start := pos
		if n := c.stats.RowsRead.Load(); uint64(n) <= pos {
			start = pos - n
		}
		c.prog = &progress{start: start, lastLog: now, lastPos: pos, startedAt: now}
		if c.cfg.Progress != nil {
			c.prog.bar = progressbar.NewOptions64(int64(head-start),
				progressbar.OptionSetWriter(c.cfg.Progress),
				progressbar.OptionSetDescription("backfill"),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("rows"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionFullWidth(),
			)
		}
	}
	p := c.prog
	if p.bar != nil {
		if max := int64(head - p.start); max > p.bar.GetMax64() {
			p.bar.ChangeMax64(max)
		}
		_ = p.bar.Set64(int64(pos - p.start))
		return
	}
	if d := now.Sub(p.lastLog); d >= c.cfg.ProgressEvery {
		rate := float64(pos-p.lastPos) / d.Seconds()
		ev := c.log.Info().Uint64("position", pos).Uint64("head", head).Float64("rows_per_s", rate)
		if rate > 0 {
			ev = ev.Str("eta", time.Duration(float64(head-pos)/rate*float64(time.Second)).Round(time.Second).String())
		}
		ev.Msg("backfill")
		p.lastLog, p.lastPos = now, pos
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Exit()
		p.bar = nil
	}
}
