package httpapi

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// reportBackend is an in-memory report and export backend: these tests are
// about parameters and the HTTP answer; the queries are tested against
// ClickHouse in readmodel and in reports_e2e_test.go. It records what it was
// asked and answers with set rows (failing after failAfter of them when set).
type reportBackend struct {
	mu        sync.Mutex
	lastTS    *query.TimeseriesQuery
	lastErr   *query.ErrorsQuery
	lastList  *query.ListFilter
	rows      []api.ReportRow
	instances []api.InstanceSummary
	failAfter int // emit this many rows, then fail (0 = never)
	err       error
}

func (b *reportBackend) Timeseries(ctx context.Context, q query.TimeseriesQuery, emit func(api.ReportRow) error) error {
	b.mu.Lock()
	b.lastTS = &q
	b.mu.Unlock()
	for i, r := range b.rows {
		if b.failAfter > 0 && i == b.failAfter {
			return errBackend
		}
		if err := emit(r); err != nil {
			return err
		}
	}
	return b.err
}

func (b *reportBackend) Errors(ctx context.Context, q query.ErrorsQuery) (api.ErrorsReport, error) {
	b.mu.Lock()
	b.lastErr = &q
	b.mu.Unlock()
	return api.ErrorsReport{From: api.Time(q.FromMs), To: api.Time(q.ToMs), Orchestrations: []api.ErrorGroup{},
		Activities: []api.ErrorGroup{}}, b.err
}

func (b *reportBackend) StreamInstances(ctx context.Context, f query.ListFilter, emit func(api.InstanceSummary) error) error {
	b.mu.Lock()
	b.lastList = &f
	b.mu.Unlock()
	for i, s := range b.instances {
		if b.failAfter > 0 && i == b.failAfter {
			return errBackend
		}
		if err := emit(s); err != nil {
			return err
		}
	}
	return b.err
}

func reportHandler(b *reportBackend) http.Handler {
	m := newMem()
	return testHandler(m, func(c *Config) { c.ReadModel = testModel{m, b} })
}

const (
	tsFrom = "2026-11-25T10:17:00Z" // 1795601820000
	tsTo   = "2026-11-25T13:00:00.001Z"
)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestTimeseriesParams(t *testing.T) {
	base := "from=" + tsFrom + "&to=" + tsTo
	for _, c := range []struct {
		raw  string
		want query.TimeseriesQuery
	}{
		{base, query.TimeseriesQuery{Bucket: "hour", FromMs: ms("2026-11-25T10:00:00Z"), ToMs: ms("2026-11-25T14:00:00Z"),
			GroupBy: "orchestration"}},
		{base + "&bucket=minute&group_by=status&status=Running,Failed&orchestration=Order",
			query.TimeseriesQuery{Bucket: "minute", FromMs: ms("2026-11-25T10:17:00Z"), ToMs: ms("2026-11-25T13:01:00Z"),
				GroupBy: "status", Statuses: []string{"Running", "Failed"}, Orchestration: "Order"}},
		{"from=1795601820000&to=1795601880000&bucket=day&group_by=activity&activity=Charge&include_system=true",
			query.TimeseriesQuery{Bucket: "day", FromMs: ms("2026-11-25T00:00:00Z"), ToMs: ms("2026-11-26T00:00:00Z"),
				GroupBy: "activity", Activity: "Charge", IncludeSystem: true}},
		// 2026-11-25 is a Wednesday: its week starts Monday the 23rd.
		{base + "&bucket=week&group_by=version",
			query.TimeseriesQuery{Bucket: "week", FromMs: ms("2026-11-23T00:00:00Z"), ToMs: ms("2026-11-30T00:00:00Z"),
				GroupBy: "version"}},
		// Exactly 10000 buckets is allowed.
		{"bucket=minute&from=0&to=600000000", query.TimeseriesQuery{Bucket: "minute", FromMs: 0, ToMs: 600000000, GroupBy: "orchestration"}},
	} {
		got, e := parseTimeseriesParams(c.raw)
		if e != nil {
			t.Errorf("%s: %v", c.raw, e)
			continue
		}
		if !reflect.DeepEqual(got.q, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.raw, got.q, c.want)
		}
	}
	for _, c := range []struct{ raw, param string }{
		{"to=" + tsTo, "from"},
		{"from=" + tsFrom, "to"},
		{"from=" + tsTo + "&to=" + tsFrom, "from"},
		{"from=" + tsFrom + "&to=" + tsFrom, "from"},
		{base + "&bucket=second", "bucket"},
		{base + "&bucket=Hour", "bucket"},
		{base + "&group_by=instance", "group_by"},
		{base + "&group_by=activity&status=Failed", "status"},
		{base + "&activity=Charge", "activity"},
		{base + "&include_system=true", "include_system"},
		{base + "&group_by=activity&include_system=yes", "include_system"},
		{base + "&status=running", "status"},
		{base + "&format=xml", "format"},
		{base + "&format=csv&format=csv", "format"},
		{base + "&limit=5", "limit"},
		{"bucket=minute&from=0&to=600000001", "from"}, // 10001 buckets
		{"bucket=hour&from=2000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
	} {
		_, e := parseTimeseriesParams(c.raw)
		if e == nil || e.status != 400 || !strings.HasPrefix(e.msg, c.param+":") {
			t.Errorf("%s: got %v, want a 400 naming %s", c.raw, e, c.param)
		}
	}
	// The bucket limit is named in the message.
	if _, e := parseTimeseriesParams("bucket=minute&from=0&to=600000001"); e == nil || !strings.Contains(e.msg, "10000") {
		t.Errorf("over the bucket limit: %v, want the limit named", e)
	}
}

