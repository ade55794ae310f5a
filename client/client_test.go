package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
)

// Contract-shaped bodies (API.md "Objects"), reused by several cases.
const (
	summaryRunning = `{"instance_id":"approval-42","orchestration_name":"ApprovalWorkflow","version":"1.0.0",
		"status":"Running","created_at":"2025-11-25T21:20:00.005Z","updated_at":"2025-11-25T21:20:05.080Z",
		"execution_count":1,"current_execution_id":1,"parent_instance":null,"parent_id":null,
		"output":null,"error":null,"custom_status":"waiting for approval"}`
	summaryChild = `{"instance_id":"parent-7::sub::2","orchestration_name":"ChildSum","version":"1.0.0",
		"status":"Completed","created_at":"2025-11-25T21:20:00.018Z","updated_at":"2025-11-25T21:20:00.036Z",
		"execution_count":1,"current_execution_id":1,"parent_instance":"parent-7","parent_id":2,
		"output":"3","error":null,"custom_status":null}`
	summaryFailed = `{"instance_id":"cancel-me","orchestration_name":"ProcessOrder","version":"1.0.0",
		"status":"Failed","created_at":"2025-11-25T21:20:00.005Z","updated_at":"2025-11-25T21:20:00.415Z",
		"execution_count":1,"current_execution_id":1,"parent_instance":null,"parent_id":null,"output":null,
		"error":{"category":"application","kind":"Cancelled","message":"canceled: user requested","retryable":false},
		"custom_status":null}`
	executionsBody = `{"executions":[
		{"execution_id":1,"status":"ContinuedAsNew","started_at":"2025-11-25T21:20:00.005Z","completed_at":"2025-11-25T21:20:00.020Z",
		 "event_count":4,"duration_ms":15,"output":null,"error":null},
		{"execution_id":2,"status":"Running","started_at":"2025-11-25T21:20:00.020Z","completed_at":null,
		 "event_count":2,"duration_ms":null,"output":null,"error":null}]}`
	detailsBody = `{"summary":` + summaryRunning + `,
		"executions":[{"execution_id":1,"status":"Running","started_at":"2025-11-25T21:20:00.005Z","completed_at":null,
		  "event_count":12,"duration_ms":null,"output":null,"error":null}],
		"current_execution":{"execution_id":1,"status":"Running","last_event_at":"2025-11-25T21:20:05.080Z",
		  "pending_activities":[{"correlation_id":4,"name":"SendReminder","input":"bob","tag":"gpu","scheduled_at":"2025-11-25T21:20:01.000Z"}],
		  "pending_timers":[{"correlation_id":10,"delay_ms":3599995,"scheduled_at":"2025-11-25T21:20:05.075Z","fire_at":"2025-11-25T22:20:05.070Z"}],
		  "pending_events":[{"correlation_id":11,"name":"ApprovalEvent","persistent":false,"subscribed_at":"2025-11-25T21:20:05.075Z"}],
		  "pending_sub_orchestrations":[{"correlation_id":12,"name":"ChildSum","instance":"sub::12","scheduled_at":"2025-11-25T21:20:05.076Z"}]}}`
	historyBody = `{"events":[
		{"event_id":1,"source_event_id":null,"instance_id":"a/..","execution_id":2,"timestamp_ms":1764105600005,"duroxide_version":"0.1.26","type":"OrchestrationStarted","name":"Counter","version":"1.0.0","input":"2","parent_instance":null,"parent_id":null},
		{"event_id":2,"source_event_id":null,"instance_id":"a/..","execution_id":2,"timestamp_ms":1764105600006,"type":"SomethingNew","extra":{"x":[1,2]}}]}`
	orchStatsBody = `{"total_count":9,"running_count":3,"completed_count":3,"failed_count":3,"continued_count":1}`
	actStatsBody  = `{"activities":[
		{"activity_name":"Echo","total_scheduled":3,"total_completed":3,"total_failed":0,"total_cancelled":0,"avg_duration_ms":16,"p50_duration_ms":16,"p95_duration_ms":17,"p99_duration_ms":17,"failure_rate":0},
		{"activity_name":"FetchRemoteFile","total_scheduled":4,"total_completed":1,"total_failed":3,"total_cancelled":0,"avg_duration_ms":51,"p50_duration_ms":51,"p95_duration_ms":52,"p99_duration_ms":52,"failure_rate":0.75}]}`
	perfBody     = `{"count":3,"avg_duration_ms":120,"min_duration_ms":-2,"max_duration_ms":300,"p50_duration_ms":62,"p95_duration_ms":300,"p99_duration_ms":300}`
	healthBody   = `{"total_instances":9,"running_instances":3,"completed_instances":3,"failed_instances":3,"long_running_instances":1,"recent_failures":2,"health_score":0}`
	problemsBody = `{"long_running":[` + summaryRunning + `],"potentially_stuck":[],"recent_failures":[` + summaryFailed + `],"slower_than_usual":[` + summaryRunning + `]}`
	queuesBody   = `{"pending_activities":4,"pending_timers":2,"pending_events":3,"pending_sub_orchestrations":1,"orchestrator_queue_depth":17,"activity_queue_depth":5}`
	watermarkBdy = `{"stream":"DUROXIDE_HISTORY","stream_last_seq":1234,"lag_events":7,"projected_through":"2025-11-25T21:20:05.080Z"}`
	bulkBody     = `{"statuses":[{"instance_id":"a","status":"Running"},{"instance_id":"nope","status":"NotFound"},{"instance_id":"a","status":"Running"}]}`
	reportBody   = `{"buckets":[{"start":"2025-11-25T21:00:00.000Z","orchestration_name":"X","started":3}]}`
)

