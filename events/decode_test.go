package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// ev builds a payload: the usual common fields (event_id 5, source_event_id
// 3, instance "inst-1", execution 2, timestamp 1000, version "0.1.26"), the
// given type, and extra members (JSON text without braces, may be "").
func ev(typ, extra string) []byte {
	s := `{"event_id":5,"source_event_id":3,"instance_id":"inst-1","execution_id":2,"timestamp_ms":1000,"duroxide_version":"0.1.26","type":"` + typ + `"`
	if extra != "" {
		s += "," + extra
	}
	return []byte(s + "}")
}

// base is the Event of ev's common fields.
func base(typ string) Event {
	return Event{
		EventID: 5, SourceEventID: OptUint{Value: 3, Valid: true}, InstanceID: "inst-1",
		ExecutionID: 2, TimestampMs: 1000, DuroxideVersion: "0.1.26", Type: typ, Known: true,
	}
}

// mustDecode decodes or fails the test.
func mustDecode(t *testing.T, raw []byte) Event {
	t.Helper()
	e, err := Decode(raw)
	if err != nil {
		t.Fatalf("Decode(%s): %v", truncateForLog(raw), err)
	}
	return e
}

func truncateForLog(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + fmt.Sprintf("...(%d bytes)", len(b))
	}
	return string(b)
}

// decodeErr decodes expecting a *DecodeError.
func decodeErr(t *testing.T, raw []byte) *DecodeError {
	t.Helper()
	_, err := Decode(raw)
	if err == nil {
		t.Fatalf("Decode(%s) succeeded, want an error", truncateForLog(raw))
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %T %v is not a *DecodeError", err, err)
	}
	return de
}

func TestFixturesRoundTrip(t *testing.T) {
	lines := fixtureLines(t)
	unknown := 0
	for _, l := range lines {
		e, err := Decode(l.raw)
		if err != nil {
			t.Errorf("%s:%d: %v", l.file, l.no, err)
			continue
		}
		if !bytes.Equal(e.Raw, l.raw) {
			t.Errorf("%s:%d: Raw differs from the payload", l.file, l.no)
		}
		if got := Marshal(&e); !bytes.Equal(got, l.raw) {
			t.Errorf("%s:%d: Marshal(Decode(line)) differs\n got %s\nwant %s", l.file, l.no, got, l.raw)
		}
		if !e.Known {
			unknown++
			continue
		}
		// Synthesising details from the projection must also give the
		// fixture bytes (the fixtures use Duroxide's usual forms).
		e.DetailsRaw = nil
		if got := Marshal(&e); !bytes.Equal(got, l.raw) {
			t.Errorf("%s:%d: Marshal without DetailsRaw differs\n got %s\nwant %s", l.file, l.no, got, l.raw)
		}
		// Independent reading with encoding/json must agree.
		want, err := stdlibDecode(l.raw)
		if err != nil {
			t.Fatalf("%s:%d: stdlib: %v", l.file, l.no, err)
		}
		got := mustDecode(t, l.raw)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:%d: Decode and encoding/json disagree\n got %+v\nwant %+v", l.file, l.no, got, want)
		}
	}
	if unknown != 1 {
		t.Errorf("fixtures have %d unknown-type lines, want 1 (FutureEventKind)", unknown)
	}
}

