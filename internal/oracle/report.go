package oracle

import (
	"sort"
	"strings"
	"time"

	"github.com/duroscope/duroscope/api"
)

// The report endpoints (GET /v1/reports/timeseries and /v1/reports/errors),
// computed by brute force from the replayed instances, following the rules
// of docs/reports.md:
//
//   - an instance is reported once execution 1 has its OrchestrationStarted
//     as event 1; it is bucketed by that event's time (created_at) and
//     grouped by that event's name and version; its status, duration and
//     error are the instance's (as in InstanceSummary / performance metrics);
//   - an activity is reported once the execution that scheduled it has its
//     OrchestrationStarted as event 1 (whose name is its orchestration); it
//     is bucketed by its scheduled time;
//   - times before 1970 are left out;
//   - minute buckets have exact percentiles; hour, day and week buckets
//     report the midpoint of the histogram bin holding the exact percentile
//     (binnedValue);
//   - error messages are grouped by their first 1024 characters.

// ReportQuery selects a timeseries report. FromMs/ToMs are widened to whole
// buckets here (the service does the same before answering).
type ReportQuery struct {
	Bucket        string // minute | hour | day | week
	FromMs, ToMs  int64
	GroupBy       string   // orchestration | version | status | activity
	Orchestration *string  // instance name, or for activities the scheduling execution's name
	Activity      *string  // activity reports only
	Statuses      []string // instance reports only; empty = all
	IncludeSystem bool     // activity reports only
}

// bucketStart is the start of the bucket of ms, computed on calendar time
// (weeks start on Monday, UTC).
func bucketStart(bucket string, ms int64) int64 {
	t := time.UnixMilli(ms).UTC()
	switch bucket {
	case api.BucketMinute:
		t = t.Truncate(time.Minute)
	case api.BucketHour:
		t = t.Truncate(time.Hour)
	case api.BucketDay:
		t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case api.BucketWeek:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		t = time.Date(t.Year(), t.Month(), t.Day()-back, 0, 0, 0, 0, time.UTC)
	}
	return t.UnixMilli()
}

// nextBucket is the start of the bucket after the one starting at start.
func nextBucket(bucket string, start int64) int64 {
	t := time.UnixMilli(start).UTC()
	switch bucket {
	case api.BucketMinute:
		t = t.Add(time.Minute)
	case api.BucketHour:
		t = t.Add(time.Hour)
	case api.BucketDay:
		t = t.AddDate(0, 0, 1)
	case api.BucketWeek:
		t = t.AddDate(0, 0, 7)
	}
	return t.UnixMilli()
}

// widen rounds from down and to up to bucket boundaries.
func widen(bucket string, from, to int64) (int64, int64) {
	f := bucketStart(bucket, from)
	t := bucketStart(bucket, to)
	if t < to {
		t = nextBucket(bucket, t)
	}
	return f, t
}

// reportedInstance is an instance as the reports see it.
type reportedInstance struct {
	created       int64
	name, version string
	status        string
	duration      int64 // Completed and Failed only
	err           *api.Error
	hasDuration   bool
}

// reported returns the report view of in, or ok=false when execution 1's
// OrchestrationStarted (event 1) is not there.
func reported(in *instance) (reportedInstance, bool) {
	var r reportedInstance
	first := in.executions[0]
	if first.id == 1 && first.started != nil && first.started.EventID == 1 && ts(first.started) >= 0 {
		r = reportedInstance{
			created:     ts(first.started),
			name:        first.started.Name,
			version:     first.started.Version,
			status:      in.summary.Status,
			duration:    in.durationMs,
			hasDuration: in.hasDurationMs,
			err:         in.summary.Error,
		}
		return r, true
	}
	return r, false
}

// cell accumulates one (bucket, group) of a timeseries.
type cell struct {
	row       api.ReportRow
	durations []int64
}