// exchange is one expected request and the answer to it.
type exchange struct {
	method string
	uri    string // exact RequestURI: escaped path and encoded query
	body   string // exact request body; "" = none
	header map[string]string

	status      int // 0 = 200
	replyHeader map[string]string
	reply       string
}

// script serves exchanges in order and fails the test on any difference.
type script struct {
	t   *testing.T
	mu  sync.Mutex
	exs []exchange
	n   int
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	i := s.n
	s.n++
	s.mu.Unlock()
	if i >= len(s.exs) {
		s.t.Errorf("unexpected request %d: %s %s", i, r.Method, r.RequestURI)
		http.Error(w, "unexpected", http.StatusTeapot)
		return
	}
	ex := s.exs[i]
	if r.Method != ex.method {
		s.t.Errorf("request %d: method %s, want %s", i, r.Method, ex.method)
	}
	if r.RequestURI != ex.uri {
		s.t.Errorf("request %d: URI %q, want %q", i, r.RequestURI, ex.uri)
	}
	body, _ := io.ReadAll(r.Body)
	if string(body) != ex.body {
		s.t.Errorf("request %d: body %q, want %q", i, body, ex.body)
	}
	for k, v := range ex.header {
		if got := r.Header.Get(k); got != v {
			s.t.Errorf("request %d: header %s = %q, want %q", i, k, got, v)
		}
	}
	for k, v := range ex.replyHeader {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	status := ex.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, ex.reply)
}

func (s *script) served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// newScripted starts a server for exs and a client for it.
func newScripted(t *testing.T, exs []exchange, opts ...Option) (*Client, *script) {
	t.Helper()
	s := &script{t: t, exs: exs}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, s
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want is not JSON: %v: %s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON differs:\n got: %s\nwant: %s", got, want)
	}
}

// field extracts one top-level member of a JSON object.
func field(t *testing.T, doc, name string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("field %s: %v", name, err)
	}
	return m[name]
}