func TestDecodeVariants(t *testing.T) {
	with := func(typ string, f func(*Event)) Event {
		e := base(typ)
		f(&e)
		return e
	}
	appDetails := `{"Application":{"kind":"ActivityFailed","message":"boom","retryable":true}}`
	tests := []struct {
		typ   string
		extra string
		want  Event
	}{
		{TypeOrchestrationStarted, `"name":"N","version":"1.0.0","input":"{\"a\":1}","parent_instance":"p","parent_id":7,"carry_forward_events":[["e1","d1"],["e2","d2"]],"initial_custom_status":"s"`,
			with(TypeOrchestrationStarted, func(e *Event) {
				e.Name, e.Version, e.Input = "N", "1.0.0", `{"a":1}`
				e.ParentInstance = OptString{Value: "p", Valid: true}
				e.ParentID = OptUint{Value: 7, Valid: true}
				e.CarryForwardEvents = [][2]string{{"e1", "d1"}, {"e2", "d2"}}
				e.InitialCustomStatus = OptString{Value: "s", Valid: true}
			})},
		{TypeOrchestrationStarted, `"name":"N","version":"1.0.0","input":"","parent_instance":null,"parent_id":null,"carry_forward_events":null,"initial_custom_status":null`,
			with(TypeOrchestrationStarted, func(e *Event) { e.Name, e.Version = "N", "1.0.0" })},
		{TypeOrchestrationStarted, `"name":"N","version":"1.0.0","input":"x","carry_forward_events":[]`,
			with(TypeOrchestrationStarted, func(e *Event) {
				e.Name, e.Version, e.Input = "N", "1.0.0", "x"
				e.CarryForwardEvents = [][2]string{}
			})},
		{TypeOrchestrationCompleted, `"output":"done"`, with(TypeOrchestrationCompleted, func(e *Event) { e.Output = "done" })},
		{TypeOrchestrationFailed, `"details":` + appDetails, with(TypeOrchestrationFailed, func(e *Event) {
			e.Details = &ErrorDetails{Category: "application", Kind: "ActivityFailed", Message: "boom", Retryable: true}
			e.DetailsRaw = []byte(appDetails)
		})},
		{TypeOrchestrationContinuedAsNew, `"input":"1"`, with(TypeOrchestrationContinuedAsNew, func(e *Event) { e.Input = "1" })},
		{TypeOrchestrationCancelRequested, `"reason":"r"`, with(TypeOrchestrationCancelRequested, func(e *Event) { e.Reason = "r" })},
		{TypeOrchestrationChained, `"name":"A","instance":"audit-1","input":"i"`, with(TypeOrchestrationChained, func(e *Event) {
			e.Name, e.Instance, e.Input = "A", "audit-1", "i"
		})},
		{TypeActivityScheduled, `"name":"A","input":"i","session_id":"s1","tag":"gpu"`, with(TypeActivityScheduled, func(e *Event) {
			e.Name, e.Input = "A", "i"
			e.SessionID = OptString{Value: "s1", Valid: true}
			e.Tag = OptString{Value: "gpu", Valid: true}
		})},
		{TypeActivityScheduled, `"name":"A","input":"i"`, with(TypeActivityScheduled, func(e *Event) { e.Name, e.Input = "A", "i" })},
		{TypeActivityCompleted, `"result":"ok"`, with(TypeActivityCompleted, func(e *Event) { e.Result = "ok" })},
		{TypeActivityFailed, `"details":` + appDetails, with(TypeActivityFailed, func(e *Event) {
			e.Details = &ErrorDetails{Category: "application", Kind: "ActivityFailed", Message: "boom", Retryable: true}
			e.DetailsRaw = []byte(appDetails)
		})},
		{TypeActivityCancelRequested, `"reason":"dropped_future"`, with(TypeActivityCancelRequested, func(e *Event) { e.Reason = "dropped_future" })},
		{TypeTimerCreated, `"fire_at_ms":18446744073709551615`, with(TypeTimerCreated, func(e *Event) { e.FireAtMs = 1<<64 - 1 })},
		{TypeTimerFired, `"fire_at_ms":0`, with(TypeTimerFired, func(e *Event) {})},
		{TypeExternalSubscribed, `"name":"Approval"`, with(TypeExternalSubscribed, func(e *Event) { e.Name = "Approval" })},
		{TypeExternalEvent, `"name":"Approval","data":"yes"`, with(TypeExternalEvent, func(e *Event) { e.Name, e.Data = "Approval", "yes" })},
		{TypeExternalSubscribedCancelled, `"reason":"r"`, with(TypeExternalSubscribedCancelled, func(e *Event) { e.Reason = "r" })},
		{TypeExternalSubscribedPersistent, `"name":"inbox"`, with(TypeExternalSubscribedPersistent, func(e *Event) { e.Name = "inbox" })},
		{TypeExternalEventPersistent, `"name":"inbox","data":"hi"`, with(TypeExternalEventPersistent, func(e *Event) { e.Name, e.Data = "inbox", "hi" })},
		{TypeExternalSubscribedPersistentCancelled, `"reason":"r"`, with(TypeExternalSubscribedPersistentCancelled, func(e *Event) { e.Reason = "r" })},
		{TypeSubOrchestrationScheduled, `"name":"Child","instance":"sub::2","input":"1,2"`, with(TypeSubOrchestrationScheduled, func(e *Event) {
			e.Name, e.Instance, e.Input = "Child", "sub::2", "1,2"
		})},
		{TypeSubOrchestrationCompleted, `"result":"3"`, with(TypeSubOrchestrationCompleted, func(e *Event) { e.Result = "3" })},
		{TypeSubOrchestrationFailed, `"details":` + appDetails, with(TypeSubOrchestrationFailed, func(e *Event) {
			e.Details = &ErrorDetails{Category: "application", Kind: "ActivityFailed", Message: "boom", Retryable: true}
			e.DetailsRaw = []byte(appDetails)
		})},
		{TypeSubOrchestrationCancelRequested, `"reason":"r"`, with(TypeSubOrchestrationCancelRequested, func(e *Event) { e.Reason = "r" })},
		{TypeCustomStatusUpdated, `"status":"50%"`, with(TypeCustomStatusUpdated, func(e *Event) { e.Status = OptString{Value: "50%", Valid: true} })},
		{TypeCustomStatusUpdated, `"status":null`, with(TypeCustomStatusUpdated, func(e *Event) {})},
		{TypeCustomStatusUpdated, ``, with(TypeCustomStatusUpdated, func(e *Event) {})},
		{TypeKeyValueSet, `"key":"k","value":"v","last_updated_at_ms":12`, with(TypeKeyValueSet, func(e *Event) {
			e.Key, e.Value = "k", "v"
			e.LastUpdatedAtMs = OptUint{Value: 12, Valid: true}
		})},
		{TypeKeyValueSet, `"key":"k","value":""`, with(TypeKeyValueSet, func(e *Event) { e.Key = "k" })},
		{TypeKeyValueCleared, `"key":"k"`, with(TypeKeyValueCleared, func(e *Event) { e.Key = "k" })},
		{TypeKeyValuesCleared, ``, with(TypeKeyValuesCleared, func(e *Event) {})},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.typ] = true
		t.Run(tt.typ, func(t *testing.T) {
			raw := ev(tt.typ, tt.extra)
			got := mustDecode(t, raw)
			tt.want.Raw = raw
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode(%s)\n got %+v\nwant %+v", raw, got, tt.want)
			}
			// Members of other variants are ignored, whatever their type.
			noise := ev(tt.typ, tt.extra+pick(tt.extra != "", ",", "")+`"zzz":1`)
			if tt.typ != TypeOrchestrationStarted {
				noise = ev(tt.typ, `"carry_forward_events":5,"parent_id":"x",`+tt.extra+pick(tt.extra != "", ",", "")+`"initial_custom_status":7`)
			}
			got2 := mustDecode(t, noise)
			got2.Raw = raw
			if tt.want.DetailsRaw != nil {
				got2.DetailsRaw = tt.want.DetailsRaw
			}
			if !reflect.DeepEqual(got2, tt.want) {
				t.Errorf("Decode(%s)\n got %+v\nwant %+v", noise, got2, tt.want)
			}
		})
	}
	for _, typ := range allTypes {
		if !seen[typ] {
			t.Errorf("no decode test for %s", typ)
		}
	}
}

func pick(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}

