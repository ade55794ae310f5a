package events

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func TestMarshalStringEscaping(t *testing.T) {
	// serde_json escapes only '"', '\\' and control characters (short forms
	// for \b \t \n \f \r, \u00xx lower-case otherwise).
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"\b\t\n\f\r", `"\b\t\n\f\r"`},
		{"\x00\x01\x1f\x0b", `"\u0000\u0001\u001f\u000b"`},
		{"/ < > & \x7f", "\"/ < > & \x7f\""},
		{"é😀\u2028\u2029", "\"é😀\u2028\u2029\""},
		{"bad\xffutf8", "\"bad\uFFFDutf8\""},
	}
	for _, tt := range tests {
		if got := string(appendString(nil, tt.in)); got != tt.want {
			t.Errorf("appendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
		var back string
		if err := json.Unmarshal([]byte(tt.want), &back); err != nil {
			t.Errorf("%s is not valid JSON: %v", tt.want, err)
		}
	}
}

func TestMarshalOptionalFields(t *testing.T) {
	common := `{"event_id":2,"source_event_id":null,"instance_id":"a.b c","execution_id":1,"timestamp_ms":9,"duroxide_version":"0.1.26","type":`
	mk := func(typ string, f func(*Event)) *Event {
		e := &Event{EventID: 2, InstanceID: "a.b c", ExecutionID: 1, TimestampMs: 9, DuroxideVersion: "0.1.26", Type: typ, Known: true}
		f(e)
		return e
	}
	tests := []struct {
		name string
		e    *Event
		want string
	}{
		{"started minimal", mk(TypeOrchestrationStarted, func(e *Event) { e.Name, e.Version, e.Input = "N", "1", "{}" }),
			`"OrchestrationStarted","name":"N","version":"1","input":"{}","parent_instance":null,"parent_id":null}`},
		{"started full", mk(TypeOrchestrationStarted, func(e *Event) {
			e.Name, e.Version, e.Input = "N", "1", "{}"
			e.ParentInstance = OptString{Value: "p", Valid: true}
			e.ParentID = OptUint{Value: 3, Valid: true}
			e.CarryForwardEvents = [][2]string{{"a", "b"}, {"c", "d\""}}
			e.InitialCustomStatus = OptString{Value: "s", Valid: true}
		}), `"OrchestrationStarted","name":"N","version":"1","input":"{}","parent_instance":"p","parent_id":3,"carry_forward_events":[["a","b"],["c","d\""]],"initial_custom_status":"s"}`},
		{"started empty carry forward", mk(TypeOrchestrationStarted, func(e *Event) { e.CarryForwardEvents = [][2]string{} }),
			`"OrchestrationStarted","name":"","version":"","input":"","parent_instance":null,"parent_id":null,"carry_forward_events":[]}`},
		{"scheduled", mk(TypeActivityScheduled, func(e *Event) { e.Name, e.Input = "A", "" }),
			`"ActivityScheduled","name":"A","input":""}`},
		{"scheduled tag and session", mk(TypeActivityScheduled, func(e *Event) {
			e.Name, e.Input = "A", "x"
			e.SessionID = OptString{Value: "s", Valid: true}
			e.Tag = OptString{Value: "", Valid: true}
		}), `"ActivityScheduled","name":"A","input":"x","session_id":"s","tag":""}`},
		{"status null", mk(TypeCustomStatusUpdated, func(e *Event) {}), `"CustomStatusUpdated","status":null}`},
		{"status set", mk(TypeCustomStatusUpdated, func(e *Event) { e.Status = OptString{Value: "50%", Valid: true} }), `"CustomStatusUpdated","status":"50%"}`},
		{"kv set without timestamp", mk(TypeKeyValueSet, func(e *Event) { e.Key, e.Value = "k", "v" }), `"KeyValueSet","key":"k","value":"v"}`},
		{"kv set", mk(TypeKeyValueSet, func(e *Event) {
			e.Key, e.Value = "k", "v"
			e.LastUpdatedAtMs = OptUint{Value: 0, Valid: true}
		}), `"KeyValueSet","key":"k","value":"v","last_updated_at_ms":0}`},
		{"chained", mk(TypeOrchestrationChained, func(e *Event) { e.Name, e.Instance, e.Input = "n", "i", "x" }),
			`"OrchestrationChained","name":"n","instance":"i","input":"x"}`},
		{"timer", mk(TypeTimerFired, func(e *Event) { e.FireAtMs = 18446744073709551615 }), `"TimerFired","fire_at_ms":18446744073709551615}`},
		{"kvs cleared", mk(TypeKeyValuesCleared, func(e *Event) {}), `"KeyValuesCleared"}`},
		{"failed without details", mk(TypeActivityFailed, func(e *Event) {}), `"ActivityFailed","details":null}`},
		{"unknown type without Raw", mk("Future", func(e *Event) { e.Known = false; e.Name = "ignored" }), `"Future"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Marshal(tt.e)); got != common+tt.want {
				t.Errorf("got  %s\nwant %s", got, common+tt.want)
			}
		})
	}
	t.Run("source_event_id", func(t *testing.T) {
		e := mk(TypeActivityCompleted, func(e *Event) { e.SourceEventID = OptUint{Value: 0, Valid: true} })
		if got := Marshal(e); !bytes.Contains(got, []byte(`"source_event_id":0,`)) {
			t.Errorf("got %s", got)
		}
	})
}

func TestMarshalDetailsSynthesis(t *testing.T) {
	tests := []struct {
		d    ErrorDetails
		want string
	}{
		{ErrorDetails{"application", "ActivityFailed", "m", false}, `{"Application":{"kind":"ActivityFailed","message":"m","retryable":false}}`},
		{ErrorDetails{"application", "Cancelled", "canceled: user requested", false}, `{"Application":{"kind":{"Cancelled":{"reason":"user requested"}},"message":"","retryable":false}}`},
		{ErrorDetails{"application", "Cancelled", "not the prefix", true}, `{"Application":{"kind":"Cancelled","message":"not the prefix","retryable":true}}`},
		{ErrorDetails{"infrastructure", "fetch", "reset", true}, `{"Infrastructure":{"operation":"fetch","message":"reset","retryable":true}}`},
		{ErrorDetails{"configuration", "Nondeterminism", "", false}, `{"Configuration":{"kind":"Nondeterminism","resource":"","message":""}}`},
		{ErrorDetails{"poison", "Poison", "too many", false}, `{"Poison":{"message":"too many"}}`},
		{ErrorDetails{"timeout", "", "", false}, `{"Timeout":{}}`},
		{ErrorDetails{"", "", "", false}, `{"":{}}`},
	}
	for _, tt := range tests {
		e := &Event{EventID: 1, InstanceID: "i", ExecutionID: 1, Type: TypeOrchestrationFailed, Known: true, Details: &tt.d}
		m := Marshal(e)
		if !bytes.Contains(m, []byte(`"details":`+tt.want+`}`)) {
			t.Errorf("%+v: got %s, want details %s", tt.d, m, tt.want)
		}
		back := mustDecode(t, m)
		if !reflect.DeepEqual(*back.Details, tt.d) {
			t.Errorf("%+v: decodes back to %+v", tt.d, *back.Details)
		}
	}
	// DetailsRaw wins over Details.
	e := &Event{EventID: 1, InstanceID: "i", ExecutionID: 1, Type: TypeActivityFailed, Known: true,
		Details: &ErrorDetails{Category: "application"}, DetailsRaw: []byte(`{"Poison":{"attempt_count":3}}`)}
	if m := Marshal(e); !bytes.HasSuffix(m, []byte(`"details":{"Poison":{"attempt_count":3}}}`)) {
		t.Errorf("DetailsRaw not written verbatim: %s", m)
	}
}
