package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// malformedSeeds are hand-picked bad or tricky payloads for the fuzzer (the
// committed corpus in testdata/fuzz/FuzzDecode holds them too, plus fixture
// lines).
var malformedSeeds = []string{
	``,
	`{}`,
	`[]`,
	`{"event_id":1.0,"instance_id":"i","execution_id":1,"timestamp_ms":1,"type":"TimerCreated","fire_at_ms":1e3}`,
	`{"event_id":1,"instance_id":"i","execution_id":1,"timestamp_ms":1,"type":"ActivityFailed","details":{"Application":{"kind":{"Cancelled":{"reason":"\ud83d"}}}}}`,
	`{"event_id":1,"instance_id":"\u0000\"\\","execution_id":1,"timestamp_ms":18446744073709551615,"type":"OrchestrationStarted","name":"n","version":"v","input":"i","carry_forward_events":[["a","b"]]}`,
	`{"event_id":1,"instance_id":"i","execution_id":1,"timestamp_ms":1,"type":"X"} trailing`,
	"{\"event_id\":1,\"instance_id\":\"\xff\"}",
	`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"event_id":1,"event_id":2,"instance_id":"i","execution_id":1,"timestamp_ms":1,"type":"CustomStatusUpdated","status":null}`,
	`{"event_id":1,"instance_id":"i","execution_id":1,"timestamp_ms":1,"type":"ActivityFailed","details":{"Poison":{"message":"m"},"Application":1}}`,
	`{"event_id":1,"instance_id":"i","execution_id":1,"timestamp_ms":-0,"type":"KeyValuesCleared"}`,
	`{"event_id":1,"instance_id":"i","execution_id":1,"timestamp_ms":1,"type":"Activity\u0046ailed","details":{"Unknown":[1,2,3]}}`,
}

// FuzzDecode: Decode never panics; a rejection is a one-line bounded
// *DecodeError and never a JSON syntax complaint about valid JSON; an
// accepted payload is valid JSON whose event satisfies the contract's
// invariants, and Marshal then Decode gives the same Event back (and the
// same bytes again).
func FuzzDecode(f *testing.F) {
	for _, l := range fixtureLines(f) {
		f.Add(l.raw)
	}
	for _, s := range malformedSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError: %v", err, err)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") || len(msg) > maxErrorLen || !utf8.ValidString(msg) {
				t.Fatalf("bad error text %q", msg)
			}
			if de.Field == "payload" && strings.Contains(de.Problem, "invalid JSON") &&
				len(data) <= MaxPayload && utf8.Valid(data) && json.Valid(data) {
				t.Fatalf("rejected valid JSON as a syntax error: %v\n%q", err, data)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if e.EventID == 0 || e.ExecutionID == 0 || e.InstanceID == "" || len(e.InstanceID) > MaxInstanceIDBytes {
			t.Fatalf("accepted event breaks the contract: %+v", e)
		}
		if e.Known != isKnownType(e.Type) {
			t.Fatalf("Known=%v for type %q", e.Known, e.Type)
		}
		if !bytes.Equal(e.Raw, data) {
			t.Fatalf("Raw is not the payload")
		}
		m := Marshal(&e)
		e2, err := Decode(m)
		if err != nil {
			t.Fatalf("Decode(Marshal(e)) = %v\n in %q\nout %q", err, data, m)
		}
		if m2 := Marshal(&e2); !bytes.Equal(m, m2) {
			t.Fatalf("Marshal not stable\n first %q\nsecond %q", m, m2)
		}
		e.Raw, e2.Raw = nil, nil
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip differs\n  in %+v\n out %+v\nwire %q", e, e2, m)
		}
	})
}