// Timeseries answers GET /v1/reports/timeseries.
func (o *Oracle) Timeseries(q ReportQuery) api.Timeseries {
	from, to := widen(q.Bucket, q.FromMs, q.ToMs)
	out := api.Timeseries{Bucket: q.Bucket, From: api.Time(from), To: api.Time(to), GroupBy: q.GroupBy,
		Percentiles: api.PercentilesExact, Rows: []api.ReportRow{}}
	if q.Bucket != api.BucketMinute {
		out.Percentiles = api.PercentilesApproximate
		out.PercentileMaxRelativeError = 1.0 / 64
	}
	cells := map[[2]string]*cell{}
	var keys [][2]string
	get := func(bucket int64, group string) *cell {
		k := [2]string{api.Time(bucket).Format(), group}
		c := cells[k]
		if c == nil {
			c = &cell{row: api.ReportRow{BucketStart: api.Time(bucket), Group: group}}
			cells[k] = c
			keys = append(keys, k)
		}
		return c
	}
	keepStatus := func(s string) bool {
		if len(q.Statuses) == 0 {
			return true
		}
		for _, x := range q.Statuses {
			if x == s {
				return true
			}
		}
		return false
	}
	for _, in := range o.reportInstances() {
		if q.GroupBy == api.GroupByActivity {
			for _, x := range in.executions {
				if x.started == nil || x.started.EventID != 1 {
					continue
				}
				for _, a := range x.activities {
					if a.scheduledAt < from || a.scheduledAt >= to || a.scheduledAt < 0 {
						continue
					}
					if a.system && !q.IncludeSystem {
						continue
					}
					if q.Activity != nil && a.name != *q.Activity {
						continue
					}
					if q.Orchestration != nil && x.started.Name != *q.Orchestration {
						continue
					}
					c := get(bucketStart(q.Bucket, a.scheduledAt), a.name)
					c.row.Started++
					switch a.outcome {
					case outcomeCompleted:
						c.row.Completed++
						c.durations = append(c.durations, a.durationMs)
					case outcomeFailed:
						c.row.Failed++
						c.durations = append(c.durations, a.durationMs)
					case outcomeCancelled:
						c.row.Cancelled++
					default:
						c.row.Running++
					}
				}
			}
			continue
		}
		r, ok := reported(in)
		if !ok || r.created < from || r.created >= to {
			continue
		}
		if q.Orchestration != nil && r.name != *q.Orchestration {
			continue
		}
		if !keepStatus(r.status) {
			continue
		}
		group := r.name
		switch q.GroupBy {
		case api.GroupByVersion:
			group = r.version
		case api.GroupByStatus:
			group = r.status
		}
		c := get(bucketStart(q.Bucket, r.created), group)
		c.row.Started++
		switch r.status {
		case api.StatusCompleted:
			c.row.Completed++
		case api.StatusFailed:
			c.row.Failed++
		default:
			c.row.Running++
		}
		if r.hasDuration {
			c.durations = append(c.durations, r.duration)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := cells[keys[i]].row, cells[keys[j]].row
		if a.BucketStart != b.BucketStart {
			return a.BucketStart < b.BucketStart
		}
		return a.Group < b.Group
	})
	for _, k := range keys {
		c := cells[k]
		d := summarize(c.durations)
		c.row.AvgDurationMs = d.avg
		c.row.P50DurationMs, c.row.P95DurationMs, c.row.P99DurationMs = d.p50, d.p95, d.p99
		if q.Bucket != api.BucketMinute && len(c.durations) > 0 {
			c.row.P50DurationMs = binnedValue(d.p50)
			c.row.P95DurationMs = binnedValue(d.p95)
			c.row.P99DurationMs = binnedValue(d.p99)
		}
		if n := c.row.Completed + c.row.Failed; n > 0 {
			c.row.FailureRate = float64(c.row.Failed) / float64(n)
		}
		out.Rows = append(out.Rows, c.row)
	}
	return out
}

