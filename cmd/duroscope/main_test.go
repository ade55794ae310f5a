package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Contract-shaped answers (API.md "Objects").
const (
	sumApproval = `{"instance_id":"approval-42","orchestration_name":"ApprovalWorkflow","version":"1.0.0","status":"Running",
		"created_at":"2025-11-25T21:20:00.005Z","updated_at":"2025-11-25T21:20:05.080Z","execution_count":1,"current_execution_id":1,
		"parent_instance":null,"parent_id":null,"output":null,"error":null,"custom_status":"waiting for approval"}`
	sumChild = `{"instance_id":"parent-7::sub::2","orchestration_name":"ChildSum","version":"1.0.0","status":"Completed",
		"created_at":"2025-11-25T21:20:00.018Z","updated_at":"2025-11-25T21:20:00.036Z","execution_count":1,"current_execution_id":1,
		"parent_instance":"parent-7","parent_id":2,"output":"3","error":null,"custom_status":null}`
	sumFailed = `{"instance_id":"cancel-me","orchestration_name":"ProcessOrder","version":"1.0.0","status":"Failed",
		"created_at":"2025-11-25T21:20:00.005Z","updated_at":"2025-11-25T21:20:00.415Z","execution_count":1,"current_execution_id":1,
		"parent_instance":null,"parent_id":null,"output":null,
		"error":{"category":"application","kind":"Cancelled","message":"canceled: user requested","retryable":false},"custom_status":null}`
	details = `{"summary":` + sumApproval + `,
		"executions":[{"execution_id":1,"status":"Running","started_at":"2025-11-25T21:20:00.005Z","completed_at":null,
		  "event_count":12,"duration_ms":null,"output":null,"error":null}],
		"current_execution":{"execution_id":1,"status":"Running","last_event_at":"2025-11-25T21:20:05.080Z",
		  "pending_activities":[{"correlation_id":4,"name":"SendReminder","input":"bob","tag":null,"scheduled_at":"2025-11-25T21:20:01.000Z"}],
		  "pending_timers":[{"correlation_id":10,"delay_ms":3599995,"scheduled_at":"2025-11-25T21:20:05.075Z","fire_at":"2025-11-25T22:20:05.070Z"}],
		  "pending_events":[{"correlation_id":11,"name":"ApprovalEvent","persistent":false,"subscribed_at":"2025-11-25T21:20:05.075Z"}],
		  "pending_sub_orchestrations":[{"correlation_id":12,"name":"ChildSum","instance":"sub::12","scheduled_at":"2025-11-25T21:20:05.076Z"}]}}`
	history = `{"events":[
		{"event_id":1,"source_event_id":null,"instance_id":"a/..","execution_id":2,"timestamp_ms":1764105600005,"type":"OrchestrationStarted","name":"Counter","version":"1.0.0","input":"2","parent_instance":null,"parent_id":null},
		{"event_id":2,"source_event_id":null,"instance_id":"a/..","execution_id":2,"timestamp_ms":1764105600006,"type":"ActivityScheduled","name":"Add","input":"1"},
		{"event_id":3,"source_event_id":2,"instance_id":"a/..","execution_id":2,"timestamp_ms":1764105600014,"type":"ActivityCompleted","result":"3"},
		{"event_id":4,"source_event_id":null,"instance_id":"a/..","execution_id":2,"timestamp_ms":1764105600015,"type":"SomethingNew","extra":{"x":[1,2]}}]}`
	orchStats = `{"total_count":9,"running_count":3,"completed_count":3,"failed_count":3,"continued_count":1}`
	actStats  = `{"activities":[
		{"activity_name":"Echo","total_scheduled":3,"total_completed":3,"total_failed":0,"total_cancelled":0,"avg_duration_ms":16,"p50_duration_ms":16,"p95_duration_ms":17,"p99_duration_ms":17,"failure_rate":0},
		{"activity_name":"FetchRemoteFile","total_scheduled":4,"total_completed":1,"total_failed":3,"total_cancelled":0,"avg_duration_ms":51,"p50_duration_ms":51,"p95_duration_ms":52,"p99_duration_ms":52,"failure_rate":0.75}]}`
	perf      = `{"count":3,"avg_duration_ms":120,"min_duration_ms":-2,"max_duration_ms":300,"p50_duration_ms":62,"p95_duration_ms":300,"p99_duration_ms":301}`
	health    = `{"total_instances":9,"running_instances":3,"completed_instances":3,"failed_instances":3,"long_running_instances":1,"recent_failures":2,"health_score":0}`
	problems  = `{"long_running":[` + sumApproval + `],"potentially_stuck":[],"recent_failures":[` + sumFailed + `],"slower_than_usual":[` + sumApproval + `]}`
	queues    = `{"pending_activities":4,"pending_timers":2,"pending_events":3,"pending_sub_orchestrations":1,"orchestrator_queue_depth":17,"activity_queue_depth":5}`
	watermark = `{"stream":"DUROXIDE_HISTORY","stream_last_seq":1234,"lag_events":7,"projected_through":"2025-11-25T21:20:05.080Z"}`
	report    = `{"bucket":"1h","buckets":[
		{"start":"2026-11-25T20:00:00.000Z","orchestration_name":"Welcome","started":3},
		{"start":"2026-11-25T21:00:00.000Z","orchestration_name":"Welcome","started":1,"failed":2}]}`
	notFound = `{"error":{"code":"not_found","message":"no instance \"nope\""}}`
)

