package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/api"
)

// TestInstanceRoutesNeverCleanOrRedirect sends ids that ServeMux would
// clean or redirect ("a/..", ".", "..") and checks the backend receives them
// decoded exactly once, through every instance route.
func TestInstanceRoutesNeverCleanOrRedirect(t *testing.T) {
	m := newMem()
	ids := map[string]string{ // escaped path segment → id
		"a%2F..":                  "a/..",
		"%2E":                     ".",
		".":                       ".",
		"..":                      "..",
		"%2E%2E":                  "..",
		"a%2F%2Fb":                "a//b",
		"%2F":                     "/",
		"order-1%3A%3Asub%3A%3A2": "order-1::sub::2",
		"order-1::sub::2":         "order-1::sub::2",
		"x%20y%25z":               "x y%z",
		"%252F":                   "%2F",
		"%E6%97%A5%E6%9C%AC":      "日本",
		"%27%3B%20DROP%20TABLE":   "'; DROP TABLE",
		"a%3Fb%23c":               "a?b#c",
		"-weird":                  "-weird",
	}
	for _, id := range ids {
		m.add(id)
		m.history[id] = []json.RawMessage{json.RawMessage(`{"event_id":1}`)}
	}
	h := testHandler(m, nil)
	for seg, id := range ids {
		for _, sub := range []string{"", "/details", "/executions", "/history"} {
			target := "/v1/instances/" + seg + sub
			rec := do(h, "GET", target, nil)
			if rec.Code != 200 {
				t.Errorf("GET %s = %d %s", target, rec.Code, rec.Body)
				continue
			}
			if m.lastID != id {
				t.Errorf("GET %s reached the backend with id %q, want %q", target, m.lastID, id)
			}
		}
	}
	// Over a real connection too (no client- or server-side cleaning).
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, seg := range []string{"a%2F..", ".", "..", "%2E"} {
		body, code := rawGet(t, srv.Listener.Addr().String(), "/v1/instances/"+seg+"/details")
		if code != 200 || !strings.Contains(body, `"instance_id":`) {
			t.Errorf("raw GET /v1/instances/%s/details = %d %s", seg, code, body)
		}
	}
}

// rawGet writes a request line by hand, so that no client library touches
// the path.
func rawGet(t *testing.T, addr, path string) (string, int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path)
	b, _ := io.ReadAll(c)
	var code int
	fmt.Sscanf(string(b), "HTTP/1.1 %d", &code)
	parts := strings.SplitN(string(b), "\r\n\r\n", 2)
	if len(parts) < 2 {
		return "", code
	}
	return parts[1], code
}

