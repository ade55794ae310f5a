package reliability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/readmodel/chconn"
)

// weirdIDs are instance ids that stress encoding: unicode, path syntax,
// percent signs, SQL, control characters, and the 1024-byte maximum.
var weirdIDs = []string{
	"日本語/インスタンス", "a/..", ".", "..", "%2F", "x y%z", "order-1::sub::2", "' OR '1'='1",
	"emoji-🚀-ok", "tab\tnew\nline", `quote"back\slash`, "nul\x00byte", "a?b#c&d=e", "+plus+",
	strings.Repeat("é", 512), // 1024 bytes
}

// weirdEvents are a Started and a Completed event for each weird id.
func weirdEvents(t testing.TB) []events.Event {
	t.Helper()
	var out []events.Event
	for i, id := range weirdIDs {
		q, _ := json.Marshal(id)
		ts := uint64(workloadStartMs + 1000*i)
		for _, raw := range []string{
			fmt.Sprintf(`{"event_id":1,"source_event_id":null,"instance_id":%s,"execution_id":1,"timestamp_ms":%d,"duroxide_version":"0.1.26","type":"OrchestrationStarted","name":"Weird","version":"1.0.0","input":"{}","parent_instance":null,"parent_id":null}`, q, ts),
			fmt.Sprintf(`{"event_id":2,"source_event_id":null,"instance_id":%s,"execution_id":1,"timestamp_ms":%d,"duroxide_version":"0.1.26","type":"OrchestrationCompleted","output":"done %d"}`, q, ts+5, i),
		} {
			e, err := events.Decode([]byte(raw))
			if err != nil {
				t.Fatalf("weird event for %q: %v", id, err)
			}
			out = append(out, e)
		}
	}
	return out
}

// sqlInjections go into every string parameter, path segment and body id.
var sqlInjections = []string{
	`' OR 1=1 --`, `' OR '1'='1`, `'; DROP TABLE instances; --`, `") OR ("1"="1`, `\' OR 1=1 #`,
	`1; SELECT * FROM system.users`, `' UNION ALL SELECT name, name FROM system.tables --`, `%27%20OR%201%3D1`,
	`{db}.instances`, "x' AND sleep(3) --", `\`, `'`, `"`, "`", "' OR ''='",
}