// reply is a canned answer of the fake service.
type reply struct {
	status int
	header map[string]string
	body   string
}

// fakeService answers exact "METHOD RequestURI" keys and records every
// request; anything unexpected is a 418 and fails the test.
type fakeService struct {
	t      *testing.T
	routes map[string]reply
	mu     sync.Mutex
	seen   []string
	bodies []string
	auth   []string
	accept []string
}

func (f *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.RequestURI
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.seen = append(f.seen, key)
	f.bodies = append(f.bodies, string(body))
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.accept = append(f.accept, r.Header.Get("Accept"))
	f.mu.Unlock()
	rep, ok := f.routes[key]
	if !ok {
		f.t.Errorf("unexpected request %s", key)
		w.WriteHeader(http.StatusTeapot)
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.status == 0 {
		rep.status = http.StatusOK
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

var testNow = time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)

// runCLI runs the CLI in-process with a fixed clock and environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, now: func() time.Time { return testNow },
		getenv: func(k string) string { return env[k] }}
	code = a.main(context.Background(), args)
	return code, out.String(), errb.String()
}

func jsonEq(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON output differs:\n got: %s\nwant: %s", got, want)
	}
}

func page(next string, sums ...string) string {
	n := "null"
	if next != "" {
		n = `"` + next + `"`
	}
	return `{"instances":[` + strings.Join(sums, ",") + `],"next_page_token":` + n + `}`
}