// allTypes lists every known type (tests check they are all covered).
var allTypes = []string{
	TypeOrchestrationStarted, TypeOrchestrationCompleted, TypeOrchestrationFailed, TypeOrchestrationContinuedAsNew,
	TypeOrchestrationCancelRequested, TypeOrchestrationChained, TypeActivityScheduled, TypeActivityCompleted,
	TypeActivityFailed, TypeActivityCancelRequested, TypeTimerCreated, TypeTimerFired, TypeExternalSubscribed,
	TypeExternalEvent, TypeExternalSubscribedCancelled, TypeExternalSubscribedPersistent, TypeExternalEventPersistent,
	TypeExternalSubscribedPersistentCancelled, TypeSubOrchestrationScheduled, TypeSubOrchestrationCompleted,
	TypeSubOrchestrationFailed, TypeSubOrchestrationCancelRequested, TypeCustomStatusUpdated, TypeKeyValueSet,
	TypeKeyValueCleared, TypeKeyValuesCleared,
}

// requiredFields is EVENTS.md's variant table: the members each type must have
// and their JSON type ("s" string, "u" u64, "d" ErrorDetails).
var requiredFields = map[string][][2]string{
	TypeOrchestrationStarted:                  {{"name", "s"}, {"version", "s"}, {"input", "s"}},
	TypeOrchestrationCompleted:                {{"output", "s"}},
	TypeOrchestrationFailed:                   {{"details", "d"}},
	TypeOrchestrationContinuedAsNew:           {{"input", "s"}},
	TypeOrchestrationCancelRequested:          {{"reason", "s"}},
	TypeOrchestrationChained:                  {{"name", "s"}, {"instance", "s"}, {"input", "s"}},
	TypeActivityScheduled:                     {{"name", "s"}, {"input", "s"}},
	TypeActivityCompleted:                     {{"result", "s"}},
	TypeActivityFailed:                        {{"details", "d"}},
	TypeActivityCancelRequested:               {{"reason", "s"}},
	TypeTimerCreated:                          {{"fire_at_ms", "u"}},
	TypeTimerFired:                            {{"fire_at_ms", "u"}},
	TypeExternalSubscribed:                    {{"name", "s"}},
	TypeExternalEvent:                         {{"name", "s"}, {"data", "s"}},
	TypeExternalSubscribedCancelled:           {{"reason", "s"}},
	TypeExternalSubscribedPersistent:          {{"name", "s"}},
	TypeExternalEventPersistent:               {{"name", "s"}, {"data", "s"}},
	TypeExternalSubscribedPersistentCancelled: {{"reason", "s"}},
	TypeSubOrchestrationScheduled:             {{"name", "s"}, {"instance", "s"}, {"input", "s"}},
	TypeSubOrchestrationCompleted:             {{"result", "s"}},
	TypeSubOrchestrationFailed:                {{"details", "d"}},
	TypeSubOrchestrationCancelRequested:       {{"reason", "s"}},
	TypeCustomStatusUpdated:                   {},
	TypeKeyValueSet:                           {{"key", "s"}, {"value", "s"}},
	TypeKeyValueCleared:                       {{"key", "s"}},
	TypeKeyValuesCleared:                      {},
}

// optionalFields are the `?` members: absent and null are fine, another
// JSON type is not.
var optionalFields = map[string][][2]string{
	TypeOrchestrationStarted: {{"parent_instance", "s"}, {"parent_id", "u"}, {"carry_forward_events", "c"}, {"initial_custom_status", "s"}},
	TypeActivityScheduled:    {{"session_id", "s"}, {"tag", "s"}},
	TypeCustomStatusUpdated:  {{"status", "s"}},
	TypeKeyValueSet:          {{"last_updated_at_ms", "u"}},
}

func validValue(kind string) string {
	switch kind {
	case "s":
		return `"v"`
	case "u":
		return `42`
	case "c":
		return `[["a","b"]]`
	}
	return `{"Application":{"kind":"Panicked","message":"m","retryable":false}}`
}

func wrongValues(kind string) []string {
	switch kind {
	case "s":
		return []string{`1`, `true`, `{}`, `[]`, `["v"]`}
	case "u":
		return []string{`"42"`, `true`, `{}`, `[]`, `1.0`, `1e3`, `-1`, `18446744073709551616`}
	case "c":
		return []string{`"x"`, `1`, `{}`, `[1]`, `[["a"]]`, `[["a","b","c"]]`, `[["a",1]]`, `[[null,"b"]]`, `[["a","b"],"c"]`}
	}
	return []string{`"x"`, `1`, `[]`, `{}`, `true`}
}

// variantMembers renders all required members of typ as valid values, except
// skip (left out) and override (given value).
func variantMembers(typ, skip, override, value string) string {
	var parts []string
	for _, f := range requiredFields[typ] {
		switch f[0] {
		case skip:
			continue
		case override:
			parts = append(parts, `"`+f[0]+`":`+value)
		default:
			parts = append(parts, `"`+f[0]+`":`+validValue(f[1]))
		}
	}
	if override != "" && !hasField(requiredFields[typ], override) {
		parts = append(parts, `"`+override+`":`+value)
	}
	return strings.Join(parts, ",")
}

func hasField(fs [][2]string, name string) bool {
	for _, f := range fs {
		if f[0] == name {
			return true
		}
	}
	return false
}

func TestDecodeVariantRequiredFields(t *testing.T) {
	for _, typ := range allTypes {
		fields, ok := requiredFields[typ]
		if !ok {
			t.Fatalf("requiredFields lacks %s", typ)
		}
		// All required members present: fine.
		mustDecode(t, ev(typ, variantMembers(typ, "", "", "")))
		for _, f := range fields {
			t.Run(typ+"/"+f[0]+"/missing", func(t *testing.T) {
				de := decodeErr(t, ev(typ, variantMembers(typ, f[0], "", "")))
				if de.Field != f[0] || de.Problem != "required field missing" {
					t.Errorf("got %q, want %s: required field missing", de.Error(), f[0])
				}
			})
			t.Run(typ+"/"+f[0]+"/null", func(t *testing.T) {
				de := decodeErr(t, ev(typ, variantMembers(typ, "", f[0], "null")))
				if de.Field != f[0] {
					t.Errorf("got %q, want field %s", de.Error(), f[0])
				}
			})
			for _, w := range wrongValues(f[1]) {
				t.Run(typ+"/"+f[0]+"/"+w, func(t *testing.T) {
					de := decodeErr(t, ev(typ, variantMembers(typ, "", f[0], w)))
					if !strings.HasPrefix(de.Field, f[0]) {
						t.Errorf("got %q, want field %s", de.Error(), f[0])
					}
				})
			}
		}
		for _, f := range optionalFields[typ] {
			t.Run(typ+"/"+f[0]+"/optional", func(t *testing.T) {
				mustDecode(t, ev(typ, variantMembers(typ, "", f[0], "null")))
				mustDecode(t, ev(typ, variantMembers(typ, "", f[0], validValue(f[1]))))
				for _, w := range wrongValues(f[1]) {
					de := decodeErr(t, ev(typ, variantMembers(typ, "", f[0], w)))
					if de.Field != f[0] {
						t.Errorf("%s=%s: got %q, want field %s", f[0], w, de.Error(), f[0])
					}
				}
			})
		}
	}
}