// TestHostileInputRealStack sends hostile input to cmd/query over real
// ClickHouse: SQL injection in every string parameter, path and body;
// 10,000-character ids; unicode and percent-encoded ids; negative and huge
// limits; inverted ranges; malformed, oversized and too-long bodies. Every
// answer is a contract answer (200/400/404/413, never 500), every error
// names what is wrong, and every 200 is exactly the oracle's (filtered, not
// everything).
func TestHostileInputRealStack(t *testing.T) {
	evs := append(workload(41, 300), weirdEvents(t)...)
	db := testenv.NewDatabase(t, "relhostile")
	writeReadModel(t, chconn.ConnConfig{Addrs: []string{db.Addr}, Database: db.Name, User: "default"}, db.Name, evs)
	o := oracle.New(evs)
	n := testenv.StartNATS(t)
	q := startQuery(t, n.URL, db.Addr, db.Name)
	waitReady(t, q.URL, 30*time.Second)
	h := &hostile{t: t, base: q.URL, o: o, counts: map[int]int{}}

	// Weird ids round-trip through the path, percent-encoded.
	for _, id := range weirdIDs {
		s, _ := o.Instance(id)
		h.expectJSON("GET", "/v1/instances/"+url.PathEscape(id), nil, 200, s)
		d, _ := o.Details(id)
		h.expectJSON("GET", "/v1/instances/"+url.PathEscape(id)+"/details", nil, 200, d)
		hist, _ := o.History(id, nil)
		h.expectJSON("GET", "/v1/instances/"+url.PathEscape(id)+"/history", nil, 200, hist)
	}
	// Raw ':' works too; '/' must be %2F (a raw one is another path).
	h.expectJSON("GET", "/v1/instances/order-1::sub::2", nil, 200, must(o.Instance("order-1::sub::2")))
	h.expectError("GET", "/v1/instances/a/../details", nil, 404, "")

	// SQL injection everywhere a string goes.
	names := orchestrationNames(o.ListInstances(oracle.ListFilter{}))
	for _, inj := range sqlInjections {
		e := url.QueryEscape(inj)
		h.expectJSON("GET", "/v1/instances?orchestration="+e, nil, 200, listOf(o.ListInstances(oracle.ListFilter{Orchestration: ptr(inj)})))
		h.expectJSON("GET", "/v1/instances?parent_instance="+e, nil, 200, listOf(o.ListInstances(oracle.ListFilter{ParentInstance: ptr(inj)})))
		h.expectJSON("GET", "/v1/instances?instance_prefix="+e, nil, 200, listOf(o.ListInstances(oracle.ListFilter{InstancePrefix: ptr(inj)})))
		h.expectJSON("GET", "/v1/instances?status=Running&orchestration="+e, nil, 200,
			listOf(o.ListInstances(oracle.ListFilter{Statuses: []string{"Running"}, Orchestration: ptr(inj)})))
		h.expectJSON("GET", "/v1/stats/orchestrations?orchestration="+e, nil, 200, o.OrchestrationStats(ptr(inj)))
		h.expectJSON("GET", "/v1/stats/activities?orchestration="+e, nil, 200, o.ActivityStats(ptr(inj), nil, false))
		h.expectJSON("GET", "/v1/stats/performance?orchestration="+e, nil, 200, o.Performance(inj, nil))
		for _, p := range []string{"page_token", "created_after", "created_before", "limit", "offset"} {
			h.expectError("GET", "/v1/instances?"+p+"="+e, nil, 400, p)
		}
		h.expectError("GET", "/v1/instances?status="+e, nil, 400, "status")
		h.expectError("GET", "/v1/stats/activities?since="+e, nil, 400, "since")
		h.expectError("GET", "/v1/stats/activities?include_system="+e, nil, 400, "include_system")
		h.expectError("GET", "/v1/stats/performance?orchestration=X&since="+e, nil, 400, "since")
		for _, p := range []string{"long_running_after", "recent_failure_window"} {
			h.expectError("GET", "/v1/health?"+p+"="+e, nil, 400, p)
		}
		for _, p := range []string{"long_running_after", "stuck_after", "recent_failure_window", "limit"} {
			h.expectError("GET", "/v1/problems?"+p+"="+e, nil, 400, p)
		}
		h.expectError("GET", "/v1/instances/x/history?execution_id="+e, nil, 400, "execution_id")
		h.expectError("GET", "/v1/queues?"+e+"=1", nil, 400, "")
		// The id in the path: 404 unless it happens to be a stored id.
		for _, sub := range []string{"", "/details", "/executions", "/history"} {
			if s, ok := o.Instance(inj); ok && sub == "" {
				h.expectJSON("GET", "/v1/instances/"+url.PathEscape(inj), nil, 200, s)
				continue
			}
			if _, ok := o.Instance(inj); !ok {
				h.expectError("GET", "/v1/instances/"+url.PathEscape(inj)+sub, nil, 404, "")
			}
		}
		ids := []string{inj, inj + inj, weirdIDs[0]}
		body, _ := json.Marshal(api.BulkStatusRequest{InstanceIDs: ids})
		h.expectJSON("POST", "/v1/bulk/status", body, 200, o.BulkStatus(ids))
	}
	for _, n := range names {
		// Real names still filter (the injections did not break anything).
		h.expectJSON("GET", "/v1/stats/orchestrations?orchestration="+url.QueryEscape(n), nil, 200, o.OrchestrationStats(ptr(n)))
	}

	// 10,000-character values.
	long := strings.Repeat("x", 10_000)
	h.expectError("GET", "/v1/instances/"+long, nil, 400, "instance id")
	h.expectError("GET", "/v1/instances/"+long+"/history", nil, 400, "instance id")
	h.expectError("GET", "/v1/instances/"+strings.Repeat("%41", 10_000), nil, 400, "instance id")
	for _, p := range []string{"orchestration", "parent_instance", "instance_prefix"} {
		h.expectError("GET", "/v1/instances?"+p+"="+long, nil, 400, p)
	}
	h.expectError("GET", "/v1/stats/orchestrations?orchestration="+long, nil, 400, "orchestration")
	body, _ := json.Marshal(api.BulkStatusRequest{InstanceIDs: []string{"a", long}})
	h.expectError("POST", "/v1/bulk/status", body, 400, "instance_ids[1]")

	// Invalid encodings.
	for _, p := range []string{"%FF", "%C3%28", "%ED%A0%80", "%zz", "%"} {
		if p == "%zz" || p == "%" {
			// Not a valid request target: net/http's server answers 400
			// (plain text) before any handler runs.
			if code, _, b := h.do("GET", "/v1/instances/"+p, nil); code != 400 {
				t.Errorf("GET /v1/instances/%s: %d %.100s; want 400", p, code, b)
			}
		} else {
			h.expectError("GET", "/v1/instances/"+p, nil, 400, "instance id")
		}
		h.expectError("GET", "/v1/instances?orchestration="+p, nil, 400, "")
	}
	h.expectError("POST", "/v1/bulk/status", []byte("{\"instance_ids\":[\"\xff\"]}"), 400, "UTF-8")

	// Limits and ranges.
	for _, v := range []string{"-1", "0", "1001", "99999999999999999999", "18446744073709551616", "1e3", "1.5", "+5", " 5", "0x10"} {
		h.expectError("GET", "/v1/instances?limit="+url.QueryEscape(v), nil, 400, "limit")
		h.expectError("GET", "/v1/problems?limit="+url.QueryEscape(v), nil, 400, "limit")
	}
	for _, v := range []string{"-1", "100001", "99999999999999999999"} {
		h.expectError("GET", "/v1/instances?offset="+v, nil, 400, "offset")
	}
	h.expectJSON("GET", "/v1/instances?limit=1000&offset=100000", nil, 200, listOf(nil))
	for _, r := range []string{
		"created_after=2025-11-26T00:00:00Z&created_before=2025-11-25T00:00:00Z",
		"created_after=1764105600000&created_before=1764105600000",
		"created_after=1764105600001&created_before=1764105600000",
	} {
		h.expectError("GET", "/v1/instances?"+r, nil, 400, "created_after")
	}
	for _, v := range []string{"-1h", "1d", "9999999999h", "60"} {
		h.expectError("GET", "/v1/health?long_running_after="+url.QueryEscape(v), nil, 400, "long_running_after")
	}

	// Bodies.
	for _, b := range []string{"", "{", "[]", "null", `{"instance_ids":"a"}`, `{"instance_ids":[1]}`, `{"instance_ids":[]}`,
		`{"instance_ids":["a"],"x":1}`, `{"instance_ids":["a"]}{}`, strings.Repeat("[", 100_000), `{"instance_ids":[null]}`} {
		h.expectError("POST", "/v1/bulk/status", []byte(b), 400, "")
	}
	ids := make([]string, 10_001)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	body, _ = json.Marshal(api.BulkStatusRequest{InstanceIDs: ids})
	h.expectError("POST", "/v1/bulk/status", body, 400, "10000")
	body, _ = json.Marshal(api.BulkStatusRequest{InstanceIDs: ids[:10_000]})
	h.expectJSON("POST", "/v1/bulk/status", body, 200, o.BulkStatus(ids[:10_000]))
	huge := []byte(`{"instance_ids":["` + strings.Repeat("y", 1<<20) + `"]}`)
	h.expectError("POST", "/v1/bulk/status", huge, 413, "1 MiB")
	h.chunked(huge)

	// Nothing was dropped or altered by the injections.
	if got := countRows(t, db, "SELECT count() FROM {db}.instances FINAL"); got != uint64(len(o.ListInstances(oracle.ListFilter{}))) {
		t.Errorf("instances table holds %d rows after the hostile requests, want %d", got, len(o.ListInstances(oracle.ListFilter{})))
	}
	if h.counts[500] > 0 {
		t.Errorf("%d answers were 500", h.counts[500])
	}
	summaryLine(t, "hostile-api-real-stack", "requests", h.requests, "by_status", fmtStatus(h.counts),
		"answers_checked_against_oracle", h.oracleChecked, "status_500", h.counts[500])
}

