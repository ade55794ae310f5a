package httpapi

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/duroscope/duroscope/internal/query"
)

func i64(v int64) *int64 { return &v }

func TestParseListParams(t *testing.T) {
	tok := query.EncodePageToken(query.PageCursor{CreatedAtMs: 1764105600005, InstanceID: "a/.."})
	long := strings.Repeat("x", 10000)
	ok := []struct {
		raw  string
		want query.ListFilter
	}{
		{"", query.ListFilter{Limit: 100}},
		{"status=Running", query.ListFilter{Statuses: []string{"Running"}, Limit: 100}},
		{"status=Running,Failed&status=Completed&status=Running", query.ListFilter{Statuses: []string{"Running", "Failed", "Completed"}, Limit: 100}},
		{"status=Running%2CFailed", query.ListFilter{Statuses: []string{"Running", "Failed"}, Limit: 100}},
		{"orchestration=ProcessOrder&parent_instance=p%2F1&instance_prefix=order-", query.ListFilter{
			Orchestration: "ProcessOrder", ParentInstance: "p/1", InstancePrefix: "order-", Limit: 100}},
		{"orchestration=%27%20OR%201%3D1%20--", query.ListFilter{Orchestration: "' OR 1=1 --", Limit: 100}},
		{"instance_prefix=%E6%97%A5%E6%9C%AC", query.ListFilter{InstancePrefix: "日本", Limit: 100}},
		{"limit=1&offset=0", query.ListFilter{Limit: 1}},
		{"limit=1000&offset=100000", query.ListFilter{Limit: 1000, Offset: 100000}},
		{"limit=007", query.ListFilter{Limit: 7}},
		{"created_after=2026-11-25T21:38:00Z&created_before=2026-11-25T21:38:00.123Z",
			query.ListFilter{CreatedAfter: i64(1795642680000), CreatedBefore: i64(1795642680123), Limit: 100}},
		{"created_after=2026-11-25T22:38:00%2B01:00", query.ListFilter{CreatedAfter: i64(1795642680000), Limit: 100}},
		{"created_after=2026-11-25T21:38:00.0001Z", query.ListFilter{CreatedAfter: i64(1795642680001), Limit: 100}},
		{"created_after=0&created_before=1", query.ListFilter{CreatedAfter: i64(0), CreatedBefore: i64(1), Limit: 100}},
		{"created_before=1764105600005", query.ListFilter{CreatedBefore: i64(1764105600005), Limit: 100}},
		{"page_token=" + tok + "&limit=5", query.ListFilter{Limit: 5, After: &query.PageCursor{CreatedAtMs: 1764105600005, InstanceID: "a/.."}}},
		{"instance_prefix=" + strings.Repeat("%C3%A9", 512), query.ListFilter{InstancePrefix: strings.Repeat("é", 512), Limit: 100}},
	}
	for _, c := range ok {
		got, e := parseListParams(c.raw)
		if e != nil {
			t.Errorf("parseListParams(%.80q): %v", c.raw, e)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseListParams(%.80q) = %+v, want %+v", c.raw, got, c.want)
		}
	}
	bad := []struct {
		raw, param string
	}{
		{"foo=1", "foo"},
		{"Status=Running", "Status"},
		{"limit=10&bogus=1&zzz=2", "bogus"},
		{"status=", "status"},
		{"status=running", "status"},
		{"status=RUNNING", "status"},
		{"status=ContinuedAsNew", "status"},
		{"status=NotFound", "status"},
		{"status=Running,", "status"},
		{"status=Running,,Failed", "status"},
		{"status=Running%20", "status"},
		{"orchestration=", "orchestration"},
		{"orchestration=a&orchestration=b", "orchestration"},
		{"orchestration=" + long, "orchestration"},
		{"orchestration=%FF", "orchestration"},
		{"instance_prefix=" + long, "instance_prefix"},
		{"parent_instance=", "parent_instance"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=-1", "limit"},
		{"limit=+5", "limit"},
		{"limit=1e3", "limit"},
		{"limit=5.0", "limit"},
		{"limit=%205", "limit"},
		{"limit=99999999999999999999999", "limit"},
		{"limit=18446744073709551617", "limit"},
		{"limit=abc", "limit"},
		{"limit=1;DROP TABLE x", "query string"},
		{"limit=1&limit=2", "limit"},
		{"offset=-1", "offset"},
		{"offset=100001", "offset"},
		{"offset=5&page_token=" + tok, "offset"},
		{"offset=0&page_token=" + tok, "offset"},
		{"page_token=", "page_token"},
		{"page_token=garbage", "page_token"},
		{"page_token=%27%20OR%201%3D1", "page_token"},
		{"page_token=" + tok + "&page_token=" + tok, "page_token"},
		{"created_after=yesterday", "created_after"},
		{"created_after=2026-11-25", "created_after"},
		{"created_after=2026-11-25 21:38:00Z", "created_after"},
		{"created_after=-5", "created_after"},
		{"created_after=1.5", "created_after"},
		{"created_after=99999999999999999999", "created_after"},
		{"created_after=2026-11-25T21:38:00Z&created_before=2026-11-25T21:38:00Z", "created_after"},
		{"created_after=2000&created_before=1000", "created_after"},
		{"created_after=5&created_before=5", "created_after"},
		{"created_before=", "created_before"},
		{"%zz=1", "query string"},
		{"status=%zz", "query string"},
	}
	for _, c := range bad {
		_, e := parseListParams(c.raw)
		if e == nil {
			t.Errorf("parseListParams(%.80q) accepted", c.raw)
			continue
		}
		if e.status != 400 || e.code != "invalid_argument" || !strings.HasPrefix(e.msg, c.param+": ") {
			t.Errorf("parseListParams(%.80q) = %d %s %q; want 400 naming %s", c.raw, e.status, e.code, e.msg, c.param)
		}
		if len(e.msg) > 400 {
			t.Errorf("parseListParams(%.80q): message of %d bytes", c.raw, len(e.msg))
		}
	}
	// Unknown parameters are all named.
	_, e := parseListParams("limit=10&bogus=1&zzz=2")
	if e == nil || !strings.HasPrefix(e.msg, "bogus: unknown parameter; also unknown: zzz;") || !strings.Contains(e.msg, "accepted: status,") {
		t.Errorf("unknown parameters: %v", e)
	}
}

func TestParseOtherParams(t *testing.T) {
	type res struct {
		v any
		e *apiError
	}
	cases := []struct {
		name  string
		parse func() res
		want  any
		param string // non-empty: a 400 naming it is expected
	}{
		{"history none", func() res { p, e := parseHistoryParams(""); return res{p, e} }, historyParams{}, ""},
		{"history exec", func() res { p, e := parseHistoryParams("execution_id=3"); return res{p, e} }, historyParams{r: query.HistoryRange{ExecutionID: 3}}, ""},
		{"history page", func() res { p, e := parseHistoryParams("after_event=2:17&limit=50"); return res{p, e} },
			historyParams{r: query.HistoryRange{After: &query.EventKey{ExecutionID: 2, EventID: 17}, Limit: 50}}, ""},
		{"history token", func() res {
			p, e := parseHistoryParams("page_token=" + query.EncodeHistoryToken(query.EventKey{ExecutionID: 1, EventID: 9}))
			return res{p, e}
		}, historyParams{r: query.HistoryRange{After: &query.EventKey{ExecutionID: 1, EventID: 9}}}, ""},
		{"history after bad", func() res { p, e := parseHistoryParams("after_event=2"); return res{p, e} }, nil, "after_event"},
		{"history after sign", func() res { p, e := parseHistoryParams("after_event=%2B2:3"); return res{p, e} }, nil, "after_event"},
		{"history after and token", func() res { p, e := parseHistoryParams("after_event=2:3&page_token=x"); return res{p, e} }, nil, "after_event"},
		{"history token bad", func() res { p, e := parseHistoryParams("page_token=abc"); return res{p, e} }, nil, "page_token"},
		{"history limit 0", func() res { p, e := parseHistoryParams("limit=0"); return res{p, e} }, nil, "limit"},
		{"history limit big", func() res { p, e := parseHistoryParams("limit=10001"); return res{p, e} }, nil, "limit"},
		{"history exec 0", func() res { p, e := parseHistoryParams("execution_id=0"); return res{p, e} }, nil, "execution_id"},
		{"history exec neg", func() res { p, e := parseHistoryParams("execution_id=-1"); return res{p, e} }, nil, "execution_id"},
		{"history exec text", func() res { p, e := parseHistoryParams("execution_id=one"); return res{p, e} }, nil, "execution_id"},
		{"history exec empty", func() res { p, e := parseHistoryParams("execution_id="); return res{p, e} }, nil, "execution_id"},
		{"history unknown", func() res { p, e := parseHistoryParams("event_id=1"); return res{p, e} }, nil, "event_id"},
		{"orch stats", func() res { p, e := parseOrchestrationStatsParams("orchestration=A%20B"); return res{p, e} }, orchestrationStatsParams{orchestration: "A B"}, ""},
		{"orch stats empty", func() res { p, e := parseOrchestrationStatsParams("orchestration="); return res{p, e} }, nil, "orchestration"},
		{"activities defaults", func() res { p, e := parseActivityStatsParams(""); return res{p, e} }, query.ActivityFilter{}, ""},
		{"activities all", func() res {
			p, e := parseActivityStatsParams("orchestration=X&since=1764105600005&include_system=true")
			return res{p, e}
		}, query.ActivityFilter{Orchestration: "X", Since: i64(1764105600005), IncludeSystem: true}, ""},
		{"activities bool case", func() res { p, e := parseActivityStatsParams("include_system=True"); return res{p, e} }, nil, "include_system"},
		{"activities bool 1", func() res { p, e := parseActivityStatsParams("include_system=1"); return res{p, e} }, nil, "include_system"},
		{"activities since", func() res { p, e := parseActivityStatsParams("since=now"); return res{p, e} }, nil, "since"},
		{"performance", func() res {
			p, e := parsePerformanceParams("orchestration=X&since=2026-11-25T21:38:00.5Z")
			return res{p, e}
		}, query.PerformanceFilter{Orchestration: "X", Since: i64(1795642680500)}, ""},
		{"performance needs orchestration", func() res { p, e := parsePerformanceParams("since=5"); return res{p, e} }, nil, "orchestration"},
		{"slow instances", func() res {
			p, e := parseSlowInstancesParams("orchestration=X&since=5&min_duration_ms=1200&limit=7")
			return res{p, e}
		}, query.SlowInstancesFilter{Orchestration: "X", Since: i64(5), MinDurationMs: i64(1200), Limit: 7}, ""},
		{"slow instances defaults", func() res { p, e := parseSlowInstancesParams("orchestration=X"); return res{p, e} },
			query.SlowInstancesFilter{Orchestration: "X", Limit: 100}, ""},
		{"slow instances token", func() res {
			p, e := parseSlowInstancesParams("orchestration=X&page_token=" + query.EncodeSlowToken(query.SlowCursor{DurationMs: 9, InstanceID: "a"}))
			return res{p, e}
		}, query.SlowInstancesFilter{Orchestration: "X", Limit: 100, After: &query.SlowCursor{DurationMs: 9, InstanceID: "a"}}, ""},
		{"slow instances list token", func() res {
			p, e := parseSlowInstancesParams("orchestration=X&page_token=" + query.EncodePageToken(query.PageCursor{InstanceID: "a"}))
			return res{p, e}
		}, nil, "page_token"},
		{"slow instances needs orchestration", func() res { p, e := parseSlowInstancesParams("min_duration_ms=5"); return res{p, e} }, nil, "orchestration"},
		{"slow instances min leading zero", func() res { p, e := parseSlowInstancesParams("orchestration=X&min_duration_ms=01"); return res{p, e} }, nil, "min_duration_ms"},
		{"slow instances min zero", func() res { p, e := parseSlowInstancesParams("orchestration=X&min_duration_ms=0"); return res{p, e} },
			query.SlowInstancesFilter{Orchestration: "X", MinDurationMs: i64(0), Limit: 100}, ""},
		{"slow instances limit 0", func() res { p, e := parseSlowInstancesParams("orchestration=X&limit=0"); return res{p, e} }, nil, "limit"},
		{"activity calls", func() res {
			p, e := parseActivityCallsParams("activity=A&orchestration=X&since=5&include_system=true&min_duration_ms=30&limit=1000")
			return res{p, e}
		}, query.ActivityCallsFilter{Activity: "A", ActivityFilter: query.ActivityFilter{Orchestration: "X", Since: i64(5), IncludeSystem: true},
			MinDurationMs: i64(30), Limit: 1000}, ""},
		{"activity calls negative min", func() res { p, e := parseActivityCallsParams("activity=A&min_duration_ms=-40"); return res{p, e} },
			query.ActivityCallsFilter{Activity: "A", MinDurationMs: i64(-40), Limit: 100}, ""},
		{"activity calls min plus", func() res { p, e := parseActivityCallsParams("activity=A&min_duration_ms=%2B4"); return res{p, e} }, nil, "min_duration_ms"},
		{"activity calls min text", func() res { p, e := parseActivityCallsParams("activity=A&min_duration_ms=1e3"); return res{p, e} }, nil, "min_duration_ms"},
		{"activity calls needs activity", func() res { p, e := parseActivityCallsParams("orchestration=X"); return res{p, e} }, nil, "activity"},
		{"activity calls limit big", func() res { p, e := parseActivityCallsParams("activity=A&limit=1001"); return res{p, e} }, nil, "limit"},
		{"activity calls bad token", func() res { p, e := parseActivityCallsParams("activity=A&page_token=abc"); return res{p, e} }, nil, "page_token"},
		{"health defaults", func() res { p, e := parseHealthParams("", testNow); return res{p, e} },
			query.HealthParams{Now: testNow, LongRunningAfter: 24 * time.Hour, RecentFailureWindow: time.Hour}, ""},
		{"health set", func() res {
			p, e := parseHealthParams("long_running_after=90s&recent_failure_window=1h30m", testNow)
			return res{p, e}
		}, query.HealthParams{Now: testNow, LongRunningAfter: 90 * time.Second, RecentFailureWindow: 90 * time.Minute}, ""},
		{"health zero", func() res { p, e := parseHealthParams("long_running_after=0s", testNow); return res{p, e} },
			query.HealthParams{Now: testNow, RecentFailureWindow: time.Hour}, ""},
		{"health negative", func() res { p, e := parseHealthParams("long_running_after=-1h", testNow); return res{p, e} }, nil, "long_running_after"},
		{"health no unit", func() res { p, e := parseHealthParams("recent_failure_window=60", testNow); return res{p, e} }, nil, "recent_failure_window"},
		{"health days", func() res { p, e := parseHealthParams("long_running_after=1d", testNow); return res{p, e} }, nil, "long_running_after"},
		{"health huge", func() res { p, e := parseHealthParams("long_running_after=9999999999h", testNow); return res{p, e} }, nil, "long_running_after"},
		{"health stuck", func() res { p, e := parseHealthParams("stuck_after=1h", testNow); return res{p, e} }, nil, "stuck_after"},
		{"problems defaults", func() res { p, e := parseProblemsParams("", testNow); return res{p, e} },
			query.ProblemsParams{Now: testNow, LongRunningAfter: 24 * time.Hour, StuckAfter: time.Hour, RecentFailureWindow: 24 * time.Hour, Limit: 100}, ""},
		{"problems set", func() res {
			p, e := parseProblemsParams("long_running_after=2h&stuck_after=5m&recent_failure_window=10m&limit=1000", testNow)
			return res{p, e}
		}, query.ProblemsParams{Now: testNow, LongRunningAfter: 2 * time.Hour, StuckAfter: 5 * time.Minute, RecentFailureWindow: 10 * time.Minute, Limit: 1000}, ""},
		{"problems limit 0", func() res { p, e := parseProblemsParams("limit=0", testNow); return res{p, e} }, nil, "limit"},
		{"problems limit big", func() res { p, e := parseProblemsParams("limit=1001", testNow); return res{p, e} }, nil, "limit"},
		{"problems stuck empty", func() res { p, e := parseProblemsParams("stuck_after=", testNow); return res{p, e} }, nil, "stuck_after"},
	}
	for _, c := range cases {
		r := c.parse()
		if c.param == "" {
			if r.e != nil {
				t.Errorf("%s: %v", c.name, r.e)
			} else if !reflect.DeepEqual(r.v, c.want) {
				t.Errorf("%s: %+v, want %+v", c.name, r.v, c.want)
			}
			continue
		}
		if r.e == nil || r.e.status != 400 || !strings.HasPrefix(r.e.msg, c.param+": ") {
			t.Errorf("%s: %v; want a 400 naming %s", c.name, r.e, c.param)
		}
	}
}

func TestParseInstancePath(t *testing.T) {
	for _, c := range []struct {
		rest, id, sub string
		status        int
	}{
		{"order-1", "order-1", "", 0},
		{"order-1%3A%3Asub%3A%3A2/details", "order-1::sub::2", "details", 0},
		{"order-1::sub::2/history", "order-1::sub::2", "history", 0},
		{"a%2F../executions", "a/..", "executions", 0},
		{"%2E", ".", "", 0},
		{".", ".", "", 0},
		{"..", "..", "", 0},
		{"../details", "..", "details", 0},
		{"%252F", "%2F", "", 0},
		{"x%20y%25z", "x y%z", "", 0},
		{"%E6%97%A5%E6%9C%AC", "日本", "", 0},
		{"a+b", "a+b", "", 0},
		{"%00", "\x00", "", 0},
		{"%27%20OR%201%3D1%20--", "' OR 1=1 --", "", 0},
		{strings.Repeat("%C3%A9", 512), strings.Repeat("é", 512), "", 0},
		{strings.Repeat("a", 1025), "", "", 400},
		{strings.Repeat("%41", 1025), "", "", 400},
		{"%FF", "", "", 400},
		{"%zz", "", "", 400},
		{"%", "", "", 400},
		{"", "", "", 404},
		{"/details", "", "", 404},
		{"a/", "", "", 404},
		{"a/b/details", "", "", 404},
		{"a/Details", "", "", 404},
		{"a/details/", "", "", 404},
		{"a/history/x", "", "", 404},
	} {
		p, e := parseInstancePath(c.rest)
		if c.status != 0 {
			if e == nil || e.status != c.status {
				t.Errorf("parseInstancePath(%.40q) = %+v, %v; want %d", c.rest, p, e, c.status)
			}
			continue
		}
		if e != nil || p.id != c.id || p.sub != c.sub {
			t.Errorf("parseInstancePath(%.40q) = %+v, %v; want id %.40q sub %q", c.rest, p, e, c.id, c.sub)
		}
	}
}

func TestQuoteVal(t *testing.T) {
	if got := quoteVal("a\"b\x00"); got != `"a\"b\x00"` {
		t.Errorf("quoteVal = %s", got)
	}
	got := quoteVal(strings.Repeat("é", 100))
	if !strings.HasSuffix(got, "… (200 bytes)") || strings.Contains(got, "\\x") {
		t.Errorf("quoteVal of a long value = %s", got)
	}
}

// FuzzParseListParams: whatever the query string, the parser either
// answers a 400 naming a parameter or returns a filter inside the
// contract's bounds; it never panics.
func FuzzParseListParams(f *testing.F) {
	tok := query.EncodePageToken(query.PageCursor{CreatedAtMs: 5, InstanceID: "x"})
	for _, s := range []string{
		"", "status=Running", "status=Running,Failed&status=Completed", "limit=1000&offset=100000",
		"created_after=2026-11-25T21:38:00Z&created_before=2026-11-25T21:38:00.123Z",
		"created_after=1&created_before=0", "page_token=" + tok, "offset=1&page_token=" + tok,
		"orchestration=%27%3B%20DROP%20TABLE", "status=running", "limit=-1", "%zz", "a=1;b=2",
		"instance_prefix=%FF", "limit=99999999999999999999", "since=5", "status=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, e := parseListParams(raw)
		if e != nil {
			if e.status != 400 || e.code != "invalid_argument" || !strings.Contains(e.msg, ": ") {
				t.Fatalf("%q: %d %s %q", raw, e.status, e.code, e.msg)
			}
			return
		}
		if got.Limit < 1 || got.Limit > 1000 || got.Offset < 0 || got.Offset > 100000 {
			t.Fatalf("%q: limit %d offset %d out of bounds", raw, got.Limit, got.Offset)
		}
		if got.After != nil && got.Offset != 0 {
			t.Fatalf("%q: offset with page_token", raw)
		}
		if got.CreatedAfter != nil && got.CreatedBefore != nil && *got.CreatedAfter > *got.CreatedBefore {
			t.Fatalf("%q: inverted range accepted", raw)
		}
		for _, s := range got.Statuses {
			if s != "Running" && s != "Completed" && s != "Failed" {
				t.Fatalf("%q: status %q", raw, s)
			}
		}
		for _, s := range []string{got.Orchestration, got.ParentInstance, got.InstancePrefix} {
			if len(s) > 1024 {
				t.Fatalf("%q: %d-byte text parameter", raw, len(s))
			}
		}
		// Every parameter that was given is a known one.
		v, _ := url.ParseQuery(raw)
		for k := range v {
			switch k {
			case "status", "orchestration", "created_after", "created_before", "parent_instance",
				"instance_prefix", "limit", "offset", "page_token":
			default:
				t.Fatalf("%q: unknown parameter %q accepted", raw, k)
			}
		}
	})
}
