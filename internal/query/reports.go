package query

import "github.com/duroscope/duroscope/api"

// Report bucket lengths. Week buckets start on Monday 00:00 UTC; the Unix
// epoch was a Thursday, so week starts are ≡ −3 days (mod 7 days).
const (
	minuteMs     = 60_000
	hourMs       = 3_600_000
	dayMs        = 86_400_000
	weekMs       = 7 * dayMs
	weekOffsetMs = 3 * dayMs
)

// MaxReportBuckets bounds the buckets of one timeseries report.
const MaxReportBuckets = 10000

// PercentileMaxRelativeError bounds |reported − exact| / |exact| of the
// percentiles of hour, day and week buckets, read from histograms
// (docs/reports.md: 1/64); minute buckets are exact.
const PercentileMaxRelativeError = 1.0 / 64

// TimeseriesQuery selects GET /v1/reports/timeseries. The HTTP layer has
// validated it: FromMs < ToMs, both aligned to Bucket (AlignRange), at most
// MaxReportBuckets buckets; Statuses only for instance groupings, Activity
// and IncludeSystem only for group_by=activity.
type TimeseriesQuery struct {
	Bucket        string // api.BucketMinute ...
	FromMs, ToMs  int64
	GroupBy       string   // api.GroupByOrchestration ...
	Orchestration string   // "" = any
	Activity      string   // "" = any
	Statuses      []string // Running|Completed|Failed; empty = all
	IncludeSystem bool
}

// ErrorsQuery selects GET /v1/reports/errors: FromMs < ToMs, both whole
// hours.
type ErrorsQuery struct {
	FromMs, ToMs  int64
	Orchestration string // "" = any (instances: their name; activities: the scheduling execution's)
	Activity      string // "" = any
	IncludeSystem bool
	Limit         int // errors per group, > 0
}

// BucketSize returns the length of a bucket in ms, or false for an unknown
// bucket name.
func BucketSize(bucket string) (int64, bool) {
	switch bucket {
	case api.BucketMinute:
		return minuteMs, true
	case api.BucketHour:
		return hourMs, true
	case api.BucketDay:
		return dayMs, true
	case api.BucketWeek:
		return weekMs, true
	}
	return 0, false
}

// BucketOffset is what is added to a time before flooring it to a bucket
// (weeks start on Mondays).
func BucketOffset(bucket string) int64 {
	if bucket == api.BucketWeek {
		return weekOffsetMs
	}
	return 0
}

// BucketStart returns the start of the bucket holding ms.
func BucketStart(bucket string, ms int64) int64 {
	size, _ := BucketSize(bucket)
	off := BucketOffset(bucket)
	return floorDiv(ms+off, size)*size - off
}

// AlignRange widens [from, to) to whole buckets: from down to its bucket's
// start, to up to the next bucket boundary (unless it is one).
func AlignRange(bucket string, from, to int64) (int64, int64) {
	size, _ := BucketSize(bucket)
	f := BucketStart(bucket, from)
	t := BucketStart(bucket, to)
	if t < to {
		t += size
	}
	return f, t
}

// BucketCount is the number of buckets of an aligned range.
func BucketCount(bucket string, from, to int64) int64 {
	size, _ := BucketSize(bucket)
	return (to - from) / size
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// TimeseriesHeader is the answer's metadata: minute buckets are computed
// from the facts with exact percentiles, the others from histograms
// (docs/reports.md).
func TimeseriesHeader(q TimeseriesQuery) api.Timeseries {
	t := api.Timeseries{Bucket: q.Bucket, From: api.Time(q.FromMs), To: api.Time(q.ToMs), GroupBy: q.GroupBy,
		Percentiles: api.PercentilesExact, Rows: []api.ReportRow{}}
	if q.Bucket != api.BucketMinute {
		t.Percentiles = api.PercentilesApproximate
		t.PercentileMaxRelativeError = PercentileMaxRelativeError
	}
	return t
}