func ptr[T any](v T) *T { return &v }

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMethods checks, for every endpoint, the exact request the method sends
// and that the contract-shaped answer decodes without losing any field
// (decoded result re-encoded == the part of the body the method returns).
func TestMethods(t *testing.T) {
	after := mustTime(t, "2026-11-25T21:38:00.123Z")
	before := mustTime(t, "2026-11-26T00:00:00Z")
	cases := []struct {
		name string
		call func(ctx context.Context, c *Client) (any, error)
		ex   exchange
		// want is the JSON the result must re-encode to; "" = the whole reply.
		want string
	}{
		{
			name: "ListInstances all filters",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ListInstances(ctx, ListParams{
					Statuses: []string{"Running", "Failed"}, Orchestration: "Approval Workflow",
					CreatedAfter: after, CreatedBefore: before, ParentInstance: "parent/7",
					InstancePrefix: "order-1::", Limit: 50, Offset: 10,
				})
			},
			ex: exchange{method: "GET",
				uri: "/v1/instances?created_after=2026-11-25T21%3A38%3A00.123Z&created_before=2026-11-26T00%3A00%3A00.000Z" +
					"&instance_prefix=order-1%3A%3A&limit=50&offset=10&orchestration=Approval+Workflow&parent_instance=parent%2F7" +
					"&status=Running&status=Failed",
				reply: `{"instances":[` + summaryRunning + `,` + summaryChild + `],"next_page_token":"tok=="}`},
		},
		{
			name: "ListInstances no filters, page token",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ListInstances(ctx, ListParams{PageToken: "abc+/="})
			},
			ex: exchange{method: "GET", uri: "/v1/instances?page_token=abc%2B%2F%3D",
				reply: `{"instances":[],"next_page_token":null}`},
		},
		{
			name: "CountInstances grouped",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CountInstances(ctx, ListParams{Statuses: []string{"Failed"}, Orchestration: "Order"}, "version")
			},
			ex: exchange{method: "GET", uri: "/v1/instances/count?group_by=version&orchestration=Order&status=Failed",
				reply: `{"count":3,"groups":[{"key":"1.0.0","count":1},{"key":"2.0.0","count":2}]}`},
		},
		{
			name: "HistoryPage",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.HistoryPage(ctx, "order-1", HistoryParams{ExecutionID: 2, AfterEvent: "2:5", Limit: 2, OmitPayloads: true})
			},
			ex: exchange{method: "GET", uri: "/v1/instances/order-1/history?after_event=2%3A5&execution_id=2&include_payloads=false&limit=2",
				reply: `{"events":[{"event_id":6},{"event_id":7}],"next_page_token":"aDE6Mjo3"}`},
		},
		{
			name: "CountInstances",
			call: func(ctx context.Context, c *Client) (any, error) { return c.CountInstances(ctx, ListParams{}, "") },
			ex:   exchange{method: "GET", uri: "/v1/instances/count", reply: `{"count":0}`},
		},
		{
			name: "Instance",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Instance(ctx, "parent-7::sub::2") },
			ex:   exchange{method: "GET", uri: "/v1/instances/parent-7%3A%3Asub%3A%3A2", reply: summaryChild},
		},
		{
			name: "Instance with error object",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Instance(ctx, "cancel-me") },
			ex:   exchange{method: "GET", uri: "/v1/instances/cancel-me", reply: summaryFailed},
		},
		{
			name: "Details",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Details(ctx, "a/..") },
			ex:   exchange{method: "GET", uri: "/v1/instances/a%2F../details", reply: detailsBody},
		},
		{
			name: "Executions",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Executions(ctx, ".") },
			ex:   exchange{method: "GET", uri: "/v1/instances/%2E/executions", reply: executionsBody},
			want: string(field(t, executionsBody, "executions")),
		},
		{
			name: "Tree",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Tree(ctx, "parent-7::sub::2") },
			ex: exchange{method: "GET", uri: "/v1/instances/parent-7%3A%3Asub%3A%3A2/tree",
				reply: `{"root_id":"parent-7","instances":[` + summaryRunning + `,` + summaryChild + `]}`},
		},
		{
			name: "History all executions",
			call: func(ctx context.Context, c *Client) (any, error) { return c.History(ctx, "a/..", HistoryParams{}) },
			ex:   exchange{method: "GET", uri: "/v1/instances/a%2F../history", reply: historyBody},
			want: string(field(t, historyBody, "events")),
		},
		{
			name: "History one execution",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.History(ctx, "x y%z", HistoryParams{ExecutionID: 2})
			},
			ex:   exchange{method: "GET", uri: "/v1/instances/x%20y%25z/history?execution_id=2", reply: historyBody},
			want: string(field(t, historyBody, "events")),
		},
		{
			name: "BulkStatus",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.BulkStatus(ctx, []string{"a", "nope", "a"})
			},
			ex: exchange{method: "POST", uri: "/v1/bulk/status", body: `{"instance_ids":["a","nope","a"]}`,
				header: map[string]string{"Content-Type": "application/json"}, reply: bulkBody},
			want: string(field(t, bulkBody, "statuses")),
		},
		{
			name: "OrchestrationStats all",
			call: func(ctx context.Context, c *Client) (any, error) { return c.OrchestrationStats(ctx, "") },
			ex:   exchange{method: "GET", uri: "/v1/stats/orchestrations", reply: orchStatsBody},
		},
		{
			name: "OrchestrationStats one",
			call: func(ctx context.Context, c *Client) (any, error) { return c.OrchestrationStats(ctx, "Welcome&Users") },
			ex:   exchange{method: "GET", uri: "/v1/stats/orchestrations?orchestration=Welcome%26Users", reply: orchStatsBody},
		},
		{
			name: "ActivityStats defaults",
			call: func(ctx context.Context, c *Client) (any, error) { return c.ActivityStats(ctx, ActivityStatsParams{}) },
			ex:   exchange{method: "GET", uri: "/v1/stats/activities", reply: actStatsBody},
			want: string(field(t, actStatsBody, "activities")),
		},
		{
			name: "ActivityStats all params",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ActivityStats(ctx, ActivityStatsParams{Orchestration: "WelcomeUsers", Since: after, IncludeSystem: true})
			},
			ex: exchange{method: "GET",
				uri:   "/v1/stats/activities?include_system=true&orchestration=WelcomeUsers&since=2026-11-25T21%3A38%3A00.123Z",
				reply: actStatsBody},
			want: string(field(t, actStatsBody, "activities")),
		},
		{
			name: "Performance",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Performance(ctx, PerformanceParams{Orchestration: "ProcessOrder", Since: after})
			},
			ex: exchange{method: "GET", uri: "/v1/stats/performance?orchestration=ProcessOrder&since=2026-11-25T21%3A38%3A00.123Z",
				reply: perfBody},
		},
		{
			name: "SlowInstances",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.SlowInstances(ctx, SlowInstancesParams{Orchestration: "ProcessOrder", Since: after, MinDurationMs: ms(950), Limit: 20, PageToken: "tok"})
			},
			ex: exchange{method: "GET",
				uri:   "/v1/stats/performance/instances?limit=20&min_duration_ms=950&orchestration=ProcessOrder&page_token=tok&since=2026-11-25T21%3A38%3A00.123Z",
				reply: `{"instances":[{"instance_id":"o-1","orchestration_name":"ProcessOrder","version":"1.0.0","status":"Completed","created_at":"2026-11-25T21:38:00.123Z","updated_at":"2026-11-25T21:38:01.123Z","execution_count":1,"current_execution_id":1,"parent_instance":null,"parent_id":null,"output":null,"error":null,"custom_status":null,"duration_ms":1000}],"next_page_token":"n"}`},
		},
		{
			name: "ActivityCalls",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ActivityCalls(ctx, ActivityCallsParams{Activity: "ChargeCard", ActivityStatsParams: ActivityStatsParams{Orchestration: "ProcessOrder"}, MinDurationMs: ms(-7)})
			},
			ex: exchange{method: "GET", uri: "/v1/stats/activities/calls?activity=ChargeCard&min_duration_ms=-7&orchestration=ProcessOrder",
				reply: `{"calls":[{"instance_id":"o-1","execution_id":1,"correlation_id":8,"activity_name":"ChargeCard","orchestration_name":"ProcessOrder","scheduled_at":"2026-11-25T21:38:00.123Z","outcome":"Failed","duration_ms":706}],"next_page_token":null}`},
		},
		{
			name: "Health defaults",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Health(ctx, HealthParams{}) },
			ex:   exchange{method: "GET", uri: "/v1/health", reply: healthBody},
		},
		{
			name: "Health durations",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Health(ctx, HealthParams{LongRunningAfter: 48 * time.Hour, RecentFailureWindow: 90 * time.Second})
			},
			ex: exchange{method: "GET", uri: "/v1/health?long_running_after=48h&recent_failure_window=1m30s", reply: healthBody},
		},
		{
			name: "Problems",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Problems(ctx, ProblemsParams{LongRunningAfter: 2 * time.Hour, StuckAfter: 15 * time.Minute,
					RecentFailureWindow: 24 * time.Hour, Limit: 5})
			},
			ex: exchange{method: "GET",
				uri:   "/v1/problems?limit=5&long_running_after=2h&recent_failure_window=24h&stuck_after=15m",
				reply: problemsBody},
		},
		{
			name: "Queues",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Queues(ctx) },
			ex:   exchange{method: "GET", uri: "/v1/queues", reply: queuesBody},
		},
		{
			name: "Watermark",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Watermark(ctx) },
			ex:   exchange{method: "GET", uri: "/v1/watermark", reply: watermarkBdy},
		},
		{
			name: "Watermark before first projection",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Watermark(ctx) },
			ex: exchange{method: "GET", uri: "/v1/watermark",
				reply: `{"stream":"DUROXIDE_HISTORY","stream_last_seq":0,"lag_events":0,"projected_through":null}`},
		},
		{
			name: "Report",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Report(ctx, ReportParams{Bucket: time.Hour, From: after, To: before, GroupBy: []string{"orchestration", "status"}})
			},
			ex: exchange{method: "GET",
				uri: "/v1/reports/timeseries?bucket=1h&from=2026-11-25T21%3A38%3A00.123Z&group_by=orchestration%2Cstatus" +
					"&to=2026-11-26T00%3A00%3A00.000Z",
				reply: reportBody},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex := tc.ex
			if ex.header == nil {
				ex.header = map[string]string{}
			}
			ex.header["Accept"] = "application/json"
			ex.header["Authorization"] = "Bearer s3cret"
			ex.header["User-Agent"] = "ops-tool/1.0"
			c, s := newScripted(t, []exchange{ex}, WithToken("s3cret"), WithUserAgent("ops-tool/1.0"))
			got, err := tc.call(context.Background(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if s.served() != 1 {
				t.Fatalf("served %d requests, want 1", s.served())
			}
			enc, err := json.Marshal(got)
			if err != nil {
				t.Fatalf("re-encoding the result: %v", err)
			}
			want := tc.want
			if want == "" {
				want = ex.reply
			}
			jsonEqual(t, enc, []byte(want))
		})
	}
}

