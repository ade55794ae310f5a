package events

import (
	"errors"
	"reflect"
	"testing"
)

// noticeSeeds are notice payloads, good and bad, for DecodeMessage's tests
// and fuzzer.
var noticeSeeds = []string{
	`{"type":"InstanceDeleted","instance_id":"order-1","timestamp_ms":1764192000000}`,
	`{"type":"ExecutionsPruned","instance_id":"poller","execution_ids":[1,2,3],"timestamp_ms":1764192000000}`,
	`{"type":"Instance\u0044eleted","instance_id":"a","timestamp_ms":1}`,
	`{"timestamp_ms":5,"instance_id":"x","type":"ExecutionsPruned","execution_ids":[2],"extra":{"a":[1]}}`,
	`{"type":"InstanceDeleted","instance_id":"order-1"}`,
	`{"type":"InstanceDeleted","instance_id":"","timestamp_ms":1}`,
	`{"type":"ExecutionsPruned","instance_id":"p","execution_ids":[],"timestamp_ms":1}`,
	`{"type":"ExecutionsPruned","instance_id":"p","execution_ids":[0],"timestamp_ms":1}`,
	`{"type":"ExecutionsPruned","instance_id":"p","execution_ids":[1.0],"timestamp_ms":1}`,
	`{"type":"InstanceDeleted","instance_id":"p","timestamp_ms":-1}`,
	`{"type":"InstanceDeleted","instance_id":"p","timestamp_ms":1,"event_id":1,"execution_id":1}`,
}

// DecodeMessage agrees with Decode on every fixture event and with
// DecodeNotice on every notice, accepted or rejected.
func TestDecodeMessageDispatches(t *testing.T) {
	for _, l := range fixtureLines(t) {
		want, werr := Decode(l.raw)
		m, err := DecodeMessage(l.raw)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%s: DecodeMessage err %v, Decode err %v", l.raw, err, werr)
		}
		if err != nil {
			continue
		}
		if m.IsNotice || !reflect.DeepEqual(m.Event, want) {
			t.Fatalf("%s: DecodeMessage = %+v, want event %+v", l.raw, m, want)
		}
		if m.InstanceID() != want.InstanceID {
			t.Fatalf("InstanceID = %q", m.InstanceID())
		}
	}
	accepted := 0
	for _, s := range noticeSeeds {
		want, werr := DecodeNotice([]byte(s))
		m, err := DecodeMessage([]byte(s))
		if (err == nil) != (werr == nil) {
			t.Fatalf("%s: DecodeMessage err %v, DecodeNotice err %v", s, err, werr)
		}
		if err != nil {
			if err.Error() != werr.Error() {
				t.Fatalf("%s: error %q, DecodeNotice says %q", s, err, werr)
			}
			continue
		}
		accepted++
		if !m.IsNotice || !reflect.DeepEqual(m.Notice, want) || m.InstanceID() != want.InstanceID {
			t.Fatalf("%s: DecodeMessage = %+v, want notice %+v", s, m, want)
		}
	}
	if accepted != 5 {
		t.Fatalf("%d seed notices accepted, want 5", accepted)
	}
}

// Decode keeps refusing notices: a notice is not an event.
func TestDecodeStillRefusesNotices(t *testing.T) {
	if _, err := Decode([]byte(noticeSeeds[0])); err == nil {
		t.Fatal("Decode accepted an InstanceDeleted notice")
	}
}

// FuzzDecodeMessage: DecodeMessage is exactly Decode for anything that is
// not a notice and exactly DecodeNotice for what is; it never panics.
func FuzzDecodeMessage(f *testing.F) {
	for _, l := range fixtureLines(f) {
		f.Add(l.raw)
	}
	for _, s := range append(append([]string(nil), malformedSeeds...), noticeSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError: %v", err, err)
			}
		}
		e, eerr := Decode(data)
		n, nerr := DecodeNotice(data)
		switch {
		case err == nil && m.IsNotice:
			if nerr != nil || !reflect.DeepEqual(m.Notice, n) {
				t.Fatalf("notice %+v, DecodeNotice %+v, %v", m.Notice, n, nerr)
			}
		case err == nil:
			if eerr != nil || !reflect.DeepEqual(m.Event, e) {
				t.Fatalf("event %+v, Decode %+v, %v", m.Event, e, eerr)
			}
		default:
			if eerr == nil && nerr == nil {
				t.Fatalf("rejected %q (%v) that Decode and DecodeNotice accept", data, err)
			}
			if eerr == nil && !IsNoticeType(e.Type) {
				t.Fatalf("rejected event %q that Decode accepts: %v", data, err)
			}
			if nerr == nil {
				t.Fatalf("rejected notice %q that DecodeNotice accepts: %v", data, err)
			}
		}
	})
}