func TestRouting(t *testing.T) {
	m := newMem()
	m.add("a")
	h := testHandler(m, nil)
	for _, c := range []struct {
		method, target string
		status         int
		code           string
	}{
		{"GET", "/v1/instances/a", 200, ""},
		{"HEAD", "/v1/instances/a", 200, ""},
		{"GET", "/v1/instances/nope", 404, "not_found"},
		{"GET", "/v1/instances/nope/details", 404, "not_found"},
		{"GET", "/v1/instances/nope/executions", 404, "not_found"},
		{"GET", "/v1/instances/nope/history", 404, "not_found"},
		{"GET", "/v1/instances/nope/tree", 404, "not_found"},
		{"GET", "/v1/instances/a/tree?x=1", 400, "invalid_argument"},
		{"GET", "/v1/instances/a/history?execution_id=2", 404, "not_found"},
		{"GET", "/v1/instances/", 404, "not_found"},
		{"GET", "/v1/instances//details", 404, "not_found"},
		{"GET", "/v1/instances/a/b", 404, "not_found"},
		{"GET", "/v1/instances/a/", 404, "not_found"},
		{"GET", "/v1/instances/" + strings.Repeat("x", 10000), 400, "invalid_argument"},
		{"GET", "/v1/instances/%FF%FE", 400, "invalid_argument"},
		{"GET", "/v1/instances/a?limit=1", 400, "invalid_argument"},
		{"GET", "/v1/instances/a/details?x=", 400, "invalid_argument"},
		{"POST", "/v1/instances/a", 405, "invalid_argument"},
		{"DELETE", "/v1/instances/a/details", 405, "invalid_argument"},
		{"GET", "/v1/instances", 200, ""},
		{"GET", "/v1/instances?", 200, ""},
		{"POST", "/v1/instances", 405, "invalid_argument"},
		{"GET", "/v1/bulk/status", 405, "invalid_argument"},
		{"POST", "/v1/health", 405, "invalid_argument"},
		{"GET", "/v1/health", 200, ""},
		{"GET", "/v1/problems", 200, ""},
		{"GET", "/v1/queues", 200, ""},
		{"GET", "/v1/queues?x=1", 400, "invalid_argument"},
		{"GET", "/v1/stats/orchestrations", 200, ""},
		{"GET", "/v1/stats/activities", 200, ""},
		{"GET", "/v1/stats/performance", 400, "invalid_argument"},
		{"GET", "/v1/stats/performance?orchestration=X", 200, ""},
		{"GET", "/v1/stats/performance/instances", 400, "invalid_argument"},
		{"GET", "/v1/stats/performance/instances?orchestration=X&min_duration_ms=10", 200, ""},
		{"GET", "/v1/stats/activities/calls?orchestration=X", 400, "invalid_argument"},
		{"GET", "/v1/stats/activities/calls?activity=A", 200, ""},
		{"GET", "/v1/watermark", 503, "unavailable"}, // no source configured
		{"GET", "/v1", 404, "not_found"},
		{"GET", "/v1/", 404, "not_found"},
		{"GET", "/v1/nope", 404, "not_found"},
		{"GET", "/nope", 404, "not_found"},
		{"GET", "/", 404, "not_found"},
		// Unclean paths are not redirected (ServeMux would answer 301).
		{"GET", "/v1//health", 404, "not_found"},
		{"GET", "/v1/./health", 404, "not_found"},
		{"GET", "/v1/stats/../health", 404, "not_found"},
		{"GET", "/v1/health/", 404, "not_found"},
		{"GET", "//v1/health", 404, "not_found"},
		{"GET", "/healthz", 200, ""},
		{"GET", "/readyz", 200, ""},
	} {
		rec := do(h, c.method, c.target, nil)
		if rec.Code != c.status {
			t.Errorf("%s %.60s = %d %s; want %d", c.method, c.target, rec.Code, rec.Body, c.status)
			continue
		}
		if c.code != "" {
			if e := errorOf(t, rec); e.Code != c.code {
				t.Errorf("%s %.60s: code %q, want %q", c.method, c.target, e.Code, c.code)
			}
		}
		if rec.Code == 405 && rec.Header().Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", c.method, c.target)
		}
		if rec.Code >= 300 && rec.Code < 400 {
			t.Errorf("%s %s redirected", c.method, c.target)
		}
	}
}