func TestErrorsReportParams(t *testing.T) {
	got, e := parseErrorsParams("from=" + tsFrom + "&to=" + tsTo + "&orchestration=O&activity=A&include_system=true&limit=3")
	want := query.ErrorsQuery{FromMs: ms("2026-11-25T10:00:00Z"), ToMs: ms("2026-11-25T14:00:00Z"), Orchestration: "O",
		Activity: "A", IncludeSystem: true, Limit: 3}
	if e != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v %v, want %+v", got, e, want)
	}
	if got, _ := parseErrorsParams("from=0&to=1"); got.Limit != 20 || got.ToMs != 3600000 {
		t.Errorf("defaults: %+v", got)
	}
	for _, c := range []struct{ raw, param string }{
		{"to=1", "from"}, {"from=1", "to"}, {"from=5&to=5", "from"}, {"from=0&to=1&limit=0", "limit"},
		{"from=0&to=1&limit=1001", "limit"}, {"from=0&to=1&bucket=hour", "bucket"}, {"from=0&to=1&format=csv", "format"},
	} {
		if _, e := parseErrorsParams(c.raw); e == nil || !strings.HasPrefix(e.msg, c.param+":") {
			t.Errorf("%s: got %v, want a 400 naming %s", c.raw, e, c.param)
		}
	}
}

func sampleRows() []api.ReportRow {
	return []api.ReportRow{
		{BucketStart: 1795600800000, Group: `Order, "special"`, Started: 10, Running: 1, Completed: 7, Failed: 2,
			FailureRate: 2.0 / 9, AvgDurationMs: 1200, P50DurationMs: 1000, P95DurationMs: 3000, P99DurationMs: 3100},
		{BucketStart: 1795604400000, Group: "line\nbreak", Started: 1, Running: 1},
	}
}

func TestTimeseriesAnswers(t *testing.T) {
	b := &reportBackend{rows: sampleRows()}
	h := reportHandler(b)
	target := "/v1/reports/timeseries?from=" + tsFrom + "&to=" + tsTo
	rec := do(h, "GET", target, nil)
	if rec.Code != 200 {
		t.Fatalf("json: %d %s", rec.Code, rec.Body)
	}
	var ts api.Timeseries
	if err := json.Unmarshal(rec.Body.Bytes(), &ts); err != nil {
		t.Fatal(err)
	}
	want := api.Timeseries{Bucket: "hour", From: api.Time(ms("2026-11-25T10:00:00Z")), To: api.Time(ms("2026-11-25T14:00:00Z")),
		GroupBy: "orchestration", Percentiles: "approximate", PercentileMaxRelativeError: query.PercentileMaxRelativeError,
		Rows: b.rows}
	if !reflect.DeepEqual(ts, want) {
		t.Errorf("json answer:\n got %+v\nwant %+v", ts, want)
	}

	// CSV: quoted as encoding/csv reads it back, metadata in headers.
	rec = do(h, "GET", target+"&format=csv&bucket=minute", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
		rec.Header().Get("Content-Disposition") != `attachment; filename="timeseries-minute-orchestration.csv"` ||
		rec.Header().Get("X-Report-Percentiles") != "exact" {
		t.Fatalf("csv: %d %v", rec.Code, rec.Header())
	}
	recs, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || !reflect.DeepEqual(recs[0], reportCSVHeader) {
		t.Fatalf("csv records: %q", recs)
	}
	for i, r := range b.rows {
		if !reflect.DeepEqual(recs[i+1], reportCSVRecord(r)) || recs[i+1][1] != r.Group {
			t.Errorf("csv row %d: %q, want %q", i, recs[i+1], reportCSVRecord(r))
		}
	}

	// NDJSON: one row object per line.
	rec = do(h, "GET", target+"&format=ndjson", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("ndjson: %d %v", rec.Code, rec.Header())
	}
	sc := bufio.NewScanner(rec.Body)
	var got []api.ReportRow
	for sc.Scan() {
		var r api.ReportRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, r)
	}
	if !reflect.DeepEqual(got, b.rows) {
		t.Errorf("ndjson rows %+v", got)
	}

	// An empty CSV still has its header line.
	rec = do(reportHandler(&reportBackend{}), "GET", target+"&format=csv", nil)
	if rec.Code != 200 || rec.Body.String() != strings.Join(reportCSVHeader, ",")+"\n" {
		t.Errorf("empty csv: %d %q", rec.Code, rec.Body)
	}
}

