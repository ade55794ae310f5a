package httpapi

import (
	"net/http"
	"strconv"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// timeseriesParams are GET /v1/reports/timeseries' parsed parameters.
type timeseriesParams struct {
	q      query.TimeseriesQuery
	format string // json | csv | ndjson
}

// parseTimeseriesParams parses the query string. from/to are widened to
// whole buckets (the answer says which range it covers); a range of more
// than query.MaxReportBuckets buckets is refused.
func parseTimeseriesParams(raw string) (timeseriesParams, *apiError) {
	var tp timeseriesParams
	p, e := parseParams(raw, "bucket", "from", "to", "group_by", "orchestration", "activity", "status",
		"include_system", "format")
	if e != nil {
		return tp, e
	}
	q := &tp.q
	bucket, ok, e := p.single("bucket")
	if e != nil {
		return tp, e
	}
	if !ok {
		bucket = api.BucketHour
	}
	if _, valid := query.BucketSize(bucket); !valid {
		return tp, badParam("bucket", "want minute, hour, day or week, got %s", quoteVal(bucket))
	}
	q.Bucket = bucket
	from, to, e := reportRange(p)
	if e != nil {
		return tp, e
	}
	q.FromMs, q.ToMs = query.AlignRange(bucket, from, to)
	if n := query.BucketCount(bucket, q.FromMs, q.ToMs); n > query.MaxReportBuckets {
		return tp, badParam("from", "the range from..to spans %d %s buckets; at most %d per report: narrow the range or use a larger bucket",
			n, bucket, query.MaxReportBuckets)
	}
	groupBy, ok, e := p.single("group_by")
	if e != nil {
		return tp, e
	}
	if !ok {
		groupBy = api.GroupByOrchestration
	}
	switch groupBy {
	case api.GroupByOrchestration, api.GroupByVersion, api.GroupByStatus, api.GroupByActivity:
	default:
		return tp, badParam("group_by", "want orchestration, version, status or activity, got %s", quoteVal(groupBy))
	}
	q.GroupBy = groupBy
	if q.Orchestration, _, e = p.text("orchestration"); e != nil {
		return tp, e
	}
	activity := groupBy == api.GroupByActivity
	if _, has := p.v["status"]; has && activity {
		return tp, badParam("status", "filters instances; not allowed with group_by=activity")
	}
	if q.Statuses, e = parseStatuses(p.v["status"]); e != nil {
		return tp, e
	}
	for _, name := range []string{"activity", "include_system"} {
		if _, has := p.v[name]; has && !activity {
			return tp, badParam(name, "only with group_by=activity")
		}
	}
	if q.Activity, _, e = p.text("activity"); e != nil {
		return tp, e
	}
	if q.IncludeSystem, e = p.boolParam("include_system", false); e != nil {
		return tp, e
	}
	tp.format, e = exportFormat(p)
	return tp, e
}

// reportRange parses the required from and to of a report.
func reportRange(p params) (from, to int64, e *apiError) {
	ft, fms, e := p.timeParam("from")
	if e != nil {
		return 0, 0, e
	}
	tt, tms, e := p.timeParam("to")
	if e != nil {
		return 0, 0, e
	}
	if fms == nil {
		return 0, 0, badParam("from", "required: %s", timeFormat)
	}
	if tms == nil {
		return 0, 0, badParam("to", "required: %s", timeFormat)
	}
	if !ft.Before(tt) {
		return 0, 0, badParam("from", "must be before to (the range is from <= t < to)")
	}
	return *fms, *tms, nil
}

func (s *server) timeseries(w http.ResponseWriter, r *http.Request) {
	tp, e := parseTimeseriesParams(r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return
	}
	head := query.TimeseriesHeader(tp.q)
	if tp.format == formatJSON {
		err := s.cfg.ReadModel.Timeseries(r.Context(), tp.q, func(row api.ReportRow) error {
			head.Rows = append(head.Rows, row)
			return nil
		})
		if err != nil {
			s.backendError(w, r, "timeseries report", err)
			return
		}
		writeJSON(w, http.StatusOK, head)
		return
	}
	// Streamed: the report's metadata travels in headers.
	ex := newExport(w, tp.format, "timeseries-"+tp.q.Bucket+"-"+tp.q.GroupBy, reportCSVHeader)
	h := w.Header()
	h.Set("X-Report-From", head.From.Format())
	h.Set("X-Report-To", head.To.Format())
	h.Set("X-Report-Percentiles", head.Percentiles)
	h.Set("X-Report-Percentile-Max-Relative-Error", strconv.FormatFloat(head.PercentileMaxRelativeError, 'g', -1, 64))
	err := s.cfg.ReadModel.Timeseries(r.Context(), tp.q, func(row api.ReportRow) error {
		return ex.row(row, reportCSVRecord(row))
	})
	s.finishExport(w, r, ex, "timeseries export", err)
}

// reportCSVHeader names the CSV columns of a timeseries export.
var reportCSVHeader = []string{"bucket_start", "group", "started", "running", "completed", "failed", "cancelled",
	"failure_rate", "avg_duration_ms", "p50_duration_ms", "p95_duration_ms", "p99_duration_ms"}

func reportCSVRecord(r api.ReportRow) []string {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	return []string{r.BucketStart.Format(), r.Group, u(r.Started), u(r.Running), u(r.Completed), u(r.Failed),
		u(r.Cancelled), strconv.FormatFloat(r.FailureRate, 'g', -1, 64), i(r.AvgDurationMs), i(r.P50DurationMs),
		i(r.P95DurationMs), i(r.P99DurationMs)}
}