func TestSubcommands(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		routes   map[string]reply
		wantReqs []string // exact request sequence
		wantCode int
		wantOut  string   // exact stdout, "" = not checked
		contains []string // substrings of stdout
		wantJSON string   // stdout must be this JSON
		errHas   []string // substrings of stderr
	}{
		{
			name: "instances list filters table",
			args: []string{"instances", "list", "--status", "running,Failed", "--orchestration", "Approval Workflow",
				"--created-after", "2026-11-25", "--created-before", "1h", "--parent", "p/1", "--prefix", "ord", "--limit", "2"},
			routes: map[string]reply{
				"GET /v1/instances?created_after=2026-11-25T00%3A00%3A00.000Z&created_before=2026-11-25T21%3A00%3A00.000Z" +
					"&instance_prefix=ord&limit=2&orchestration=Approval+Workflow&parent_instance=p%2F1&status=Running&status=Failed": {
					body: page("tok/2", sumApproval, sumChild)},
			},
			wantOut: "" +
				"INSTANCE          ORCHESTRATION     VERSION  STATUS     CREATED                   UPDATED                   EXECS  PARENT\n" +
				"approval-42       ApprovalWorkflow  1.0.0    Running    2025-11-25T21:20:00.005Z  2025-11-25T21:20:05.080Z  1      -\n" +
				"parent-7::sub::2  ChildSum          1.0.0    Completed  2025-11-25T21:20:00.018Z  2025-11-25T21:20:00.036Z  1      parent-7\n",
			errHas: []string{"--page-token tok/2"},
		},
		{
			name: "instances list all pages json",
			args: []string{"--json", "instances", "list", "--limit", "1", "--all"},
			routes: map[string]reply{
				"GET /v1/instances?limit=1":               {body: page("t1", sumApproval)},
				"GET /v1/instances?limit=1&page_token=t1": {body: page("t2", sumChild)},
				"GET /v1/instances?limit=1&page_token=t2": {body: page("", sumFailed)},
			},
			wantReqs: []string{"GET /v1/instances?limit=1", "GET /v1/instances?limit=1&page_token=t1", "GET /v1/instances?limit=1&page_token=t2"},
			wantJSON: page("", sumApproval, sumChild, sumFailed),
		},
		{
			name:     "instances list page token and offset passthrough",
			args:     []string{"instances", "list", "--page-token", "abc", "--offset", "3", "--json"},
			routes:   map[string]reply{"GET /v1/instances?offset=3&page_token=abc": {status: 400, body: `{"error":{"code":"invalid_argument","message":"offset: not allowed together with page_token"}}`}},
			wantCode: 1,
			errHas:   []string{"HTTP 400 invalid_argument: offset: not allowed together with page_token"},
		},
		{
			name: "instances watch prints changes and stops after --count",
			args: []string{"instances", "watch", "--status", "Failed", "--prefix", "ord", "--last-event-id", "7", "--count", "2"},
			routes: map[string]reply{"GET /v1/instances/changes?instance_prefix=ord&status=Failed": {
				header: map[string]string{"Content-Type": "text/event-stream"},
				body: "retry: 2000\n\n" +
					"event: reset\nid: 8\ndata: {\"reason\":\"reload\"}\n\n" +
					"id: 9\ndata: {\"instance_id\":\"ord-1\",\"status\":\"Failed\",\"updated_at\":\"2025-11-25T21:20:00.415Z\",\"seq\":9}\n\n" +
					"id: 12\ndata: {\"instance_id\":\"ord-2\",\"status\":\"Deleted\",\"updated_at\":\"2025-11-25T21:20:01.000Z\",\"seq\":12}\n\n"}},
			wantOut: "8\tRESET\treload\n9\tFailed\t2025-11-25T21:20:00.415Z\tord-1\n12\tDeleted\t2025-11-25T21:20:01.000Z\tord-2\n",
		},
		{
			name:   "instances show table",
			args:   []string{"instances", "show", "a/.."},
			routes: map[string]reply{"GET /v1/instances/a%2F../details": {body: details}},
			contains: []string{
				"Instance:       approval-42\n",
				"Orchestration:  ApprovalWorkflow 1.0.0\n",
				"Custom status:  waiting for approval\n",
				"EXECUTIONS\nID  STATUS   STARTED                   COMPLETED  DURATION  EVENTS  RESULT\n1   Running  2025-11-25T21:20:00.005Z  -          -         12      -\n",
				"CURRENT EXECUTION 1 (last event 2025-11-25T21:20:05.080Z)",
				"Pending activities\nID  NAME          TAG  SCHEDULED                 INPUT\n4   SendReminder  -    2025-11-25T21:20:01.000Z  bob\n",
				"Pending timers\nID  FIRE AT                   DELAY      SCHEDULED\n10  2025-11-25T22:20:05.070Z  3599995ms  2025-11-25T21:20:05.075Z\n",
				"ApprovalEvent  false",
				"12  ChildSum  sub::12",
			},
		},
		{
			name:     "instances show json flag after id",
			args:     []string{"instances", "show", "x y%z", "--json"},
			routes:   map[string]reply{"GET /v1/instances/x%20y%25z/details": {body: details}},
			wantJSON: details,
		},
		{
			name:     "instances show dash id after --",
			args:     []string{"instances", "show", "--", "-weird"},
			routes:   map[string]reply{"GET /v1/instances/-weird/details": {body: `{"summary":` + sumFailed + `,"executions":[],"current_execution":null}`}},
			contains: []string{"Error:          application/Cancelled: canceled: user requested\n"},
		},
		{
			name:     "instances show not found",
			args:     []string{"instances", "show", "nope"},
			routes:   map[string]reply{"GET /v1/instances/nope/details": {status: 404, body: notFound}},
			wantCode: 1,
			errHas:   []string{`duroscope: GET /v1/instances/nope/details: HTTP 404 not_found: no instance "nope"`},
		},
		{
			name:     "instances tree",
			args:     []string{"instances", "tree", "parent-7::sub::2"},
			routes:   map[string]reply{"GET /v1/instances/parent-7%3A%3Asub%3A%3A2/tree": {body: `{"root_id":"approval-42","instances":[` + sumApproval + `,` + sumChild + `]}`}},
			contains: []string{"Root: approval-42\n", "\napproval-42 ", "\nparent-7::sub::2 "},
		},
		{
			name:     "instances tree not found",
			args:     []string{"instances", "tree", "nope"},
			routes:   map[string]reply{"GET /v1/instances/nope/tree": {status: 404, body: notFound}},
			wantCode: 1,
			errHas:   []string{`duroscope: GET /v1/instances/nope/tree: HTTP 404 not_found: no instance "nope"`},
		},
		{
			name:   "instances history one execution",
			args:   []string{"instances", "history", "--execution", "2", "."},
			routes: map[string]reply{"GET /v1/instances/%2E/history?execution_id=2": {body: history}},
			wantOut: "" +
				"EXEC  EVENT  TIME                      TYPE                  SOURCE  DETAIL\n" +
				"2     1      2025-11-25T21:20:00.005Z  OrchestrationStarted  -       Counter\n" +
				"2     2      2025-11-25T21:20:00.006Z  ActivityScheduled     -       Add\n" +
				"2     3      2025-11-25T21:20:00.014Z  ActivityCompleted     2       -\n" +
				"2     4      2025-11-25T21:20:00.015Z  SomethingNew          -       -\n",
		},
		{
			name:     "instances history json keeps unknown fields",
			args:     []string{"--json", "instances", "history", "order-1::sub::2"},
			routes:   map[string]reply{"GET /v1/instances/order-1%3A%3Asub%3A%3A2/history": {body: history}},
			wantJSON: history,
		},
		{
			name:    "instances status",
			args:    []string{"instances", "status", "a", "nope", "a"},
			routes:  map[string]reply{"POST /v1/bulk/status": {body: `{"statuses":[{"instance_id":"a","status":"Running"},{"instance_id":"nope","status":"NotFound"},{"instance_id":"a","status":"Running"}]}`}},
			wantOut: "INSTANCE  STATUS\na         Running\nnope      NotFound\na         Running\n",
		},
		{
			name: "stats all",
			args: []string{"stats"},
			routes: map[string]reply{
				"GET /v1/stats/orchestrations": {body: orchStats},
				"GET /v1/stats/activities":     {body: actStats},
			},
			wantReqs: []string{"GET /v1/stats/orchestrations", "GET /v1/stats/activities"},
			contains: []string{
				"ORCHESTRATIONS (all orchestrations)\nTotal:             9\nRunning:           3\n",
				"Continued as new:  1\n",
				"FetchRemoteFile  4          1          3       0          51ms  51ms  52ms  52ms  75.0%\n",
			},
		},
		{
			name: "stats one orchestration json",
			args: []string{"stats", "--orchestration", "Welcome", "--since", "2026-11-25T21:38:00.123Z", "--include-system", "--json"},
			routes: map[string]reply{
				"GET /v1/stats/orchestrations?orchestration=Welcome":                                                    {body: orchStats},
				"GET /v1/stats/performance?orchestration=Welcome&since=2026-11-25T21%3A38%3A00.123Z":                    {body: perf},
				"GET /v1/stats/activities?include_system=true&orchestration=Welcome&since=2026-11-25T21%3A38%3A00.123Z": {body: actStats},
			},
			wantJSON: `{"orchestrations":` + orchStats + `,"performance":` + perf + `,"activities":` +
				strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(actStats), `{"activities":`), "}") + `}`,
		},
		{
			name: "stats performance table",
			args: []string{"stats", "--orchestration", "Welcome", "--since", "30m"},
			routes: map[string]reply{
				"GET /v1/stats/orchestrations?orchestration=Welcome":                                 {body: orchStats},
				"GET /v1/stats/performance?orchestration=Welcome&since=2026-11-25T21%3A30%3A00.000Z": {body: perf},
				"GET /v1/stats/activities?orchestration=Welcome&since=2026-11-25T21%3A30%3A00.000Z":  {body: `{"activities":[]}`},
			},
			contains: []string{"ORCHESTRATIONS (Welcome)", "PERFORMANCE", "Min:      -2ms\n", "P99:      301ms\n", "ACTIVITIES\nACTIVITY"},
		},
		{
			name:    "health",
			args:    []string{"health", "--long-running-after", "48h", "--recent-failure-window", "90s"},
			routes:  map[string]reply{"GET /v1/health?long_running_after=48h&recent_failure_window=1m30s": {body: health}},
			wantOut: "Health score:     0\nTotal instances:  9\nRunning:          3\nCompleted:        3\nFailed:           3\nLong-running:     1\nRecent failures:  2\n",
		},
		{
			name:     "health json",
			args:     []string{"health", "--json"},
			routes:   map[string]reply{"GET /v1/health": {body: health}},
			wantJSON: health,
		},
		{
			name:   "problems",
			args:   []string{"problems", "--stuck-after", "15m", "--limit", "5"},
			routes: map[string]reply{"GET /v1/problems?limit=5&stuck_after=15m": {body: problems}},
			contains: []string{
				"LONG-RUNNING (1)\nINSTANCE     ORCHESTRATION     STATUS   CREATED",
				"approval-42  ApprovalWorkflow  Running",
				"POTENTIALLY STUCK (0)\n\nRECENT FAILURES (1)\n",
				"cancel-me  ProcessOrder   Failed  2025-11-25T21:20:00.005Z  2025-11-25T21:20:00.415Z  application/Cancelled: canceled: user requested\n",
				"SLOWER THAN USUAL (running longer than their orchestration's p99) (1)\nINSTANCE     ORCHESTRATION     STATUS",
			},
		},
		{
			name: "slow instances above p99",
			args: []string{"slow", "--orchestration", "Welcome", "--since", "30m", "--limit", "2"},
			routes: map[string]reply{
				"GET /v1/stats/performance?orchestration=Welcome&since=2026-11-25T21%3A30%3A00.000Z": {body: perf},
				"GET /v1/stats/performance/instances?limit=2&min_duration_ms=301&orchestration=Welcome&since=2026-11-25T21%3A30%3A00.000Z": {
					body: `{"instances":[` + strings.TrimSuffix(sumFailed, "}") + `,"duration_ms":410}],"next_page_token":"tok"}`},
			},
			contains: []string{"Welcome INSTANCES AT OR ABOVE 301ms (1 shown)\nINSTANCE   DURATION  STATUS",
				"cancel-me  410ms     Failed", "more: --page-token tok\n"},
		},
		{
			name: "slow activity calls above a set duration json",
			args: []string{"slow", "--activity", "Echo", "--orchestration", "Counter", "--above", "15", "--json"},
			routes: map[string]reply{
				"GET /v1/stats/activities/calls?activity=Echo&min_duration_ms=15&orchestration=Counter": {body: `{"calls":[],"next_page_token":null}`},
			},
			wantJSON: `{"threshold_ms":15,"calls":{"calls":[],"next_page_token":null}}`,
		},
		{
			name: "slow activity calls above p95",
			args: []string{"slow", "--activity", "FetchRemoteFile", "--above", "P95"},
			routes: map[string]reply{
				"GET /v1/stats/activities": {body: actStats},
				"GET /v1/stats/activities/calls?activity=FetchRemoteFile&min_duration_ms=52": {body: `{"calls":[{"instance_id":"i-1","execution_id":2,"correlation_id":5,"activity_name":"FetchRemoteFile","orchestration_name":"ImportBatch","scheduled_at":"2025-11-25T21:20:00.005Z","outcome":"Failed","duration_ms":52}],"next_page_token":null}`},
			},
			contains: []string{"FetchRemoteFile CALLS AT OR ABOVE 52ms (1 shown)\n", "i-1       2          5            52ms      Failed   ImportBatch"},
		},
		{
			name:     "problems json",
			args:     []string{"problems", "--json"},
			routes:   map[string]reply{"GET /v1/problems": {body: problems}},
			wantJSON: problems,
		},
		{
			name:     "queues",
			args:     []string{"queues"},
			routes:   map[string]reply{"GET /v1/queues": {body: queues}},
			contains: []string{"Pending activities:          4\n", "Pending sub-orchestrations:  1\n", "Orchestrator queue depth:    17\n", "Activity queue depth:        5\n"},
		},
		{
			name:    "instances count",
			args:    []string{"instances", "count", "--status", "failed", "--prefix", "ord"},
			routes:  map[string]reply{"GET /v1/instances/count?instance_prefix=ord&status=Failed": {body: `{"count":12}`}},
			wantOut: "12\n",
		},
		{
			name: "instances list further filters",
			args: []string{"instances", "list", "--json", "--version", "2.0", "--custom-status", "phase:", "--error-kind", "ActivityFailed",
				"--error-category", "application", "--root-only", "--updated-after", "2026-11-25", "--activity-tag", "gpu"},
			routes: map[string]reply{"GET /v1/instances?activity_tag=gpu&custom_status_prefix=phase%3A&error_category=application&error_kind=ActivityFailed" +
				"&root_only=true&updated_after=2026-11-25T00%3A00%3A00.000Z&version=2.0": {body: page("", sumApproval)}},
			contains: []string{`"instance_id": "approval-42"`},
		},
		{
			name:     "instances count grouped",
			args:     []string{"instances", "count", "--group-by", "version"},
			routes:   map[string]reply{"GET /v1/instances/count?group_by=version": {body: `{"count":3,"groups":[{"key":"1.0","count":1},{"key":"2.0","count":2}]}`}},
			contains: []string{"VERSION  COUNT\n", "1.0      1\n", "2.0      2\n", "(all)    3\n"},
		},
		{
			name:     "instances count bad group",
			args:     []string{"instances", "count", "--group-by", "kind"},
			wantCode: exitUsage,
			errHas:   []string{"--group-by: want status, orchestration or version"},
		},
		{
			name:     "min-seq before the command",
			args:     []string{"--min-seq", "41", "health", "--json"},
			routes:   map[string]reply{"GET /v1/health?min_seq=41": {body: health}},
			wantJSON: health,
		},
		{
			name:     "min-seq after the command",
			args:     []string{"queues", "--json", "--min-seq", "42"},
			routes:   map[string]reply{"GET /v1/queues?min_seq=42": {body: queues}},
			wantJSON: queues,
		},
		{
			name:     "queues json with global flags after command",
			args:     []string{"queues", "--json"},
			routes:   map[string]reply{"GET /v1/queues": {body: queues}},
			wantJSON: queues,
		},
		{
			name:    "watermark",
			args:    []string{"watermark"},
			routes:  map[string]reply{"GET /v1/watermark": {body: watermark}},
			wantOut: "Stream:             DUROXIDE_HISTORY\nStream last seq:    1234\nLag (events):       7\nProjected through:  2025-11-25T21:20:05.080Z\n",
		},
		{
			name:     "watermark nothing projected",
			args:     []string{"watermark"},
			routes:   map[string]reply{"GET /v1/watermark": {body: `{"stream":"S","stream_last_seq":0,"lag_events":0,"projected_through":null}`}},
			contains: []string{"Projected through:  nothing projected yet\n"},
		},
		{
			name: "report table",
			args: []string{"report", "--bucket", "1h", "--from", "2026-11-25T20:00:00Z", "--to", "2026-11-25T22:00:00Z", "--group-by", "orchestration", "--group-by", "status"},
			routes: map[string]reply{
				"GET /v1/reports/timeseries?bucket=1h&from=2026-11-25T20%3A00%3A00.000Z&group_by=orchestration%2Cstatus&to=2026-11-25T22%3A00%3A00.000Z": {body: report},
			},
			wantOut: "bucket:  1h\n\nBUCKETS\n" +
				"START                     ORCHESTRATION_NAME  STARTED  FAILED\n" +
				"2026-11-25T20:00:00.000Z  Welcome             3        -\n" +
				"2026-11-25T21:00:00.000Z  Welcome             1        2\n",
		},
		{
			name:     "report json",
			args:     []string{"report", "--json", "--from", "2h"},
			routes:   map[string]reply{"GET /v1/reports/timeseries?from=2026-11-25T20%3A00%3A00.000Z": {body: report}},
			wantJSON: report,
		},
		{
			name:     "report on a server without it",
			args:     []string{"report"},
			routes:   map[string]reply{"GET /v1/reports/timeseries": {status: 404, body: "404 page not found\n"}},
			wantCode: 1,
			errHas:   []string{"HTTP 404: 404 page not found", "planned on the server side"},
		},
		{
			name: "export csv to stdout",
			args: []string{"export", "--format", "CSV", "--status", "Running", "--orchestration", "W"},
			routes: map[string]reply{
				"GET /v1/instances?format=csv&orchestration=W&status=Running": {header: map[string]string{"Content-Type": "text/csv"},
					body: "instance_id,status\napproval-42,Running\n"},
			},
			wantOut: "instance_id,status\napproval-42,Running\n",
		},
		{
			name:     "export on a server without it",
			args:     []string{"export"},
			routes:   map[string]reply{"GET /v1/instances?format=ndjson": {status: 400, body: `{"error":{"code":"invalid_argument","message":"unknown parameter \"format\""}}`}},
			wantCode: 1,
			errHas:   []string{`unknown parameter "format"`, "planned on the server side"},
		},
		{
			name:     "lag note",
			args:     []string{"queues"},
			routes:   map[string]reply{"GET /v1/queues": {body: queues, header: map[string]string{"X-Projection-Lag-Events": "5", "X-Projected-Through": "2025-11-25T21:20:05.080Z"}}},
			contains: []string{"Pending activities"},
			errHas:   []string{"5 events behind the stream (projected through 2025-11-25T21:20:05.080Z)"},
		},
		{
			name:     "unauthenticated",
			args:     []string{"queues"},
			routes:   map[string]reply{"GET /v1/queues": {status: 401, body: `{"error":{"code":"unauthenticated","message":"missing bearer token"}}`}},
			wantCode: 1,
			errHas:   []string{"HTTP 401 unauthenticated: missing bearer token (set --token or DUROSCOPE_API_TOKEN)"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeService{t: t, routes: tc.routes}
			srv := httptest.NewServer(f)
			defer srv.Close()
			code, out, errOut := runCLI(t, nil, append([]string{"--url", srv.URL}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out, errOut)
			}
			if tc.wantReqs != nil {
				if !reflect.DeepEqual(f.seen, tc.wantReqs) {
					t.Errorf("requests %q, want %q", f.seen, tc.wantReqs)
				}
			} else {
				// Every route exactly once, in any order.
				want := slices.Sorted(maps.Keys(tc.routes))
				if got := slices.Sorted(slices.Values(f.seen)); !reflect.DeepEqual(got, want) {
					t.Errorf("requests %q, want %q", got, want)
				}
			}
			if tc.wantOut != "" && out != tc.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tc.wantOut)
			}
			for _, s := range tc.contains {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			if tc.wantJSON != "" {
				jsonEq(t, out, tc.wantJSON)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			if tc.wantCode == 0 && strings.Contains(errOut, "duroscope:") {
				t.Errorf("unexpected error output: %s", errOut)
			}
		})
	}
}