func TestReportsBackendFailures(t *testing.T) {
	// Before the first row: an ordinary 503 with the contract's body.
	for _, target := range []string{
		"/v1/reports/timeseries?from=0&to=1",
		"/v1/reports/timeseries?from=0&to=1&format=csv",
		"/v1/reports/errors?from=0&to=1",
		"/v1/instances?format=ndjson",
	} {
		rec := do(reportHandler(&reportBackend{err: errBackend}), "GET", target, nil)
		if rec.Code != 503 || errorOf(t, rec).Code != api.CodeUnavailable {
			t.Errorf("%s with a failing backend: %d %s", target, rec.Code, rec.Body)
		}
		rec = do(reportHandler(&reportBackend{err: errDefect}), "GET", target, nil)
		if rec.Code != 500 || errorOf(t, rec).Code != api.CodeInternal {
			t.Errorf("%s with a SQL defect: %d %s", target, rec.Code, rec.Body)
		}
	}
	// After rows went out: the connection is cut, so the client cannot take
	// a truncated file for a complete one.
	var rows []api.ReportRow
	for range 3 * exportFlushRows {
		rows = append(rows, sampleRows()[0])
	}
	srv := httptest.NewServer(reportHandler(&reportBackend{rows: rows, failAfter: 2 * exportFlushRows}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/reports/timeseries?from=0&to=1&format=csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("a failure mid-export ended the response normally; want an aborted transfer")
	}
}

func TestInstancesExport(t *testing.T) {
	pi, pid, out := "parent", uint64(4), "line1\nline2,\"quoted\""
	b := &reportBackend{instances: []api.InstanceSummary{
		{InstanceID: "a,b", OrchestrationName: "O", Version: "1", Status: "Failed", CreatedAt: 1000, UpdatedAt: 2000,
			ExecutionCount: 2, CurrentExecutionID: 2, ParentInstance: &pi, ParentID: &pid, Output: &out,
			Error: &api.Error{Category: "application", Kind: "K", Message: "m\"x", Retryable: true}},
		{InstanceID: "c", Status: "Running", CreatedAt: 500, UpdatedAt: 600, ExecutionCount: 1, CurrentExecutionID: 1},
	}}
	h := reportHandler(b)
	rec := do(h, "GET", "/v1/instances?format=csv&status=Failed,Running&orchestration=O&instance_prefix=a", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Disposition") != `attachment; filename="instances.csv"` {
		t.Fatalf("csv: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	wantF := query.ListFilter{Statuses: []string{"Failed", "Running"}, Orchestration: "O", InstancePrefix: "a", Limit: 100}
	if !reflect.DeepEqual(*b.lastList, wantF) {
		t.Errorf("filter %+v, want %+v", *b.lastList, wantF)
	}
	recs, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || !reflect.DeepEqual(recs[0], instanceCSVHeader) {
		t.Fatalf("records %q", recs)
	}
	if want := []string{"a,b", "O", "1", "Failed", "1970-01-01T00:00:01.000Z", "1970-01-01T00:00:02.000Z", "2", "2",
		"parent", "4", out, "application", "K", "m\"x", "true", ""}; !reflect.DeepEqual(recs[1], want) {
		t.Errorf("row 1 %q\nwant   %q", recs[1], want)
	}
	if want := []string{"c", "", "", "Running", "1970-01-01T00:00:00.500Z", "1970-01-01T00:00:00.600Z", "1", "1",
		"", "", "", "", "", "", "", ""}; !reflect.DeepEqual(recs[2], want) {
		t.Errorf("row 2 %q", recs[2])
	}

	rec = do(h, "GET", "/v1/instances?format=ndjson", nil)
	var got []api.InstanceSummary
	dec := json.NewDecoder(rec.Body)
	for dec.More() {
		var s api.InstanceSummary
		if err := dec.Decode(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if rec.Code != 200 || !reflect.DeepEqual(got, b.instances) || rec.Header().Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("ndjson: %d %+v", rec.Code, got)
	}

	// The paged list is unchanged; format=json is it too.
	m := newMem()
	hm := testHandler(m, func(c *Config) { c.ReadModel = testModel{m, b} })
	if rec := do(hm, "GET", "/v1/instances?format=json&limit=5", nil); rec.Code != 200 || m.lastList.Limit != 5 {
		t.Errorf("format=json: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct{ q, param string }{
		{"format=csv&limit=5", "limit"}, {"format=ndjson&offset=1", "offset"}, {"format=csv&page_token=AQ", "page_token"},
		{"format=tsv", "format"}, {"format=csv&format=ndjson", "format"}, {"format=csv&status=running", "status"},
		{"format=csv&bogus=1", "bogus"}, {"format=", "format"},
	} {
		rec := do(h, "GET", "/v1/instances?"+c.q, nil)
		if rec.Code != 400 || !strings.HasPrefix(errorOf(t, rec).Message, c.param+":") {
			t.Errorf("%s: %d %s, want 400 naming %s", c.q, rec.Code, rec.Body, c.param)
		}
	}
}

func TestMetrics(t *testing.T) {
	m := newMem()
	m.add("a")
	h := testHandler(m, nil)
	for _, target := range []string{"/v1/health", "/v1/health", "/v1/instances/a/details", "/v1/instances?status=nope", "/nowhere"} {
		do(h, "GET", target, nil)
	}
	rec := do(h, "GET", "/metrics", nil)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %v", rec.Code, rec.Header())
	}
	body := rec.Body.String()
	for _, line := range []string{
		"# TYPE duroscope_query_request_duration_seconds histogram",
		`duroscope_query_request_duration_seconds_count{route="/v1/health"} 2`,
		`duroscope_query_request_duration_seconds_bucket{route="/v1/health",le="+Inf"} 2`,
		`duroscope_query_request_duration_seconds_count{route="/v1/instances/{id}/details"} 1`,
		`duroscope_query_requests_total{route="/v1/instances",status="400"} 1`,
		`duroscope_query_requests_total{route="other",status="404"} 1`,
		"# TYPE duroscope_query_requests_in_flight gauge",
		"duroscope_query_requests_in_flight 1", // this scrape
		`duroscope_query_errors_total{code="invalid_argument"} 1`,
		`duroscope_query_errors_total{code="not_found"} 1`,
		"# TYPE duroscope_readmodel_instances gauge",
		`duroscope_readmodel_instances{status="Running"} 0`,
		`duroscope_readmodel_pending_work{kind="activity"} 3`,
		`duroscope_readmodel_queue_depth{queue="orchestrator"} 0`,
		"duroscope_readmodel_gauge_errors_total 0",
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	// Every sample line is "name{labels} value" or "name value".
	for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if len(f) != 2 || !strings.HasPrefix(f[0], "duroscope_") {
			t.Errorf("malformed sample line %q", l)
		}
	}
	// The gauges are read at most every 10 s: a failing read model keeps
	// the last values until then, and counts the failure.
	m.err = errBackend
	body = do(h, "GET", "/metrics", nil).Body.String()
	if !strings.Contains(body, "duroscope_readmodel_gauge_errors_total 0\n") {
		t.Errorf("gauges re-read within 10 s")
	}
}

func TestGaugeCacheRefresh(t *testing.T) {
	m := newMem()
	var g gaugeCache
	t0 := testNow
	if _, _, _, ok := g.get(context.Background(), t0, m, m); !ok {
		t.Fatal("first read failed")
	}
	m.err = errBackend
	if _, q, _, ok := g.get(context.Background(), t0.Add(gaugeMaxAge-time.Millisecond), m, m); !ok || q.PendingActivities != 3 || g.failures.Load() != 0 {
		t.Fatal("cached gauges re-read before gaugeMaxAge")
	}
	if _, q, at, ok := g.get(context.Background(), t0.Add(gaugeMaxAge), m, m); !ok || q.PendingActivities != 3 || g.failures.Load() != 1 || !at.Equal(t0.Add(gaugeMaxAge)) {
		t.Fatalf("stale gauges: ok=%v failures=%d at=%v", ok, g.failures.Load(), at)
	}
}

func TestRouteLabels(t *testing.T) {
	s := testHandler(newMem(), nil).(*server)
	for path, want := range map[string]string{
		"/v1/instances":            "/v1/instances",
		"/v1/instances/a%2Fb":      "/v1/instances/{id}",
		"/v1/instances/x/history":  "/v1/instances/{id}/history",
		"/v1/instances/x/nope":     "other",
		"/v1/instances/":           "other",
		"/v1/reports/timeseries":   "/v1/reports/timeseries",
		"/metrics":                 "/metrics",
		"/v1/unknown":              "other",
		"/" + url.PathEscape("日本"): "other",
	} {
		if got := s.routeOf(path); got != want {
			t.Errorf("routeOf(%s) = %s, want %s", path, got, want)
		}
	}
}