// commonMembers renders the common members with one of them replaced
// (value "" = left out).
func commonMembers(name, value string) []byte {
	members := [][2]string{
		{"event_id", "5"}, {"source_event_id", "3"}, {"instance_id", `"inst-1"`}, {"execution_id", "2"},
		{"timestamp_ms", "1000"}, {"duroxide_version", `"0.1.26"`}, {"type", `"ActivityCompleted"`}, {"result", `"ok"`},
	}
	var parts []string
	for _, m := range members {
		if m[0] == name {
			if value == "" {
				continue
			}
			m[1] = value
		}
		parts = append(parts, `"`+m[0]+`":`+m[1])
	}
	return []byte("{" + strings.Join(parts, ",") + "}")
}

func TestDecodeBadMessages(t *testing.T) {
	valid := string(ev(TypeActivityCompleted, `"result":"ok"`))
	nested := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	big := func(n int) []byte {
		// A valid event of exactly n bytes (padding in an unknown member).
		head := valid[:len(valid)-1] + `,"pad":"`
		pad := n - len(head) - 2
		return []byte(head + strings.Repeat("x", pad) + `"}`)
	}
	tests := []struct {
		name  string
		raw   []byte
		field string
		// problem, when set, must be contained in the Problem text.
		problem string
	}{
		// Not a JSON object.
		{"empty", []byte(""), "payload", "not a JSON object"},
		{"whitespace only", []byte(" \n\t "), "payload", "not a JSON object"},
		{"array", []byte(`[` + valid + `]`), "payload", "not a JSON object"},
		{"string", []byte(`"event"`), "payload", "not a JSON object"},
		{"number", []byte(`42`), "payload", "not a JSON object"},
		{"null", []byte(`null`), "payload", "not a JSON object"},
		{"true", []byte(`true`), "payload", "not a JSON object"},
		{"garbage", []byte(`hello`), "payload", "not a JSON object"},
		// Invalid UTF-8 anywhere.
		{"utf8 in value", []byte(`{"event_id":1,"x":"a` + "\xff" + `"}`), "payload", "invalid UTF-8 at byte 20"},
		{"utf8 in key", []byte(`{"` + "\xc3" + `":1}`), "payload", "invalid UTF-8 at byte 2"},
		{"utf8 overlong", []byte(`{"x":"` + "\xc0\xaf" + `"}`), "payload", "invalid UTF-8 at byte 6"},
		{"utf8 surrogate", []byte(`{"x":"` + "\xed\xa0\x80" + `"}`), "payload", "invalid UTF-8 at byte 6"},
		{"utf8 truncated", []byte(`{"x":"` + "\xe2\x82"), "payload", "invalid UTF-8 at byte 6"},
		{"utf8 outside strings", []byte(valid + "\xff"), "payload", "invalid UTF-8"},
		{"utf8 in unknown type event", []byte(`{"event_id":1,"instance_id":"i","execution_id":1,"timestamp_ms":1,"type":"Future","note":"` + "\x80" + `"}`), "payload", "invalid UTF-8"},
		// Size.
		{"over 1 MiB", big(MaxPayload + 1), "payload", "over the 1 MiB limit"},
		// Depth.
		{"65 levels", []byte(valid[:len(valid)-1] + `,"deep":` + nested(64) + `}`), "payload", "nesting deeper than 64"},
		{"65 levels objects", []byte(valid[:len(valid)-1] + `,"deep":` + strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64) + `}`), "payload", "nesting deeper than 64"},
		{"deep in details", ev(TypeActivityFailed, `"details":{"Application":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`), "payload", "nesting deeper than 64"},
		{"deep non-object", []byte(nested(1000)), "payload", "not a JSON object"},
		// Required common members missing.
		{"no event_id", commonMembers("event_id", ""), "event_id", "required field missing"},
		{"no instance_id", commonMembers("instance_id", ""), "instance_id", "required field missing"},
		{"no execution_id", commonMembers("execution_id", ""), "execution_id", "required field missing"},
		{"no timestamp_ms", commonMembers("timestamp_ms", ""), "timestamp_ms", "required field missing"},
		{"no type", commonMembers("type", ""), "type", "required field missing"},
		{"empty object", []byte(`{}`), "event_id", "required field missing"},
		// Common members of the wrong JSON type.
		{"event_id string", commonMembers("event_id", `"5"`), "event_id", "got string"},
		{"event_id null", commonMembers("event_id", `null`), "event_id", "got null"},
		{"event_id bool", commonMembers("event_id", `true`), "event_id", "got boolean"},
		{"source_event_id string", commonMembers("source_event_id", `"3"`), "source_event_id", "got string"},
		{"source_event_id object", commonMembers("source_event_id", `{}`), "source_event_id", "got object"},
		{"instance_id number", commonMembers("instance_id", `7`), "instance_id", "got number"},
		{"instance_id null", commonMembers("instance_id", `null`), "instance_id", "got null"},
		{"execution_id array", commonMembers("execution_id", `[2]`), "execution_id", "got array"},
		{"timestamp_ms string", commonMembers("timestamp_ms", `"1000"`), "timestamp_ms", "got string"},
		{"timestamp_ms null", commonMembers("timestamp_ms", `null`), "timestamp_ms", "got null"},
		{"duroxide_version number", commonMembers("duroxide_version", `26`), "duroxide_version", "got number"},
		{"type number", commonMembers("type", `1`), "type", "got number"},
		{"type null", commonMembers("type", `null`), "type", "got null"},
		// Integer forms.
		{"event_id 1.0", commonMembers("event_id", `1.0`), "event_id", "without fraction or exponent, got 1.0"},
		{"event_id 1e3", commonMembers("event_id", `1e3`), "event_id", "without fraction or exponent"},
		{"event_id 1E+3", commonMembers("event_id", `1E+3`), "event_id", "without fraction or exponent"},
		{"event_id -1", commonMembers("event_id", `-1`), "event_id", "unsigned"},
		{"timestamp_ms -0", commonMembers("timestamp_ms", `-0`), "timestamp_ms", "unsigned"},
		{"timestamp_ms 2^64", commonMembers("timestamp_ms", `18446744073709551616`), "timestamp_ms", "2^64-1"},
		{"timestamp_ms huge", commonMembers("timestamp_ms", strings.Repeat("9", 500)), "timestamp_ms", "2^64-1"},
		{"execution_id 2.5", commonMembers("execution_id", `2.5`), "execution_id", "fraction"},
		{"source_event_id 2.0", commonMembers("source_event_id", `2.0`), "source_event_id", "fraction"},
		{"source_event_id -2", commonMembers("source_event_id", `-2`), "source_event_id", "unsigned"},
		{"fire_at_ms 1e12", ev(TypeTimerCreated, `"fire_at_ms":1e12`), "fire_at_ms", "fraction"},
		{"parent_id -1", ev(TypeOrchestrationStarted, `"name":"n","version":"v","input":"i","parent_id":-1`), "parent_id", "unsigned"},
		{"last_updated_at_ms 1.5", ev(TypeKeyValueSet, `"key":"k","value":"v","last_updated_at_ms":1.5`), "last_updated_at_ms", "fraction"},
		// Zero ids, instance id length.
		{"event_id 0", commonMembers("event_id", `0`), "event_id", "must be an integer >= 1, got 0"},
		{"execution_id 0", commonMembers("execution_id", `0`), "execution_id", "must be an integer >= 1, got 0"},
		{"instance_id empty", commonMembers("instance_id", `""`), "instance_id", "non-empty"},
		{"instance_id 1025 bytes", commonMembers("instance_id", `"`+strings.Repeat("a", 1025)+`"`), "instance_id", "at most 1024 bytes, got 1025"},
		{"instance_id 1025 bytes multibyte", commonMembers("instance_id", `"`+strings.Repeat("é", 512)+`a"`), "instance_id", "at most 1024 bytes"},
		// Trailing data.
		{"trailing garbage", []byte(valid + "x"), "payload", "trailing data"},
		{"two objects", []byte(valid + valid), "payload", "trailing data"},
		{"trailing comma", []byte(valid + ","), "payload", "trailing data"},
		{"trailing NUL", []byte(valid + "\x00"), "payload", "trailing data"},
		// JSON syntax.
		{"truncated", []byte(valid[:len(valid)-1]), "payload", "invalid JSON"},
		{"unterminated string", []byte(`{"a":"abc`), "payload", "unterminated string"},
		{"single quotes", []byte(`{'event_id':1}`), "payload", "invalid JSON"},
		{"member trailing comma", []byte(valid[:len(valid)-1] + `,}`), "payload", "invalid JSON"},
		{"array trailing comma", []byte(valid[:len(valid)-1] + `,"a":[1,]}`), "payload", "invalid JSON"},
		{"missing colon", []byte(`{"event_id" 1}`), "payload", "expected ':'"},
		{"missing comma", []byte(`{"event_id":1 "x":2}`), "payload", "invalid JSON"},
		{"raw newline in string", []byte(valid[:len(valid)-1] + `,"a":"x` + "\n" + `y"}`), "payload", "control character"},
		{"raw tab in string", []byte(valid[:len(valid)-1] + `,"a":"x` + "\t" + `y"}`), "payload", "control character"},
		{"bad escape", []byte(valid[:len(valid)-1] + `,"a":"\x41"}`), "payload", "invalid escape"},
		{"bad unicode escape", []byte(valid[:len(valid)-1] + `,"a":"\u12G4"}`), "payload", `\u`},
		{"short unicode escape", []byte(valid[:len(valid)-1] + `,"a":"\u12"}`), "payload", `\u`},
		{"leading zero", commonMembers("event_id", `01`), "payload", "invalid JSON"},
		{"plus sign", commonMembers("event_id", `+1`), "payload", "invalid JSON"},
		{"bare dot", commonMembers("event_id", `.5`), "payload", "invalid JSON"},
		{"dot no digits", commonMembers("event_id", `1.`), "payload", "invalid JSON"},
		{"exponent no digits", commonMembers("event_id", `1e`), "payload", "invalid JSON"},
		{"minus alone", commonMembers("event_id", `-`), "payload", "invalid JSON"},
		{"NaN", commonMembers("event_id", `NaN`), "payload", "invalid JSON"},
		{"bad literal", commonMembers("source_event_id", `nul`), "payload", "invalid JSON"},
		{"True", commonMembers("source_event_id", `True`), "payload", "invalid JSON"},
		{"comment", []byte(`{/*c*/"event_id":1}`), "payload", "invalid JSON"},
		{"unquoted key", []byte(`{event_id:1}`), "payload", "invalid JSON"},
		{"non-ws separator", []byte("{\"event_id\":1,\v\"x\":1}"), "payload", "invalid JSON"},
		{"BOM", append([]byte("\ufeff"), valid...), "payload", "not a JSON object"},
		// ErrorDetails.
		{"details missing", ev(TypeActivityFailed, ``), "details", "required field missing"},
		{"details null", ev(TypeActivityFailed, `"details":null`), "details", "got null"},
		{"details string", ev(TypeActivityFailed, `"details":"boom"`), "details", "got string"},
		{"details empty", ev(TypeActivityFailed, `"details":{}`), "details", "got {}"},
		{"details variant not object", ev(TypeActivityFailed, `"details":{"Application":"x"}`), "details.Application", "must be an object"},
		{"details kind number", ev(TypeActivityFailed, `"details":{"Application":{"kind":5}}`), "details.Application.kind", "got number"},
		{"details kind empty object", ev(TypeActivityFailed, `"details":{"Application":{"kind":{}}}`), "details.Application.kind", "got {}"},
		{"details message number", ev(TypeActivityFailed, `"details":{"Application":{"kind":"Panicked","message":1}}`), "details.Application.message", "got number"},
		{"details retryable string", ev(TypeActivityFailed, `"details":{"Application":{"kind":"Panicked","retryable":"yes"}}`), "details.Application.retryable", "got string"},
		{"details cancelled not object", ev(TypeActivityFailed, `"details":{"Application":{"kind":{"Cancelled":"r"}}}`), "details.Application.kind.Cancelled", "must be an object"},
		{"details cancelled reason number", ev(TypeActivityFailed, `"details":{"Application":{"kind":{"Cancelled":{"reason":1}}}}`), "details.Application.kind.Cancelled.reason", "got number"},
		{"details operation number", ev(TypeActivityFailed, `"details":{"Infrastructure":{"operation":1}}`), "details.Infrastructure.operation", "got number"},
		{"details infra retryable number", ev(TypeActivityFailed, `"details":{"Infrastructure":{"retryable":1}}`), "details.Infrastructure.retryable", "got number"},
		{"details config kind object", ev(TypeActivityFailed, `"details":{"Configuration":{"kind":{}}}`), "details.Configuration.kind", "got object"},
		{"details config message bool", ev(TypeActivityFailed, `"details":{"Configuration":{"kind":"Nondeterminism","message":false}}`), "details.Configuration.message", "got boolean"},
		{"details poison not object", ev(TypeActivityFailed, `"details":{"Poison":[]}`), "details.Poison", "must be an object"},
		{"details poison message number", ev(TypeActivityFailed, `"details":{"Poison":{"message":3}}`), "details.Poison.message", "got number"},
		// A duplicate whose last value is bad is bad.
		{"duplicate last bad", []byte(`{"event_id":1,"event_id":0,"instance_id":"i","execution_id":1,"timestamp_ms":1,"type":"X"}`), "event_id", "got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			de := decodeErr(t, tt.raw)
			if de.Field != tt.field {
				t.Errorf("Field = %q, want %q (error %q)", de.Field, tt.field, de.Error())
			}
			if !strings.Contains(de.Problem, tt.problem) {
				t.Errorf("Problem = %q, want it to contain %q", de.Problem, tt.problem)
			}
			checkErrorText(t, de)
		})
	}
	t.Run("unknown type with bad common fields", func(t *testing.T) {
		for _, c := range []struct{ raw, field string }{
			{`{"event_id":0,"instance_id":"i","execution_id":1,"timestamp_ms":1,"type":"Future"}`, "event_id"},
			{`{"event_id":1,"instance_id":"","execution_id":1,"timestamp_ms":1,"type":"Future"}`, "instance_id"},
			{`{"event_id":1,"instance_id":"i","execution_id":1,"type":"Future"}`, "timestamp_ms"},
			{`{"event_id":1,"instance_id":"i","execution_id":1,"timestamp_ms":1.5,"type":"Future"}`, "timestamp_ms"},
		} {
			if de := decodeErr(t, []byte(c.raw)); de.Field != c.field {
				t.Errorf("%s: Field = %q, want %q", c.raw, de.Field, c.field)
			}
		}
	})
	t.Run("boundaries accepted", func(t *testing.T) {
		if e := mustDecode(t, big(MaxPayload)); len(e.Raw) != MaxPayload {
			t.Errorf("payload of exactly 1 MiB: len %d", len(e.Raw))
		}
		mustDecode(t, []byte(valid[:len(valid)-1]+`,"deep":`+nested(63)+`}`))
		mustDecode(t, commonMembers("instance_id", `"`+strings.Repeat("a", 1024)+`"`))
		// 1024 bytes after unescaping, 6144 as written.
		e := mustDecode(t, commonMembers("instance_id", `"`+strings.Repeat(`\u0041`, 1024)+`"`))
		if e.InstanceID != strings.Repeat("A", 1024) {
			t.Errorf("escaped instance id decoded to %q", e.InstanceID)
		}
		e = mustDecode(t, commonMembers("timestamp_ms", `18446744073709551615`))
		if e.TimestampMs != 1<<64-1 {
			t.Errorf("max u64 decoded to %d", e.TimestampMs)
		}
	})
}