// binnedValue is what a duration histogram reports for a percentile whose
// exact value is v (docs/reports.md): magnitudes below 64 ms are exact;
// above, with e = ⌊log2 |v|⌋, values are grouped in runs of 2^(e−5)
// aligned on multiples of 2^(e−5), and the run's midpoint (rounded down) is
// reported. Negative values mirror positive ones. Magnitudes are capped at
// 2^62−1.
func binnedValue(v int64) int64 {
	const limit = int64(1)<<62 - 1
	mag := v
	if mag < 0 {
		mag = -mag
	}
	if mag > limit || mag < 0 {
		mag = limit
	}
	if mag < 64 {
		if v < 0 {
			return -mag
		}
		return mag
	}
	// width = 2^(e-5), e = floor(log2 mag): the largest power of two <= mag,
	// divided by 32.
	pow := int64(64)
	for pow <= mag/2 {
		pow *= 2
	}
	width := pow / 32
	lo := mag / width * width
	hi := lo + width - 1
	if v < 0 {
		lo, hi = -hi, -lo
	}
	return floorDiv(lo+hi, 2)
}

// ErrorsQuery selects an errors report: [FromMs, ToMs) widened to whole
// hours.
type ErrorsQuery struct {
	FromMs, ToMs  int64
	Orchestration *string
	Activity      *string
	IncludeSystem bool
	Limit         int
}

// reportMessage is the message an error is grouped by.
func reportMessage(m string) string {
	n := 0
	for i := range m {
		if n == 1024 {
			return m[:i]
		}
		n++
	}
	return m
}

// ErrorsReport answers GET /v1/reports/errors.
func (o *Oracle) ErrorsReport(q ErrorsQuery) api.ErrorsReport {
	from, to := widen(api.BucketHour, q.FromMs, q.ToMs)
	out := api.ErrorsReport{From: api.Time(from), To: api.Time(to),
		Orchestrations: []api.ErrorGroup{}, Activities: []api.ErrorGroup{}}
	type errKey struct{ category, kind, message string }
	type group struct {
		failed uint64
		errs   map[errKey]uint64
	}
	orchs, acts := map[string]*group{}, map[string]*group{}
	count := func(m map[string]*group, name string, e *api.Error) {
		g := m[name]
		if g == nil {
			g = &group{errs: map[errKey]uint64{}}
			m[name] = g
		}
		g.failed++
		k := errKey{}
		if e != nil {
			k = errKey{e.Category, e.Kind, reportMessage(e.Message)}
		}
		g.errs[k]++
	}
	for _, in := range o.reportInstances() {
		if r, ok := reported(in); ok && r.status == api.StatusFailed && r.created >= from && r.created < to &&
			(q.Orchestration == nil || r.name == *q.Orchestration) {
			count(orchs, r.name, r.err)
		}
		for _, x := range in.executions {
			if x.started == nil || x.started.EventID != 1 {
				continue
			}
			for _, a := range x.activities {
				if a.outcome != outcomeFailed || a.scheduledAt < from || a.scheduledAt >= to || a.scheduledAt < 0 {
					continue
				}
				if (a.system && !q.IncludeSystem) || (q.Activity != nil && a.name != *q.Activity) ||
					(q.Orchestration != nil && x.started.Name != *q.Orchestration) {
					continue
				}
				count(acts, a.name, a.err)
			}
		}
	}
	render := func(m map[string]*group) []api.ErrorGroup {
		out := []api.ErrorGroup{}
		for name, g := range m {
			eg := api.ErrorGroup{Name: name, Failed: g.failed, Errors: []api.ErrorCount{}}
			for k, n := range g.errs {
				eg.Errors = append(eg.Errors, api.ErrorCount{Category: k.category, Kind: k.kind, Message: k.message, Count: n})
			}
			sort.Slice(eg.Errors, func(i, j int) bool {
				a, b := eg.Errors[i], eg.Errors[j]
				if a.Count != b.Count {
					return a.Count > b.Count
				}
				if c := strings.Compare(a.Category, b.Category); c != 0 {
					return c < 0
				}
				if c := strings.Compare(a.Kind, b.Kind); c != 0 {
					return c < 0
				}
				return a.Message < b.Message
			})
			if len(eg.Errors) > q.Limit {
				eg.Errors = eg.Errors[:q.Limit]
			}
			out = append(out, eg)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
	out.Orchestrations = render(orchs)
	out.Activities = render(acts)
	return out
}