// TestTypedValues spot-checks that decoding lands in the right Go fields
// (TestMethods only proves nothing is lost).
func TestTypedValues(t *testing.T) {
	c, _ := newScripted(t, []exchange{
		{method: "GET", uri: "/v1/instances/a%2F../details", reply: detailsBody},
		{method: "GET", uri: "/v1/instances/parent-7%3A%3Asub%3A%3A2", reply: summaryChild},
		{method: "GET", uri: "/v1/watermark", reply: watermarkBdy},
	})
	ctx := context.Background()
	d, err := c.Details(ctx, "a/..")
	if err != nil {
		t.Fatal(err)
	}
	ce := d.CurrentExecution
	if ce == nil || len(ce.PendingTimers) != 1 || ce.PendingTimers[0].DelayMs != 3599995 ||
		ce.PendingTimers[0].FireAt != api.Time(mustTime(t, "2025-11-25T22:20:05.070Z").UnixMilli()) ||
		ce.PendingActivities[0].Tag == nil || *ce.PendingActivities[0].Tag != "gpu" ||
		ce.PendingSubOrchestrations[0].Instance != "sub::12" {
		t.Errorf("details decoded wrong: %+v", ce)
	}
	if d.Summary.CustomStatus == nil || *d.Summary.CustomStatus != "waiting for approval" {
		t.Errorf("custom_status = %v", d.Summary.CustomStatus)
	}
	s, err := c.Instance(ctx, "parent-7::sub::2")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.ParentInstance, ptr("parent-7")) || !reflect.DeepEqual(s.ParentID, ptr(uint64(2))) ||
		s.CreatedAt != api.Time(mustTime(t, "2025-11-25T21:20:00.018Z").UnixMilli()) {
		t.Errorf("summary decoded wrong: %+v", s)
	}
	w, err := c.Watermark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w.StreamLastSeq != 1234 || w.LagEvents != 7 || w.ProjectedThrough == nil {
		t.Errorf("watermark decoded wrong: %+v", w)
	}
}

func TestHealthzReadyz(t *testing.T) {
	c, _ := newScripted(t, []exchange{
		{method: "GET", uri: "/healthz", reply: "ok\n", replyHeader: map[string]string{"Content-Type": "text/plain"}},
		{method: "GET", uri: "/readyz", reply: "ok"},
		{method: "GET", uri: "/readyz", status: 503, replyHeader: map[string]string{"Retry-After": "2"},
			reply: `{"error":{"code":"unavailable","message":"clickhouse: connection refused"}}`},
	})
	ctx := context.Background()
	if err := c.Healthz(ctx); err != nil {
		t.Errorf("Healthz: %v", err)
	}
	if err := c.Readyz(ctx); err != nil {
		t.Errorf("Readyz: %v", err)
	}
	err := c.Readyz(ctx)
	if !IsUnavailable(err) {
		t.Fatalf("Readyz not ready: %v, want a 503 APIError", err)
	}
	var ae *APIError
	errors.As(err, &ae)
	if ae.RetryAfter != 2*time.Second || ae.Code != "unavailable" {
		t.Errorf("APIError = %+v", ae)
	}
}