// checkErrorText checks the reason is fit for a NATS header: one line,
// bounded, "<field>: <problem>".
func checkErrorText(t *testing.T, de *DecodeError) {
	t.Helper()
	s := de.Error()
	if strings.ContainsAny(s, "\r\n") {
		t.Errorf("error text has a line break: %q", s)
	}
	if len(s) > maxErrorLen {
		t.Errorf("error text is %d bytes, over %d", len(s), maxErrorLen)
	}
	if !strings.HasPrefix(s, de.Field+": ") {
		t.Errorf("error text %q does not start with the field", s)
	}
}

func TestDecodeErrorText(t *testing.T) {
	de := decodeErr(t, commonMembers("event_id", "0"))
	if got, want := de.Error(), "event_id: must be an integer >= 1, got 0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	raw := []byte(`{"event_id":1,"x":"` + "\xff" + `"}`)
	if got, want := decodeErr(t, raw).Error(), "payload: invalid UTF-8 at byte 19"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Long values are cut.
	de = decodeErr(t, commonMembers("timestamp_ms", strings.Repeat("1", 100000)))
	checkErrorText(t, de)
	if len(de.Error()) > 120 {
		t.Errorf("error for a long number is %d bytes: %q", len(de.Error()), de.Error())
	}
	// A problem text with line breaks and excess length is still one bounded line.
	long := &DecodeError{Field: "x", Problem: strings.Repeat("é\n", 400)}
	checkErrorText(t, long)
	// Syntax errors describe unprintable bytes without emitting them.
	de = decodeErr(t, []byte("{\"a\":1\x01}"))
	checkErrorText(t, de)
	if !strings.Contains(de.Problem, "0x01") {
		t.Errorf("problem %q does not name the byte", de.Problem)
	}
}