func TestAnswersAreContractJSON(t *testing.T) {
	m := newMem()
	m.add("a")
	m.history["a"] = []json.RawMessage{
		json.RawMessage(`{"event_id":1,  "name":"<b>&amp;</b>", "x":1.50}`),
		json.RawMessage(`{"event_id":2}`),
	}
	h := testHandler(m, nil)
	rec := do(h, "GET", "/v1/instances/a/history", nil)
	want := `{"events":[{"event_id":1,  "name":"<b>&amp;</b>", "x":1.50},{"event_id":2}]}` + "\n"
	if rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("history = %d %q; want the events verbatim %q", rec.Code, rec.Body.String(), want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	rec = do(h, "GET", "/v1/instances/a/details", nil)
	var d map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	s := d["summary"].(map[string]any)
	if s["created_at"] != "1970-01-01T00:00:01.000Z" || d["current_execution"] != nil || d["executions"] == nil {
		t.Errorf("details = %s", rec.Body)
	}
	for _, target := range []string{"/v1/instances", "/v1/stats/activities", "/v1/problems"} {
		rec = do(h, "GET", target, nil)
		if strings.Contains(rec.Body.String(), "null") && !strings.Contains(rec.Body.String(), `"next_page_token":null`) {
			t.Errorf("%s has a null list: %s", target, rec.Body)
		}
	}
}

func TestBulkStatusBody(t *testing.T) {
	m := newMem()
	m.add("a")
	m.add("b/..")
	h := testHandler(m, nil)
	ids := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"instance_ids":[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"id-%d"`, i)
		}
		b.WriteString(`]}`)
		return b.String()
	}
	big := `{"instance_ids":["` + strings.Repeat("x", 1<<20) + `"]}`
	for _, c := range []struct {
		name, body string
		status     int
		msgHas     string
	}{
		{"ok", `{"instance_ids":["a","nope","b/..","a"]}`, 200, ""},
		{"ok spaces", " \n{ \"instance_ids\" : [ \"a\" ] }\n ", 200, ""},
		{"10000 ids", ids(10000), 200, ""},
		{"10001 ids", ids(10001), 400, "instance_ids: want 1 to 10000 ids, got 10001"},
		{"empty list", `{"instance_ids":[]}`, 400, "instance_ids"},
		{"null list", `{"instance_ids":null}`, 400, "instance_ids"},
		{"missing", `{}`, 400, "instance_ids: required"},
		{"unknown field", `{"instance_ids":["a"],"extra":1}`, 400, "unknown field"},
		{"case variant", `{"Instance_IDs":["a"]}`, 400, "unknown field"},
		{"not an object", `["a"]`, 400, "body"},
		{"null body", `null`, 400, "body"},
		{"empty body", ``, 400, "body"},
		{"malformed", `{"instance_ids":["a"`, 400, "body"},
		{"trailing", `{"instance_ids":["a"]} {}`, 400, "body"},
		{"trailing garbage", `{"instance_ids":["a"]}x`, 400, "body"},
		{"number id", `{"instance_ids":[1]}`, 400, "instance_ids[0]"},
		{"null id", `{"instance_ids":["a",null]}`, 400, "instance_ids[1]"},
		{"empty id", `{"instance_ids":[""]}`, 400, "instance_ids[0]"},
		{"long id", `{"instance_ids":["` + strings.Repeat("y", 1025) + `"]}`, 400, "instance_ids[0]"},
		{"not utf8", "{\"instance_ids\":[\"\xff\"]}", 400, "UTF-8"},
		{"sql", `{"instance_ids":["' OR 1=1 --"]}`, 200, ""},
		{"too large", big, 413, "1 MiB"},
	} {
		rec := do(h, "POST", "/v1/bulk/status", strings.NewReader(c.body))
		if rec.Code != c.status {
			t.Errorf("%s: %d %.200s; want %d", c.name, rec.Code, rec.Body, c.status)
			continue
		}
		if c.status != 200 {
			e := errorOf(t, rec)
			if !strings.Contains(e.Message, c.msgHas) {
				t.Errorf("%s: message %q lacks %q", c.name, e.Message, c.msgHas)
			}
		}
	}
	rec := do(h, "POST", "/v1/bulk/status", strings.NewReader(`{"instance_ids":["a","nope","b/..","a"]}`))
	var res api.BulkStatusResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &res)
	want := []api.InstanceStatus{{InstanceID: "a", Status: "Running"}, {InstanceID: "nope", Status: "NotFound"},
		{InstanceID: "b/..", Status: "Running"}, {InstanceID: "a", Status: "Running"}}
	if fmt.Sprint(res.Statuses) != fmt.Sprint(want) {
		t.Errorf("statuses = %v, want %v", res.Statuses, want)
	}

	// Oversized without Content-Length (chunked): the reader limit trips.
	srv := httptest.NewServer(h)
	defer srv.Close()
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(big))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", srv.URL+"/v1/bulk/status", pr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 || req.ContentLength != 0 {
		t.Errorf("chunked oversized body: %d (content length %d); want 413", resp.StatusCode, req.ContentLength)
	}
	// With a Content-Length above the limit: refused before reading.
	req, _ = http.NewRequest("POST", srv.URL+"/v1/bulk/status", bytes.NewReader([]byte(big)))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("oversized body: %d; want 413", resp.StatusCode)
	}
}

// TestBackendErrorClasses: a read model unavailable answers 503 with
// Retry-After; any other read error is a defect, 500; both are logged with
// their cause, which never reaches the answer.
func TestBackendErrorClasses(t *testing.T) {
	m := newMem()
	m.add("a")
	m.err = errBackend
	var logs bytes.Buffer
	var mu sync.Mutex
	h := testHandler(m, func(c *Config) {
		c.Logger = zerolog.New(&lockedWriter{w: &logs, mu: &mu})
		c.Limits.RetryAfter = 3 * time.Second
	})
	for _, target := range []string{"/v1/instances/a", "/v1/instances/a/details", "/v1/instances/a/executions",
		"/v1/instances/a/history", "/v1/instances", "/v1/stats/orchestrations", "/v1/stats/activities",
		"/v1/stats/performance?orchestration=x", "/v1/stats/performance/instances?orchestration=x",
		"/v1/stats/activities/calls?activity=a", "/v1/health", "/v1/problems", "/v1/queues"} {
		rec := do(h, "GET", target, nil)
		if rec.Code != 503 || rec.Header().Get("Retry-After") != "3" {
			t.Errorf("%s with ClickHouse down: %d, Retry-After %q", target, rec.Code, rec.Header().Get("Retry-After"))
			continue
		}
		if e := errorOf(t, rec); e.Code != "unavailable" || strings.Contains(e.Message, "9000") {
			t.Errorf("%s: %+v (the cause belongs in the log, not the answer)", target, e)
		}
	}
	rec := do(h, "POST", "/v1/bulk/status", strings.NewReader(`{"instance_ids":["a"]}`))
	if rec.Code != 503 {
		t.Errorf("bulk with ClickHouse down: %d", rec.Code)
	}
	mu.Lock()
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("backend error not logged: %s", logs.String())
	}
	mu.Unlock()

	m.err = errDefect
	for _, target := range []string{"/v1/instances/a", "/v1/instances/a/history", "/v1/instances", "/v1/stats/activities",
		"/v1/health", "/v1/problems", "/v1/queues"} {
		rec := do(h, "GET", target, nil)
		if rec.Code != 500 || rec.Header().Get("Retry-After") != "" {
			t.Errorf("%s with a SQL defect: %d, Retry-After %q; want 500 without", target, rec.Code, rec.Header().Get("Retry-After"))
			continue
		}
		if e := errorOf(t, rec); e.Code != "internal" || strings.Contains(e.Message, "Missing columns") {
			t.Errorf("%s: %+v (the cause belongs in the log, not the answer)", target, e)
		}
	}
	mu.Lock()
	if !strings.Contains(logs.String(), "Missing columns") {
		t.Errorf("defect not logged: %s", logs.String())
	}
	mu.Unlock()

	m.err = nil
	m.panicMsg = "boom"
	rec = do(h, "GET", "/v1/instances/a", nil)
	if rec.Code != 500 || errorOf(t, rec).Code != "internal" {
		t.Errorf("panic: %d %s", rec.Code, rec.Body)
	}
	mu.Lock()
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), "handler panicked") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	mu.Unlock()

	m.panicMsg = ""
	m.pingError = errBackend
	rec = do(h, "GET", "/readyz", nil)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("readyz with ClickHouse down: %d", rec.Code)
	}
	if rec = do(h, "GET", "/healthz", nil); rec.Code != 200 {
		t.Errorf("healthz: %d", rec.Code)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestAuth(t *testing.T) {
	m := newMem()
	m.add("a")
	h := testHandler(m, func(c *Config) {
		c.APIToken = "s3cret"
		c.Watermark = &fixedWatermark{wm: api.Watermark{LagEvents: 4, ProjectedThrough: ptrTime(1000)}}
	})
	for _, c := range []struct {
		target, auth string
		status       int
	}{
		{"/v1/instances/a", "", 401},
		{"/v1/instances/a", "Bearer wrong", 401},
		{"/v1/instances/a", "Bearer s3cret2", 401},
		{"/v1/instances/a", "Bearer s3cre", 401},
		{"/v1/instances/a", "Basic s3cret", 401},
		{"/v1/instances/a", "s3cret", 401},
		{"/v1/instances/a", "Bearer  s3cret", 401},
		{"/v1/instances/a", "Bearer s3cret", 200},
		{"/v1/instances/a", "bearer s3cret", 200},
		{"/v1/nope", "", 401},
		{"/v1/instances", "Bearer s3cret", 200},
		{"/v1/watermark", "", 401},
		{"/healthz", "", 200},
		{"/readyz", "", 200},
	} {
		rec := do(h, "GET", c.target, nil, "Authorization", c.auth)
		if rec.Code != c.status {
			t.Errorf("GET %s with %q: %d; want %d", c.target, c.auth, rec.Code, c.status)
		}
		if c.status == 401 {
			if e := errorOf(t, rec); e.Code != "unauthenticated" || rec.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("401 body %+v", e)
			}
		}
	}
}

func ptrTime(ms int64) *api.Time { t := api.Time(ms); return &t }

func TestProjectionHeaders(t *testing.T) {
	m := newMem()
	m.add("a")
	wm := &fixedWatermark{wm: api.Watermark{Stream: "S", StreamLastSeq: 10, LagEvents: 3, ProjectedThrough: ptrTime(1764105600005)}}
	h := testHandler(m, func(c *Config) { c.Watermark = wm; c.APIToken = "t" })
	auth := []string{"Authorization", "Bearer t"}
	for _, c := range []struct {
		method, target string
		auth           bool
	}{
		{"GET", "/v1/instances/a", true}, {"GET", "/v1/instances/nope", true}, {"GET", "/v1/instances?limit=0", true},
		{"GET", "/v1/nope", true}, {"GET", "/v1/instances/a", false}, {"GET", "/v1/watermark", false}, {"POST", "/v1/health", true},
		{"GET", "/v1/watermark", true}, {"GET", "/v1//health", true},
	} {
		var hdr []string
		if c.auth {
			hdr = auth
		}
		rec := do(h, c.method, c.target, nil, hdr...)
		if !c.auth {
			// A 401 tells nothing about the data, the watermark included.
			if rec.Code != 401 || rec.Header().Get("X-Projection-Lag-Events") != "" || rec.Header().Get("X-Projected-Through") != "" {
				t.Errorf("%s %s without the token (%d): headers %v", c.method, c.target, rec.Code, rec.Header())
			}
			continue
		}
		if rec.Header().Get("X-Projection-Lag-Events") != "3" || rec.Header().Get("X-Projected-Through") != "2025-11-25T21:20:00.005Z" {
			t.Errorf("%s %s (%d): headers %v", c.method, c.target, rec.Code, rec.Header())
		}
	}
	rec := do(h, "GET", "/v1/watermark", nil, auth...)
	if rec.Body.String() != `{"stream":"S","stream_last_seq":10,"lag_events":3,"projected_through":"2025-11-25T21:20:00.005Z"}`+"\n" {
		t.Errorf("watermark body %s", rec.Body)
	}
	for _, target := range []string{"/healthz", "/readyz"} {
		if rec := do(h, "GET", target, nil); rec.Header().Get("X-Projection-Lag-Events") != "" {
			t.Errorf("%s has projection headers", target)
		}
	}
	// Nothing projected yet: no headers; the watermark answers with null.
	wm.wm = api.Watermark{Stream: "S", StreamLastSeq: 10, LagEvents: 10}
	rec = do(h, "GET", "/v1/instances/a", nil, auth...)
	if rec.Header().Get("X-Projection-Lag-Events") != "" || rec.Header().Get("X-Projected-Through") != "" {
		t.Errorf("headers before anything was projected: %v", rec.Header())
	}
	rec = do(h, "GET", "/v1/watermark", nil, auth...)
	if !strings.Contains(rec.Body.String(), `"projected_through":null`) {
		t.Errorf("watermark before projection: %s", rec.Body)
	}
	// NATS down: no headers, the API still answers, /v1/watermark is 503.
	wm.err = fmt.Errorf("nats: not connected")
	if rec = do(h, "GET", "/v1/instances/a", nil, auth...); rec.Code != 200 || rec.Header().Get("X-Projection-Lag-Events") != "" {
		t.Errorf("NATS down: %d %v", rec.Code, rec.Header())
	}
	if rec = do(h, "GET", "/v1/watermark", nil, auth...); rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("watermark with NATS down: %d", rec.Code)
	}
}

// TestConcurrencyLimit fills the only slot and checks that the next request
// is refused with 503 + Retry-After after the queue wait.
func TestConcurrencyLimit(t *testing.T) {
	m := newMem()
	m.add("a")
	m.block = make(chan struct{})
	m.entered = make(chan struct{}, 4)
	h := testHandler(m, func(c *Config) { c.Limits = Limits{MaxInFlight: 1, QueueWait: 20 * time.Millisecond} })
	done := make(chan int)
	go func() { done <- do(h, "GET", "/v1/instances/a", nil).Code }()
	<-m.entered
	start := time.Now()
	rec := do(h, "GET", "/v1/queues", nil)
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "1" || errorOf(t, rec).Code != "unavailable" {
		t.Errorf("second request: %d %v", rec.Code, rec.Header())
	}
	if d := time.Since(start); d < 20*time.Millisecond || d > 2*time.Second {
		t.Errorf("refused after %v; want about the queue wait", d)
	}
	// Endpoints that do not query ClickHouse are not limited.
	if rec := do(h, "GET", "/healthz", nil); rec.Code != 200 {
		t.Errorf("healthz while full: %d", rec.Code)
	}
	close(m.block)
	if code := <-done; code != 200 {
		t.Errorf("first request: %d", code)
	}
	// A waiting request gets the slot when it frees within the wait.
	m.block = make(chan struct{})
	h = testHandler(m, func(c *Config) { c.Limits = Limits{MaxInFlight: 1, QueueWait: 5 * time.Second} })
	go func() { done <- do(h, "GET", "/v1/instances/a", nil).Code }()
	<-m.entered
	go func() { time.Sleep(30 * time.Millisecond); close(m.block) }()
	if rec := do(h, "GET", "/v1/instances/a", nil); rec.Code != 200 {
		t.Errorf("queued request: %d", rec.Code)
	}
	<-m.entered
	if code := <-done; code != 200 {
		t.Errorf("first request: %d", code)
	}
}

// TestScanLimit fills the only scan slot: another scan is refused with 503
// while a key lookup is still admitted (it has its own slots).
func TestScanLimit(t *testing.T) {
	m := newMem()
	m.add("a")
	m.block = make(chan struct{})
	m.entered = make(chan struct{}, 4)
	h := testHandler(m, func(c *Config) {
		c.Limits = Limits{MaxInFlight: 4, MaxScans: 1, QueueWait: 20 * time.Millisecond}
	})
	scanDone, lookupDone := make(chan int), make(chan int)
	go func() { scanDone <- do(h, "GET", "/v1/queues", nil).Code }()
	<-m.entered
	for _, path := range []string{"/v1/health", "/v1/instances", "/v1/stats/activities"} {
		rec := do(h, "GET", path, nil)
		if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(errorOf(t, rec).Message, "scans") {
			t.Errorf("%s while the scan slot is taken: %d %s", path, rec.Code, rec.Body)
		}
	}
	go func() { lookupDone <- do(h, "GET", "/v1/instances/a", nil).Code }()
	select {
	case <-m.entered: // admitted while the scan is in flight
	case <-time.After(5 * time.Second):
		t.Fatal("a lookup was not admitted while the scan slot was taken")
	}
	close(m.block)
	if code := <-scanDone; code != 200 {
		t.Errorf("scan: %d", code)
	}
	if code := <-lookupDone; code != 200 {
		t.Errorf("lookup: %d", code)
	}
}

func TestNewRejectsMissingBackends(t *testing.T) {
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "Config.") {
			t.Errorf("New with nil backends: %v", p)
		}
	}()
	New(Config{ReadModel: (*testModel)(nil)})
}

// TestParamsReachBackend checks that parsed parameters arrive intact.
func TestParamsReachBackend(t *testing.T) {
	m := newMem()
	h := testHandler(m, nil)
	if rec := do(h, "GET", "/v1/instances?status=Failed&instance_prefix=a%2Fb&limit=3&offset=2", nil); rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	if f := m.lastList; f == nil || f.InstancePrefix != "a/b" || f.Limit != 3 || f.Offset != 2 || fmt.Sprint(f.Statuses) != "[Failed]" {
		t.Errorf("list filter %+v", m.lastList)
	}
	if rec := do(h, "GET", "/v1/problems?limit=7", nil); rec.Code != 200 || m.lastPP.Limit != 7 || !m.lastPP.Now.Equal(testNow) {
		t.Errorf("problems params %+v", m.lastPP)
	}
	if rec := do(h, "GET", "/v1/health?long_running_after=2h", nil); rec.Code != 200 || m.lastHP.LongRunningAfter != 2*time.Hour {
		t.Errorf("health params %+v", m.lastHP)
	}
	if rec := do(h, "GET", "/v1/stats/orchestrations?orchestration=O%20P", nil); rec.Code != 200 || *m.lastOrch != "O P" {
		t.Errorf("orchestration %v", m.lastOrch)
	}
	m.add("x")
	if rec := do(h, "GET", "/v1/instances/x/history?execution_id=1", nil); rec.Code != 200 || m.lastExec != 1 {
		t.Errorf("history execution %d: %d", m.lastExec, rec.Code)
	}
}

// TestHostileRequestsNever500 sends hostile paths, parameters and bodies to
// every endpoint: each gets a contract answer (200/400/401/404/405/413),
// never a 500 and never a redirect.
func TestHostileRequestsNever500(t *testing.T) {
	m := newMem()
	m.add("a")
	h := testHandler(m, nil)
	long := strings.Repeat("%41", 4000)
	hostile := []string{
		"' OR 1=1 --", "%27%20OR%201%3D1%20--", "%00", "%FF", "%E6%97%A5", "..", "%2E%2E%2F", "a%2F..%2F..",
		long, "-1", "99999999999999999999999", "1e308", "NaN", "%zz", "\u202e", "<script>", "%0d%0aX-Injected:%201",
	}
	paths := []string{"/v1/instances", "/v1/stats/orchestrations", "/v1/stats/activities", "/v1/stats/performance",
		"/v1/stats/performance/instances", "/v1/stats/activities/calls",
		"/v1/health", "/v1/problems", "/v1/queues", "/v1/watermark", "/v1/instances/a", "/v1/instances/a/history"}
	params := []string{"status", "orchestration", "created_after", "created_before", "parent_instance", "instance_prefix",
		"limit", "offset", "page_token", "since", "include_system", "long_running_after", "stuck_after",
		"recent_failure_window", "execution_id", "x"}
	n := 0
	check := func(method, target string, body string) {
		t.Helper()
		if _, err := url.ParseRequestURI(target); err != nil {
			// net/http's server answers such a request line with 400
			// itself; it never reaches the handler.
			return
		}
		rec := do(h, method, target, strings.NewReader(body))
		n++
		switch rec.Code {
		case 200, 400, 401, 404, 405, 413, 503:
		default:
			t.Errorf("%s %.80s: %d %.200s", method, target, rec.Code, rec.Body)
		}
		if rec.Code != 200 {
			errorOf(t, rec)
		}
		if rec.Header().Get("X-Injected") != "" {
			t.Errorf("%s %.80s: header injection", method, target)
		}
	}
	for _, p := range paths {
		for _, name := range params {
			for _, v := range hostile {
				check("GET", p+"?"+name+"="+strings.ReplaceAll(v, " ", "%20"), "")
			}
		}
	}
	for _, v := range hostile {
		seg := strings.ReplaceAll(v, " ", "%20")
		for _, sub := range []string{"", "/details", "/executions", "/history", "/x"} {
			check("GET", "/v1/instances/"+seg+sub, "")
		}
	}
	for _, body := range []string{"", "{", "[]", `{"instance_ids":"a"}`, `{"instance_ids":[{}]}`, `{"instance_ids":[["a"]]}`,
		`{"instance_ids":["a"],"instance_ids":["b"]}`, strings.Repeat("[", 100000), `{"instance_ids":["\ud800"]}`,
		"\x00", `{"instance_ids":[` + strings.Repeat(`"a",`, 10000) + `"a"]}`} {
		check("POST", "/v1/bulk/status", body)
	}
	if n < 2000 {
		t.Errorf("only %d requests checked", n)
	}
}