func TestExport(t *testing.T) {
	const csv = "instance_id,status\nа/б,Running\n"
	c, s := newScripted(t, []exchange{
		{method: "GET", uri: "/v1/instances?format=csv&status=Running",
			header: map[string]string{"Accept": "text/csv"}, reply: csv,
			replyHeader: map[string]string{"Content-Type": "text/csv"}},
		{method: "GET", uri: "/v1/instances?format=ndjson&limit=2",
			header: map[string]string{"Accept": "application/x-ndjson"}, status: 400,
			reply: `{"error":{"code":"invalid_argument","message":"unknown parameter \"format\""}}`},
	}, WithTimeout(10*time.Second))
	ctx := context.Background()
	rc, err := c.Export(ctx, ExportParams{Format: FormatCSV, ListParams: ListParams{Statuses: []string{"Running"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if string(b) != csv {
		t.Errorf("body %q, want %q", b, csv)
	}
	_, err = c.Export(ctx, ExportParams{Format: FormatNDJSON, ListParams: ListParams{Limit: 2}})
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Code != api.CodeInvalidArgument {
		t.Errorf("export error = %v", err)
	}
	if _, err := c.Export(ctx, ExportParams{Format: "xml"}); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("bad format error = %v", err)
	}
	if s.served() != 2 {
		t.Errorf("served %d, want 2 (a bad format must not reach the service)", s.served())
	}
}

// TestInstanceIDEscaping sends ids that break naive escaping and checks the
// exact path on the wire and that decoding the segment once gives the id back.
func TestInstanceIDEscaping(t *testing.T) {
	long := strings.Repeat("é/", 256) // 1024 bytes
	cases := []struct{ id, seg string }{
		{"order-1::sub::2", "order-1%3A%3Asub%3A%3A2"},
		{"a/..", "a%2F.."},
		{".", "%2E"},
		{"..", "%2E%2E"},
		{"...", "..."},
		{"x y%z", "x%20y%25z"},
		{"ünï/cødé", "%C3%BCn%C3%AF%2Fc%C3%B8d%C3%A9"},
		{"?#[]@!$&'()*+,;=", "%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D"},
		{"a+b c~d_e-f.g", "a%2Bb%20c~d_e-f.g"},
		{"\x00\n\t\"\\", "%00%0A%09%22%5C"},
		{"\xff\xfe", "%FF%FE"},
		{long, strings.Repeat("%C3%A9%2F", 256)},
	}
	for _, tc := range cases {
		if got := EscapeInstanceID(tc.id); got != tc.seg {
			t.Errorf("EscapeInstanceID(%q) = %q, want %q", tc.id, got, tc.seg)
		}
		if dec, err := url.PathUnescape(tc.seg); err != nil || dec != tc.id {
			t.Errorf("decoding %q once = %q, %v; want %q", tc.seg, dec, err, tc.id)
		}
	}
	var exs []exchange
	for _, tc := range cases {
		exs = append(exs, exchange{method: "GET", uri: "/v1/instances/" + tc.seg + "/executions",
			reply: `{"executions":[]}`})
	}
	c, s := newScripted(t, exs)
	for _, tc := range cases {
		if _, err := c.Executions(context.Background(), tc.id); err != nil {
			t.Errorf("Executions(%q): %v", tc.id, err)
		}
	}
	if s.served() != len(cases) {
		t.Errorf("served %d, want %d", s.served(), len(cases))
	}
	if _, err := c.Instance(context.Background(), ""); !errors.Is(err, ErrEmptyInstanceID) {
		t.Errorf("empty id: %v, want ErrEmptyInstanceID", err)
	}
}

func TestBasePathPrefix(t *testing.T) {
	s := &script{t: t, exs: []exchange{{method: "GET", uri: "/duro%20scope/v1/instances/a%2Fb", reply: summaryChild}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, err := New(srv.URL + "/duro%20scope/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Instance(context.Background(), "a/b"); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejects(t *testing.T) {
	cases := []struct {
		base string
		opts []Option
		want string
	}{
		{"127.0.0.1:8080", nil, "want http[s]://host"},
		{"ftp://h", nil, "scheme"},
		{"http://", nil, "missing host"},
		{"http://h/?x=1", nil, "query"},
		{"http://h", []Option{WithTimeout(-time.Second)}, "negative timeout"},
		{"http://h", []Option{WithRetry(-1)}, "negative retry"},
		{"http://h", []Option{WithHTTPClient(nil)}, "nil"},
	}
	for _, tc := range cases {
		_, err := New(tc.base, tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q): %v, want an error containing %q", tc.base, err, tc.want)
		}
	}
}

func TestInstancesIterator(t *testing.T) {
	page := func(ids []string, next string) string {
		var b strings.Builder
		b.WriteString(`{"instances":[`)
		for i, id := range ids {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(strings.Replace(summaryRunning, `"approval-42"`, `"`+id+`"`, 1))
		}
		b.WriteString(`],"next_page_token":`)
		if next == "" {
			b.WriteString("null}")
		} else {
			b.WriteString(`"` + next + `"}`)
		}
		return b.String()
	}
	t.Run("three pages", func(t *testing.T) {
		c, s := newScripted(t, []exchange{
			{method: "GET", uri: "/v1/instances?limit=2&offset=5&status=Running", reply: page([]string{"a", "b"}, "t1")},
			{method: "GET", uri: "/v1/instances?limit=2&page_token=t1&status=Running", reply: page([]string{"c", "d"}, "t/2")},
			{method: "GET", uri: "/v1/instances?limit=2&page_token=t%2F2&status=Running", reply: page([]string{"e"}, "")},
		})
		var got []string
		for s, err := range c.Instances(context.Background(), ListParams{Statuses: []string{"Running"}, Limit: 2, Offset: 5}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, s.InstanceID)
		}
		if want := []string{"a", "b", "c", "d", "e"}; !reflect.DeepEqual(got, want) {
			t.Errorf("ids %v, want %v", got, want)
		}
		if s.served() != 3 {
			t.Errorf("served %d pages, want 3", s.served())
		}
	})
	t.Run("break stops paging", func(t *testing.T) {
		c, s := newScripted(t, []exchange{
			{method: "GET", uri: "/v1/instances", reply: page([]string{"a", "b"}, "t1")},
		})
		for s := range c.Instances(context.Background(), ListParams{}) {
			if s.InstanceID == "b" {
				break
			}
		}
		if s.served() != 1 {
			t.Errorf("served %d pages, want 1", s.served())
		}
	})
	t.Run("error on second page", func(t *testing.T) {
		c, _ := newScripted(t, []exchange{
			{method: "GET", uri: "/v1/instances", reply: page([]string{"a"}, "t1")},
			{method: "GET", uri: "/v1/instances?page_token=t1", status: 400,
				reply: `{"error":{"code":"invalid_argument","message":"page_token: malformed"}}`},
		})
		var ids []string
		var errs []error
		for s, err := range c.Instances(context.Background(), ListParams{}) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ids = append(ids, s.InstanceID)
		}
		if !reflect.DeepEqual(ids, []string{"a"}) || len(errs) != 1 || !strings.Contains(errs[0].Error(), "page_token: malformed") {
			t.Errorf("ids %v errs %v", ids, errs)
		}
	})
	t.Run("repeated token", func(t *testing.T) {
		c, _ := newScripted(t, []exchange{
			{method: "GET", uri: "/v1/instances", reply: page([]string{"a"}, "t1")},
			{method: "GET", uri: "/v1/instances?page_token=t1", reply: page([]string{"b"}, "t1")},
		})
		var last error
		n := 0
		for _, err := range c.Instances(context.Background(), ListParams{}) {
			n++
			last = err
		}
		if n != 3 || last == nil || !strings.Contains(last.Error(), "again") {
			t.Errorf("n=%d last=%v", n, last)
		}
	})
}

func TestErrorParsing(t *testing.T) {
	cases := []struct {
		name        string
		status      int
		header      map[string]string
		reply       string
		want        APIError
		notFound    bool
		unavailable bool
		unauth      bool
	}{
		{name: "not found", status: 404, reply: `{"error":{"code":"not_found","message":"no instance \"x\""}}`,
			want: APIError{StatusCode: 404, Code: "not_found", Message: `no instance "x"`}, notFound: true},
		{name: "bad parameter", status: 400, reply: `{"error":{"code":"invalid_argument","message":"status: want Running|Completed|Failed, got \"running\""}}`,
			want: APIError{StatusCode: 400, Code: "invalid_argument", Message: `status: want Running|Completed|Failed, got "running"`}},
		{name: "unauthenticated", status: 401, reply: `{"error":{"code":"unauthenticated","message":"missing bearer token"}}`,
			want: APIError{StatusCode: 401, Code: "unauthenticated", Message: "missing bearer token"}, unauth: true},
		{name: "too large", status: 413, reply: `{"error":{"code":"too_large","message":"body over 1 MiB"}}`,
			want: APIError{StatusCode: 413, Code: "too_large", Message: "body over 1 MiB"}},
		{name: "unavailable seconds", status: 503, header: map[string]string{"Retry-After": "7"},
			reply: `{"error":{"code":"unavailable","message":"clickhouse unreachable"}}`,
			want:  APIError{StatusCode: 503, Code: "unavailable", Message: "clickhouse unreachable", RetryAfter: 7 * time.Second}, unavailable: true},
		{name: "foreign body", status: 502, reply: "<html>Bad Gateway</html>\n",
			want: APIError{StatusCode: 502, Message: "<html>Bad Gateway</html>"}},
		{name: "empty body", status: 500, reply: "",
			want: APIError{StatusCode: 500, Message: "Internal Server Error"}},
		{name: "json without envelope", status: 400, reply: `{"oops":true}`,
			want: APIError{StatusCode: 400, Message: `{"oops":true}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newScripted(t, []exchange{{method: "GET", uri: "/v1/instances/x", status: tc.status,
				replyHeader: tc.header, reply: tc.reply}})
			_, err := c.Instance(context.Background(), "x")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not an *APIError", err, err)
			}
			want := tc.want
			want.Method, want.Path = "GET", "/v1/instances/x"
			if *ae != want {
				t.Errorf("APIError = %+v\nwant      %+v", *ae, want)
			}
			if IsNotFound(err) != tc.notFound || IsUnavailable(err) != tc.unavailable || IsUnauthenticated(err) != tc.unauth {
				t.Errorf("helpers: notFound=%v unavailable=%v unauth=%v", IsNotFound(err), IsUnavailable(err), IsUnauthenticated(err))
			}
			if !strings.Contains(err.Error(), "GET /v1/instances/x: HTTP ") {
				t.Errorf("message %q does not name the request", err)
			}
		})
	}
	if IsNotFound(errors.New("x")) || IsNotFound(nil) {
		t.Error("IsNotFound true for a non-API error")
	}
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Fri, 02 Jan 2026 03:04:15 GMT": 10 * time.Second,
		"Fri, 02 Jan 2026 03:04:00 GMT": 0,
	}
	for v, want := range cases {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestRetry(t *testing.T) {
	unavailable := `{"error":{"code":"unavailable","message":"overloaded"}}`
	bulk := exchange{method: "POST", uri: "/v1/bulk/status", body: `{"instance_ids":["a"]}`}
	fail := func(retryAfter string) exchange {
		ex := bulk
		ex.status, ex.reply = 503, unavailable
		if retryAfter != "" {
			ex.replyHeader = map[string]string{"Retry-After": retryAfter}
		}
		return ex
	}
	ok := bulk
	ok.reply = `{"statuses":[{"instance_id":"a","status":"Completed"}]}`

	var waits []time.Duration
	record := func(c *Client) {
		waits = nil
		c.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	}

	t.Run("off by default", func(t *testing.T) {
		c, s := newScripted(t, []exchange{fail("1")})
		record(c)
		_, err := c.BulkStatus(context.Background(), []string{"a"})
		if !IsUnavailable(err) || s.served() != 1 || len(waits) != 0 {
			t.Errorf("err=%v served=%d waits=%v", err, s.served(), waits)
		}
	})
	t.Run("succeeds after two 503s", func(t *testing.T) {
		c, s := newScripted(t, []exchange{fail("3"), fail(""), ok}, WithRetry(2))
		record(c)
		st, err := c.BulkStatus(context.Background(), []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		if len(st) != 1 || st[0].Status != "Completed" || s.served() != 3 {
			t.Errorf("statuses %v served %d", st, s.served())
		}
		// Retry-After honored; the second 503 had none: backoff 250ms<<1.
		if want := []time.Duration{3 * time.Second, 500 * time.Millisecond}; !reflect.DeepEqual(waits, want) {
			t.Errorf("waits %v, want %v", waits, want)
		}
	})
	t.Run("gives up after n retries", func(t *testing.T) {
		c, s := newScripted(t, []exchange{fail("1"), fail("2")}, WithRetry(1))
		record(c)
		_, err := c.BulkStatus(context.Background(), []string{"a"})
		var ae *APIError
		if !errors.As(err, &ae) || ae.RetryAfter != 2*time.Second || s.served() != 2 {
			t.Errorf("err=%v served=%d", err, s.served())
		}
	})
	t.Run("other statuses are not retried", func(t *testing.T) {
		ex := bulk
		ex.status, ex.reply = 400, `{"error":{"code":"invalid_argument","message":"x"}}`
		c, s := newScripted(t, []exchange{ex}, WithRetry(3))
		record(c)
		if _, err := c.BulkStatus(context.Background(), []string{"a"}); err == nil || s.served() != 1 {
			t.Errorf("err=%v served=%d", err, s.served())
		}
	})
	t.Run("wait beyond deadline is not started", func(t *testing.T) {
		c, s := newScripted(t, []exchange{fail("60")}, WithRetry(3))
		record(c)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.BulkStatus(ctx, []string{"a"})
		if !IsUnavailable(err) || s.served() != 1 || len(waits) != 0 {
			t.Errorf("err=%v served=%d waits=%v", err, s.served(), waits)
		}
	})
	t.Run("real sleep honors cancellation", func(t *testing.T) {
		c, _ := newScripted(t, []exchange{fail("30")}, WithRetry(1))
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.BulkStatus(ctx, []string{"a"})
		if !errors.Is(err, context.Canceled) || !IsUnavailable(err) || time.Since(start) > 5*time.Second {
			t.Errorf("err=%v after %s", err, time.Since(start))
		}
	})
}

func TestProjectionHeaders(t *testing.T) {
	var seen []ProjectionInfo
	c, _ := newScripted(t, []exchange{
		{method: "GET", uri: "/v1/queues", reply: queuesBody},
		{method: "GET", uri: "/v1/queues", reply: queuesBody,
			replyHeader: map[string]string{HeaderLagEvents: "42", HeaderProjectedThrough: "2025-11-25T21:20:05.080Z"}},
		{method: "GET", uri: "/v1/instances/nope", status: 404, reply: `{"error":{"code":"not_found","message":"no instance"}}`,
			replyHeader: map[string]string{HeaderLagEvents: "0", HeaderProjectedThrough: "2025-11-25T21:21:00.000Z"}},
	}, WithProjectionObserver(func(p ProjectionInfo) { seen = append(seen, p) }))
	ctx := context.Background()
	if _, err := c.Queues(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.LastProjection(); ok {
		t.Error("LastProjection ok before any response carried the headers")
	}
	if _, err := c.Queues(ctx); err != nil {
		t.Fatal(err)
	}
	p, ok := c.LastProjection()
	want := mustTime(t, "2025-11-25T21:20:05.080Z")
	if !ok || p.LagEvents != 42 || p.ProjectedThrough == nil || !p.ProjectedThrough.Equal(want) {
		t.Errorf("LastProjection = %+v, %v", p, ok)
	}
	if _, err := c.Instance(ctx, "nope"); !IsNotFound(err) {
		t.Fatalf("err = %v", err)
	}
	p, _ = c.LastProjection()
	if p.LagEvents != 0 || p.ProjectedThrough == nil || !p.ProjectedThrough.Equal(mustTime(t, "2025-11-25T21:21:00Z")) {
		t.Errorf("projection of the error response not captured: %+v", p)
	}
	if len(seen) != 2 || seen[0].LagEvents != 42 {
		t.Errorf("observer saw %+v", seen)
	}
}

func TestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, WithTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Queues(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Errorf("err = %v after %s", err, time.Since(start))
	}
}

func TestWithHTTPClient(t *testing.T) {
	var used bool
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader([]byte(queuesBody))), Request: r}, nil
	})}
	c, err := New("http://duroscope.invalid", WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.Queues(context.Background())
	if err != nil || !used || q.OrchestratorQueueDepth != 17 {
		t.Errorf("q=%+v err=%v used=%v", q, err, used)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestDecodeError(t *testing.T) {
	c, _ := newScripted(t, []exchange{{method: "GET", uri: "/v1/queues", reply: `{"pending_activities":"four"}`}})
	_, err := c.Queues(context.Background())
	if err == nil || !strings.Contains(err.Error(), "decoding the answer") {
		t.Errorf("err = %v", err)
	}
}

func TestPerformanceNeedsOrchestration(t *testing.T) {
	c, s := newScripted(t, nil)
	if _, err := c.Performance(context.Background(), PerformanceParams{}); err == nil {
		t.Error("no error without an orchestration")
	}
	if s.served() != 0 {
		t.Error("request sent")
	}
}

func TestFormatTime(t *testing.T) {
	cest := time.FixedZone("CEST", 2*3600)
	cases := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 25, 21, 38, 0, 123_000_000, time.UTC), "2026-11-25T21:38:00.123Z"},
		{time.Date(2026, 11, 25, 21, 38, 0, 123_000_001, time.UTC), "2026-11-25T21:38:00.124Z"},
		{time.Date(2026, 11, 25, 21, 38, 0, 999_999_999, time.UTC), "2026-11-25T21:38:01.000Z"},
		{time.Date(2026, 11, 25, 23, 0, 0, 0, cest), "2026-11-25T21:00:00.000Z"},
		{time.UnixMilli(-1), "1969-12-31T23:59:59.999Z"},
	}
	for _, tc := range cases {
		if got := FormatTime(tc.in); got != tc.want {
			t.Errorf("FormatTime(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	cases := map[time.Duration]string{
		24 * time.Hour:                       "24h",
		90 * time.Second:                     "1m30s",
		90 * time.Minute:                     "1h30m",
		time.Hour + time.Second:              "1h0m1s",
		1500 * time.Millisecond:              "1.5s",
		10 * time.Minute:                     "10m",
		time.Hour + 30*time.Millisecond:      "1h0m0.03s",
		-2 * time.Hour:                       "-2h",
		250 * time.Millisecond:               "250ms",
		100*time.Hour + 10*time.Minute:       "100h10m",
		100*time.Hour + 10*time.Second:       "100h0m10s",
		3*time.Minute + 500*time.Microsecond: "3m0.0005s",
	}
	for d, want := range cases {
		got := FormatDuration(d)
		if got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, back, err, d)
		}
	}
}

// TestMinSeq: WithMinSeq adds min_seq to every call, ContextWithMinSeq sets
// or (with 0) removes it per call, and a 503 while the service waits is
// retried.
func TestMinSeq(t *testing.T) {
	c, s := newScripted(t, []exchange{
		{method: "GET", uri: "/v1/queues?min_seq=7", reply: queuesBody},
		{method: "GET", uri: "/v1/instances?limit=5&min_seq=9", reply: `{"instances":[],"next_page_token":null}`},
		{method: "GET", uri: "/v1/queues", reply: queuesBody},
		{method: "GET", uri: "/v1/watermark?min_seq=9", status: 503, replyHeader: map[string]string{"Retry-After": "0"},
			reply: `{"error":{"code":"unavailable","message":"min_seq 9 not reached"}}`},
		{method: "GET", uri: "/v1/watermark?min_seq=9", reply: watermarkBdy},
	}, WithMinSeq(7), WithRetry(1))
	ctx := context.Background()
	if _, err := c.Queues(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListInstances(ContextWithMinSeq(ctx, 9), ListParams{Limit: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Queues(ContextWithMinSeq(ctx, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Watermark(ContextWithMinSeq(ctx, 9)); err != nil {
		t.Fatal(err)
	}
	if s.served() != 5 {
		t.Errorf("%d requests served, want 5", s.served())
	}
}

func TestCountInstancesRefusesPaging(t *testing.T) {
	c, _ := newScripted(t, nil)
	for _, p := range []ListParams{{Limit: 5}, {Offset: 1}, {PageToken: "x"}} {
		if _, err := c.CountInstances(context.Background(), p, ""); err == nil || !strings.Contains(err.Error(), "do not apply") {
			t.Errorf("%+v: err %v, want paging refused", p, err)
		}
	}
}

func ms(v int64) *int64 { return &v }