func TestDecodeNotBad(t *testing.T) {
	t.Run("source_event_id absent is null", func(t *testing.T) {
		e := mustDecode(t, commonMembers("source_event_id", ""))
		if e.SourceEventID.Valid {
			t.Errorf("SourceEventID = %+v, want invalid", e.SourceEventID)
		}
		e = mustDecode(t, commonMembers("source_event_id", "null"))
		if e.SourceEventID.Valid {
			t.Errorf("SourceEventID = %+v, want invalid", e.SourceEventID)
		}
		e = mustDecode(t, commonMembers("source_event_id", "0"))
		if e.SourceEventID != (OptUint{Value: 0, Valid: true}) {
			t.Errorf("SourceEventID = %+v, want 0", e.SourceEventID)
		}
	})
	t.Run("duroxide_version absent or null", func(t *testing.T) {
		for _, v := range []string{"", "null"} {
			if e := mustDecode(t, commonMembers("duroxide_version", v)); e.DuroxideVersion != "" {
				t.Errorf("DuroxideVersion = %q", e.DuroxideVersion)
			}
		}
	})
	t.Run("unknown extra fields of every JSON type", func(t *testing.T) {
		raw := ev(TypeActivityCompleted, `"result":"ok","x1":null,"x2":true,"x3":false,"x4":-1.5e-7,"x5":"s\n","x6":[1,[2,{"a":[]}]],"x7":{"k":{"v":null}},"":0`)
		e := mustDecode(t, raw)
		want := base(TypeActivityCompleted)
		want.Result, want.Raw = "ok", raw
		if !reflect.DeepEqual(e, want) {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("duplicate keys: the last wins", func(t *testing.T) {
		raw := []byte(`{"event_id":0,"event_id":9,"instance_id":"","instance_id":"b","execution_id":1,"timestamp_ms":"x","timestamp_ms":7,` +
			`"type":"Nope","type":"ActivityScheduled","name":1,"name":"A","input":"i","tag":5,"tag":null}`)
		e := mustDecode(t, raw)
		if e.EventID != 9 || e.InstanceID != "b" || e.TimestampMs != 7 || e.Type != TypeActivityScheduled || e.Name != "A" || e.Tag.Valid {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("unknown type", func(t *testing.T) {
		raw := []byte(`{"event_id":7,"source_event_id":null,"instance_id":"chat-1","execution_id":1,"timestamp_ms":5,"duroxide_version":"9.9","type":"FutureEventKind","name":5,"input":{"x":[1]},"details":"x","fire_at_ms":-1.5}`)
		e := mustDecode(t, raw)
		want := Event{EventID: 7, InstanceID: "chat-1", ExecutionID: 1, TimestampMs: 5, DuroxideVersion: "9.9", Type: "FutureEventKind", Raw: raw}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("got %+v\nwant %+v", e, want)
		}
		if got := Marshal(&e); !bytes.Equal(got, raw) {
			t.Errorf("Marshal of an unknown type = %s, want Raw", got)
		}
	})
	t.Run("unknown type spelled like a known one", func(t *testing.T) {
		for _, typ := range []string{"activityCompleted", "ActivityCompleted ", "", "Activity\u00a0Completed"} {
			raw := commonMembers("type", `"`+typ+`"`)
			e := mustDecode(t, raw)
			if e.Known || e.Type != typ {
				t.Errorf("type %q: Known=%v Type=%q", typ, e.Known, e.Type)
			}
		}
	})
	t.Run("escaped names and type", func(t *testing.T) {
		raw := []byte(`{"event\u005fid":4,"instance_id":"i","execution_id":1,"timestamp_ms":1,"type":"Activity\u0043ompleted","\u0072esult":"r"}`)
		e := mustDecode(t, raw)
		if e.EventID != 4 || e.Type != TypeActivityCompleted || !e.Known || e.Result != "r" {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("whitespace", func(t *testing.T) {
		raw := []byte(" \r\n\t{ \"event_id\" :\n1 ,\t\"instance_id\"\r: \"i\" , \"execution_id\":1,\"timestamp_ms\":1,\"type\":\"KeyValuesCleared\" } \n")
		e := mustDecode(t, raw)
		if e.Type != TypeKeyValuesCleared || e.EventID != 1 {
			t.Errorf("got %+v", e)
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, ev(TypeExternalEvent, `"name":"n","data":"d"`), "", "    "); err != nil {
			t.Fatal(err)
		}
		if e := mustDecode(t, buf.Bytes()); e.Name != "n" || e.Data != "d" {
			t.Errorf("indented: got %+v", e)
		}
	})
	t.Run("non-ASCII", func(t *testing.T) {
		raw := ev(TypeExternalEvent, `"name":"名前","data":"😀 \u2028 é"`)
		e := mustDecode(t, raw)
		if e.Name != "名前" || e.Data != "😀 \u2028 é" {
			t.Errorf("got %q %q", e.Name, e.Data)
		}
	})
}

func TestDecodeStringEscapes(t *testing.T) {
	// Compared with encoding/json, whose behaviour (lone surrogates become
	// U+FFFD) Decode matches.
	cases := []string{
		``, `plain`, `\"\\\/\b\f\n\r\t`, `\u0000`, `\u001f`, `\u00e9`, `\u20AC`, `\uFFFF`,
		`\uD83D\uDE00`, `\ud83d\ude00`, `a\uD83D`, `\uD83Dx`, `\uDE00`, `\uD83D\u0041`,
		`\uD83D\uD83D\uDE00`, `\uDE00\uD83D`, `\uD83D\\uDE00`, `é😀`, `x\u0022y`,
		`\u005C\u005c`, strings.Repeat(`\n`, 100), `long ` + strings.Repeat("abcdefgh", 40) + `\t`,
	}
	for _, c := range cases {
		var want string
		if err := json.Unmarshal([]byte(`"`+c+`"`), &want); err != nil {
			t.Fatalf("encoding/json rejects %q: %v", c, err)
		}
		for _, field := range []string{"name", "data"} {
			raw := ev(TypeExternalEvent, `"name":"`+pick(field == "name", c, "n")+`","data":"`+pick(field == "data", c, "d")+`"`)
			e := mustDecode(t, raw)
			got := e.Name
			if field == "data" {
				got = e.Data
			}
			if got != want {
				t.Errorf("%s %q: got %q, want %q", field, c, got, want)
			}
		}
		// Keys are unescaped too, and a long escaped unknown key is skipped.
		raw := []byte(`{"` + c + `":1,"event_id":1,"instance_id":"` + pick(c == "", "x", c) + `","execution_id":1,"timestamp_ms":1,"type":"T"}`)
		e := mustDecode(t, raw)
		var wantID string
		_ = json.Unmarshal([]byte(`"`+pick(c == "", "x", c)+`"`), &wantID)
		if e.InstanceID != wantID {
			t.Errorf("instance_id %q: got %q, want %q", c, e.InstanceID, wantID)
		}
	}
}

func TestErrorDetailsForms(t *testing.T) {
	tests := []struct {
		name    string
		details string
		want    ErrorDetails
	}{
		{"application", `{"Application":{"kind":"ActivityFailed","message":"404 not found","retryable":false}}`,
			ErrorDetails{"application", "ActivityFailed", "404 not found", false}},
		{"application retryable", `{"Application":{"kind":"Panicked","message":"oops","retryable":true}}`,
			ErrorDetails{"application", "Panicked", "oops", true}},
		{"application cancelled", `{"Application":{"kind":{"Cancelled":{"reason":"user requested"}},"message":"ignored","retryable":false}}`,
			ErrorDetails{"application", "Cancelled", "canceled: user requested", false}},
		{"application cancelled no reason", `{"Application":{"kind":{"Cancelled":{}},"message":""}}`,
			ErrorDetails{"application", "Cancelled", "canceled: ", false}},
		{"application other struct kind", `{"Application":{"kind":{"TimedOut":{"after_ms":5}},"message":"slow"}}`,
			ErrorDetails{"application", "TimedOut", "slow", false}},
		{"application missing members", `{"Application":{}}`, ErrorDetails{"application", "", "", false}},
		{"application nulls", `{"Application":{"kind":null,"message":null,"retryable":null}}`, ErrorDetails{"application", "", "", false}},
		{"application extra members", `{"Application":{"kind":"Panicked","message":"m","retryable":true,"backtrace":["a"],"code":7}}`,
			ErrorDetails{"application", "Panicked", "m", true}},
		{"application duplicate members", `{"Application":{"kind":"A","kind":"B","message":"m1","message":"m2"}}`,
			ErrorDetails{"application", "B", "m2", false}},
		{"infrastructure", `{"Infrastructure":{"operation":"fetch","message":"connection reset","retryable":true}}`,
			ErrorDetails{"infrastructure", "fetch", "connection reset", true}},
		{"infrastructure no retryable", `{"Infrastructure":{"operation":"db","message":"x"}}`,
			ErrorDetails{"infrastructure", "db", "x", false}},
		{"configuration", `{"Configuration":{"kind":"Nondeterminism","resource":"ActivityX","message":"history mismatch"}}`,
			ErrorDetails{"configuration", "Nondeterminism", "history mismatch", false}},
		{"configuration null message", `{"Configuration":{"kind":"Nondeterminism","resource":"r","message":null}}`,
			ErrorDetails{"configuration", "Nondeterminism", "", false}},
		{"configuration unregistered", `{"Configuration":{"kind":"UnregisteredOrchestration","resource":"Foo"}}`,
			ErrorDetails{"configuration", "UnregisteredOrchestration", "", false}},
		{"poison", `{"Poison":{"attempt_count":11,"max_attempts":10,"message_type":{"Activity":{"name":"A","id":3}},"message":"too many attempts"}}`,
			ErrorDetails{"poison", "Poison", "too many attempts", false}},
		{"unknown variant", `{"Timeout":{"kind":"x","message":"m","retryable":true}}`, ErrorDetails{"timeout", "", "", false}},
		{"unknown variant scalar", `{"RateLimited":5}`, ErrorDetails{"ratelimited", "", "", false}},
		{"unknown variant lower-cased unicode", `{"ÜBER":null}`, ErrorDetails{"über", "", "", false}},
		{"several keys: the first", `{"Poison":{"message":"p"},"Application":{"kind":"Panicked"}}`, ErrorDetails{"poison", "Poison", "p", false}},
		{"escaped key", `{"Applic\u0061tion":{"kind":"Panicked"}}`, ErrorDetails{"application", "Panicked", "", false}},
		{"escaped cancelled", `{"Application":{"kind":{"Cancell\u0065d":{"reason":"r\n"}}}}`, ErrorDetails{"application", "Cancelled", "canceled: r\n", false}},
		{"whitespace", " {\n \"Infrastructure\" : { \"operation\" : \"op\" , \"retryable\" : true } } ", ErrorDetails{"infrastructure", "op", "", true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := ev(TypeOrchestrationFailed, `"details":`+tt.details)
			e := mustDecode(t, raw)
			if e.Details == nil || *e.Details != tt.want {
				t.Errorf("Details = %+v, want %+v", e.Details, tt.want)
			}
			if got := strings.TrimSpace(tt.details); string(e.DetailsRaw) != got {
				t.Errorf("DetailsRaw = %s, want %s", e.DetailsRaw, got)
			}
			// Marshal keeps the original form...
			if m := Marshal(&e); !bytes.Contains(m, []byte(`"details":`+strings.TrimSpace(tt.details)+`}`)) {
				t.Errorf("Marshal lost the original details: %s", m)
			}
			// ...and a synthesised one projects to the same.
			e.DetailsRaw = nil
			e2 := mustDecode(t, Marshal(&e))
			if *e2.Details != tt.want {
				t.Errorf("synthesised details project to %+v, want %+v (%s)", *e2.Details, tt.want, e2.DetailsRaw)
			}
		})
	}
}
