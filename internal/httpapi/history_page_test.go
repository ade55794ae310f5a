package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/internal/query"
)

// TestHistoryPage: a limited page carries next_page_token after the events
// (served byte for byte); the token and after_event reach the read model
// as the same range.
func TestHistoryPage(t *testing.T) {
	m := newMem()
	m.add("x")
	m.history["x"] = []json.RawMessage{json.RawMessage(`{"event_id":1,  "a":"<&>"}`), json.RawMessage(`{"event_id":2}`), json.RawMessage(`{"event_id":3}`)}
	h := testHandler(m, nil)

	rec := do(h, "GET", "/v1/instances/x/history?limit=2", nil)
	tok := query.EncodeHistoryToken(query.EventKey{ExecutionID: 1, EventID: 2})
	want := `{"events":[{"event_id":1,  "a":"<&>"},{"event_id":2}],"next_page_token":"` + tok + `"}`
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != want {
		t.Fatalf("limit=2: %d %s, want %s", rec.Code, rec.Body, want)
	}
	rec = do(h, "GET", "/v1/instances/x/history?page_token="+tok, nil)
	if rec.Code != 200 || m.lastRange.After == nil || *m.lastRange.After != (query.EventKey{ExecutionID: 1, EventID: 2}) || m.lastRange.Limit != 0 {
		t.Fatalf("page_token: %d, range %+v", rec.Code, m.lastRange)
	}
	if strings.Contains(rec.Body.String(), "next_page_token") {
		t.Errorf("an unlimited page has a token: %s", rec.Body)
	}
	rec = do(h, "GET", "/v1/instances/x/history?after_event=1:2&limit=10", nil)
	if rec.Code != 200 || *m.lastRange.After != (query.EventKey{ExecutionID: 1, EventID: 2}) || m.lastRange.Limit != 10 {
		t.Fatalf("after_event: %d, range %+v", rec.Code, m.lastRange)
	}
}

// TestHistoryWithoutPayloads: include_payloads=false leaves the payload
// fields out and says how many bytes; the default keeps the events as
// published.
func TestHistoryWithoutPayloads(t *testing.T) {
	m := newMem()
	m.add("x")
	m.history["x"] = []json.RawMessage{json.RawMessage(`{"event_id":1,"type":"OrchestrationStarted","name":"A","input":"12345"}`), json.RawMessage(`{"event_id":2,"type":"TimerCreated","fire_at_ms":9}`)}
	h := testHandler(m, nil)
	rec := do(h, "GET", "/v1/instances/x/history?include_payloads=false", nil)
	want := `{"events":[{"event_id":1,"type":"OrchestrationStarted","name":"A","omitted_bytes":7},{"event_id":2,"type":"TimerCreated","fire_at_ms":9}]}`
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != want {
		t.Fatalf("include_payloads=false: %d %s, want %s", rec.Code, rec.Body, want)
	}
	rec = do(h, "GET", "/v1/instances/x/history?include_payloads=true", nil)
	if !strings.Contains(rec.Body.String(), `"input":"12345"`) {
		t.Errorf("include_payloads=true: %s", rec.Body)
	}
	if rec := do(h, "GET", "/v1/instances/x/history?include_payloads=no", nil); rec.Code != 400 || !strings.Contains(errorOf(t, rec).Message, "include_payloads") {
		t.Errorf("include_payloads=no: %d %s", rec.Code, rec.Body)
	}
}