func TestExportToFile(t *testing.T) {
	const ndjson = `{"instance_id":"a"}` + "\n" + `{"instance_id":"b"}` + "\n"
	f := &fakeService{t: t, routes: map[string]reply{
		"GET /v1/instances?format=ndjson&instance_prefix=a":  {body: ndjson},
		"GET /v1/instances?format=ndjson&instance_prefix=zz": {status: 503, body: `{"error":{"code":"unavailable","message":"down"}}`},
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "instances.ndjson")
	code, stdout, stderr := runCLI(t, nil, "--url", srv.URL, "export", "--prefix", "a", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != ndjson || stdout != "" || !strings.Contains(stderr, "exported 40 bytes") {
		t.Errorf("file %q stdout %q stderr %q", b, stdout, stderr)
	}
	if f.accept[0] != "application/x-ndjson" {
		t.Errorf("Accept = %q", f.accept[0])
	}
	// A failing export creates no file (the CLI retries the 503 twice).
	failed := filepath.Join(dir, "failed.ndjson")
	code, _, stderr = runCLI(t, nil, "--url", srv.URL, "--timeout", "1s", "export", "--prefix", "zz", "--out", failed)
	if code != 1 || !strings.Contains(stderr, "unavailable: down") {
		t.Errorf("exit %d stderr %q", code, stderr)
	}
	if _, err := os.Stat(failed); !os.IsNotExist(err) {
		t.Errorf("file of a failed export exists: %v", err)
	}
}

func TestEnvironment(t *testing.T) {
	f := &fakeService{t: t, routes: map[string]reply{"GET /v1/queues": {body: queues}}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	env := map[string]string{"DUROSCOPE_URL": srv.URL, "DUROSCOPE_API_TOKEN": "from-env"}
	if code, _, stderr := runCLI(t, env, "queues"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// Flags win over the environment, also after the command name.
	if code, _, stderr := runCLI(t, env, "queues", "--token", "from-flag"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, map[string]string{"DUROSCOPE_URL": "http://127.0.0.1:1"}, "--url", srv.URL, "queues"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{"Bearer from-env", "Bearer from-flag", ""}
	if !reflect.DeepEqual(f.auth, want) {
		t.Errorf("Authorization headers %q, want %q", f.auth, want)
	}
	// The token never shows in help output.
	_, _, stderr := runCLI(t, env, "-h")
	if strings.Contains(stderr, "from-env") {
		t.Error("help output shows the token")
	}
}

// TestRun goes through run itself (real environment, signal handling).
func TestRun(t *testing.T) {
	f := &fakeService{t: t, routes: map[string]reply{"GET /v1/watermark": {body: watermark}}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("DUROSCOPE_URL", srv.URL)
	var out, errb bytes.Buffer
	if code := run([]string{"watermark", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	jsonEq(t, out.String(), watermark)
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args     []string
		wantCode int
		errHas   string
	}{
		{nil, 2, "usage: duroscope"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"instances"}, 2, "missing subcommand"},
		{[]string{"instances", "delete"}, 2, `unknown subcommand "delete"`},
		{[]string{"instances", "show"}, 2, "missing instance id"},
		{[]string{"instances", "show", "a", "b"}, 2, "want one instance id"},
		{[]string{"instances", "history", "a", "--execution", "x"}, 2, `invalid value "x" for flag -execution`},
		{[]string{"instances", "status"}, 2, "missing instance ids"},
		{[]string{"instances", "list", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"instances", "list", "--created-after", "yesterday"}, 2, "want RFC 3339"},
		{[]string{"instances", "list", "--status", "Running,"}, 2, "empty element"},
		{[]string{"stats", "--since", "-5h"}, 2, "want RFC 3339"},
		{[]string{"health", "--long-running-after", "0s"}, 2, "positive Go duration"},
		{[]string{"problems", "--stuck-after", "1 hour"}, 2, "positive Go duration"},
		{[]string{"report", "--from", "2026-11-26", "--to", "2026-11-25"}, 2, "--from must be before --to"},
		{[]string{"export", "--format", "xml"}, 2, `--format "xml"`},
		{[]string{"--timeout", "soon", "queues"}, 2, "non-negative Go duration"},
		{[]string{"--url", "localhost:8080", "queues"}, 2, "--url"},
		{[]string{"queues", "now"}, 2, `unexpected argument "now"`},
		{[]string{"slow"}, 2, "give --orchestration or --activity"},
		{[]string{"slow", "--orchestration", "X", "--above", "p90"}, 2, "want p50, p95, p99"},
		{[]string{"slow", "--orchestration", "X", "--include-system"}, 2, "--activity only"},
		{[]string{"-h"}, 0, "commands:"},
		{[]string{"help"}, 0, ""},
		{[]string{"stats", "-h"}, 0, "usage: duroscope stats"},
		{[]string{"--url", "http://127.0.0.1:1", "queues"}, 1, "is the query service running at http://127.0.0.1:1?"},
	}
	// A bad DUROSCOPE_URL is named as the variable; --url wins over it.
	if code, _, stderr := runCLI(t, map[string]string{"DUROSCOPE_URL": "127.0.0.1:8080"}, "queues"); code != 2 ||
		!strings.Contains(stderr, "DUROSCOPE_URL: want a URL http|https://host[:port]") {
		t.Errorf("bad DUROSCOPE_URL: exit %d, stderr %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, map[string]string{"DUROSCOPE_URL": "nope"}, "--url", "ftp://h", "queues"); code != 2 || !strings.Contains(stderr, "--url:") {
		t.Errorf("bad --url over a bad DUROSCOPE_URL: exit %d, stderr %s", code, stderr)
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, stderr := runCLI(t, nil, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr)
			}
			if !strings.Contains(stderr, tc.errHas) {
				t.Errorf("stderr lacks %q:\n%s", tc.errHas, stderr)
			}
			if out != "" {
				t.Errorf("stdout not empty: %q", out)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
	}{
		{"2026-11-25T21:38:00.123Z", time.Date(2026, 11, 25, 21, 38, 0, 123e6, time.UTC)},
		{"2026-11-25T23:38:00+02:00", time.Date(2026, 11, 25, 21, 38, 0, 0, time.UTC)},
		{"2026-11-25", time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)},
		{"1764105600005", time.UnixMilli(1764105600005)},
		{"90m", testNow.Add(-90 * time.Minute)},
	}
	for _, tc := range cases {
		got, err := parseTime(tc.in, testNow)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "now", "-1h", "0s", "2026-13-01", "25/11/2026"} {
		if _, err := parseTime(bad, testNow); err == nil {
			t.Errorf("parseTime(%q) accepted", bad)
		}
	}
}

func TestPrintAnyTable(t *testing.T) {
	cases := []struct{ in, want string }{
		{`[{"a":1,"b":"x"},{"b":"y","c":null,"a":{"n":[1,true]}}]`,
			"A               B  C\n1               x  -\n{\"n\":[1,true]}  y  -\n"},
		{`{"total":3,"tags":["a","b"]}`, "total:  3\ntags:   [\"a\",\"b\"]\n"},
		{`[1,2]`, "[\n  1,\n  2\n]\n"},
		{`"text"`, "\"text\"\n"},
		{`{"rows":[{"k":"a\tb"}]}`, "ROWS\nK\na\\tb\n"},
	}
	for _, tc := range cases {
		var b bytes.Buffer
		if err := printAnyTable(&b, []byte(tc.in)); err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if b.String() != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.in, b.String(), tc.want)
		}
	}
	if err := printAnyTable(io.Discard, []byte(`{"a":1} x`)); err == nil {
		t.Error("trailing data accepted")
	}
}
