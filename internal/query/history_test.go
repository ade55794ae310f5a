package query

import (
	"encoding/json"
	"testing"
)

func TestOmitPayloads(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"event_id":1,"type":"OrchestrationStarted","name":"A","input":"{\"big\":1}","parent_instance":null}`,
			`{"event_id":1,"type":"OrchestrationStarted","name":"A","parent_instance":null,"omitted_bytes":13}`},
		{`{"event_id":3,"type":"ActivityCompleted","result":"ok"}`, `{"event_id":3,"type":"ActivityCompleted","omitted_bytes":4}`},
		{`{"event_id":5, "type":"TimerCreated","fire_at_ms":7}`, `{"event_id":5, "type":"TimerCreated","fire_at_ms":7}`},
		{`{"type":"CustomStatusUpdated","status":null,"input":null}`, `{"type":"CustomStatusUpdated","status":null,"input":null}`},
		{`{"type":"ExternalEvent","name":"n","data":{"x":[1,2]},"z":"<&>"}`, `{"type":"ExternalEvent","name":"n","z":"<&>","omitted_bytes":11}`},
	} {
		got, err := OmitPayloads([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("OmitPayloads(%s) = %s, %v; want %s", c.in, got, err, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("OmitPayloads(%s) is not JSON: %s", c.in, got)
		}
	}
	for _, bad := range []string{`[1]`, `{"a":`, `"x"`} {
		if _, err := OmitPayloads([]byte(bad)); err == nil {
			t.Errorf("OmitPayloads(%s): no error", bad)
		}
	}
}

func TestHistoryTokenRoundTrip(t *testing.T) {
	k := EventKey{ExecutionID: 3, EventID: 1 << 40}
	got, err := DecodeHistoryToken(EncodeHistoryToken(k))
	if err != nil || got != k {
		t.Fatalf("round trip %v: %v, %v", k, got, err)
	}
	for _, bad := range []string{"", "aDE6", "eDE6Mjo3", EncodeHistoryToken(k) + "x"} {
		if _, err := DecodeHistoryToken(bad); err == nil {
			t.Errorf("DecodeHistoryToken(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"1", "1:", ":1", "+1:2", "1:02", "1:2:3", "a:b"} {
		if _, err := ParseEventKey(bad); err == nil {
			t.Errorf("ParseEventKey(%q) accepted", bad)
		}
	}
}