func must[T any](v T, _ bool) T { return v }

func listOf(s []api.InstanceSummary) api.InstanceList {
	if s == nil {
		s = []api.InstanceSummary{}
	}
	if len(s) > 100 {
		tok := "opaque"
		return api.InstanceList{Instances: s[:100], NextPageToken: &tok}
	}
	return api.InstanceList{Instances: s}
}

func fmtStatus(m map[int]int) string {
	s := map[string]int{}
	for k, v := range m {
		s[fmt.Sprint(k)] = v
	}
	return fmtCounts(s)
}

// hostile sends requests and checks their answers.
type hostile struct {
	t             *testing.T
	base          string
	o             *oracle.Oracle
	requests      int
	oracleChecked int
	counts        map[int]int
}

func (h *hostile) do(method, path string, body []byte) (int, http.Header, []byte) {
	h.t.Helper()
	var resp *http.Response
	req, err := http.NewRequest(method, h.base+path, bytes.NewReader(body))
	if err != nil {
		// Go's client refuses to send a malformed escape (%zz); a raw
		// request line does.
		resp, err = rawRequest(strings.TrimPrefix(h.base, "http://"), method, path)
	} else {
		resp, err = httpClient.Do(req)
	}
	if err != nil {
		h.t.Fatalf("%s %.80s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h.requests++
	h.counts[resp.StatusCode]++
	return resp.StatusCode, resp.Header, b
}

// expectJSON wants status and an answer equal to want (the next page
// token, opaque, only as present or absent).
func (h *hostile) expectJSON(method, path string, body []byte, status int, want any) {
	h.t.Helper()
	code, _, b := h.do(method, path, body)
	if code != status {
		h.t.Errorf("%s %.100s: %d %.200s; want %d", method, path, code, b, status)
		return
	}
	got, err := canonical(b)
	if err != nil {
		h.t.Errorf("%s %.100s: %v", method, path, err)
		return
	}
	w := toCanonical(want)
	if m, ok := got.(map[string]any); ok {
		if tok, ok := m["next_page_token"].(string); ok && tok != "" {
			m["next_page_token"] = "opaque"
		}
	}
	h.oracleChecked++
	if !reflect.DeepEqual(got, w) {
		h.t.Errorf("%s %.100s differs from the oracle: %s", method, path, firstDiff("$", got, w))
	}
}

// expectError wants status with the contract's error body whose message
// contains has (and never a 500).
func (h *hostile) expectError(method, path string, body []byte, status int, has string) {
	h.t.Helper()
	code, hdr, b := h.do(method, path, body)
	if code != status {
		h.t.Errorf("%s %.100s: %d %.200s; want %d", method, path, code, b, status)
		return
	}
	var e api.ErrorBody
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		h.t.Errorf("%s %.100s: error body %.200s", method, path, b)
		return
	}
	if !strings.Contains(e.Error.Message, has) {
		h.t.Errorf("%s %.100s: message %q does not name %q", method, path, e.Error.Message, has)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		h.t.Errorf("%s %.100s: Content-Type %q", method, path, ct)
	}
}

// chunked sends an oversized body without Content-Length.
func (h *hostile) chunked(body []byte) {
	h.t.Helper()
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(body)
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", h.base+"/v1/bulk/status", pr)
	resp, err := httpClient.Do(req)
	if err != nil {
		h.t.Fatalf("chunked oversized body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h.requests++
	h.counts[resp.StatusCode]++
	if resp.StatusCode != 413 || !strings.Contains(string(b), "1 MiB") {
		h.t.Errorf("chunked oversized body: %d %.200s; want 413 naming 1 MiB", resp.StatusCode, b)
	}
}

// rawRequest writes the request line by hand, so that no client library
// checks or rewrites the path.
func rawRequest(addr, method, path string) (*http.Response, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", method, path); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	// Reading to EOF then closing the body is enough: the server closes
	// the connection (Connection: close).
	resp.Body = struct {
		io.Reader
		io.Closer
	}{resp.Body, c}
	return resp, nil
}
