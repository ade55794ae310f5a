package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// The wire forms EVENTS.md shows, byte for byte.
func TestNoticeMarshalMatchesContractExamples(t *testing.T) {
	cases := []struct {
		n     Notice
		wire  string
		msgID string
	}{
		{InstanceDeleted("order-1", 1764192000000),
			`{"type":"InstanceDeleted","instance_id":"order-1","timestamp_ms":1764192000000}`,
			"order-1/deleted/1764192000000"},
		{ExecutionsPruned("poller", []uint64{3, 1, 2, 2}, 1764192000000),
			`{"type":"ExecutionsPruned","instance_id":"poller","execution_ids":[1,2,3],"timestamp_ms":1764192000000}`,
			"poller/pruned/1-3/1764192000000"},
		{InstanceDeleted("a\"b\n", 7), `{"type":"InstanceDeleted","instance_id":"a\"b\n","timestamp_ms":7}`, "a\"b\n/deleted/7"},
	}
	for _, c := range cases {
		if got := string(c.n.Marshal()); got != c.wire {
			t.Errorf("Marshal = %s, want %s", got, c.wire)
		}
		if got := c.n.MsgID(); got != c.msgID {
			t.Errorf("MsgID = %q, want %q", got, c.msgID)
		}
		back, err := DecodeNotice([]byte(c.wire))
		if err != nil {
			t.Fatalf("DecodeNotice(%s): %v", c.wire, err)
		}
		if !reflect.DeepEqual(back, c.n) {
			t.Errorf("round trip: %+v, want %+v", back, c.n)
		}
	}
	if s := InstanceDeleted("a.b c", 1).Subject(); s != "duroxide.history.a%2Eb%20c" {
		t.Errorf("Subject = %q", s)
	}
}

func TestExecutionsPrunedDoesNotTouchItsArgument(t *testing.T) {
	ids := []uint64{5, 4}
	_ = ExecutionsPruned("x", ids, 1)
	if ids[0] != 5 || ids[1] != 4 {
		t.Fatalf("argument changed: %v", ids)
	}
}

func TestReincarnatedMsgID(t *testing.T) {
	if got := ReincarnatedMsgID("order-1", 1, 1, 0); got != "order-1/1/1" {
		t.Errorf("never deleted: %q", got)
	}
	if got := ReincarnatedMsgID("order-1", 2, 7, 1764192000000); got != "order-1/2/7/1764192000000" {
		t.Errorf("reused id: %q", got)
	}
}

func TestDecodeNoticeAccepts(t *testing.T) {
	cases := map[string]Notice{
		// Unknown members, whitespace, duplicate keys (last wins), ids in the given order.
		` {"type":"ExecutionsPruned","x":{"y":[1]},"instance_id":"p","execution_ids":[ 9 , 2 ],"timestamp_ms":0,"timestamp_ms":5} `: {
			Type: TypeExecutionsPruned, InstanceID: "p", ExecutionIDs: []uint64{9, 2}, TimestampMs: 5},
		// execution_ids is not a member of InstanceDeleted: ignored whatever it holds.
		`{"type":"InstanceDeleted","instance_id":"\u00e9","execution_ids":[],"timestamp_ms":18446744073709551615}`: {
			Type: TypeInstanceDeleted, InstanceID: "é", TimestampMs: 1<<64 - 1},
		`{"type":"Instance\u0044eleted","instance_id":"i","timestamp_ms":1}`: {Type: TypeInstanceDeleted, InstanceID: "i", TimestampMs: 1},
	}
	for in, want := range cases {
		got, err := DecodeNotice([]byte(in))
		if err != nil {
			t.Errorf("DecodeNotice(%s): %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("DecodeNotice(%s) = %+v, want %+v", in, got, want)
		}
	}
}

// noticeRejects are bad notices with the field the error must name.
var noticeRejects = []struct{ in, field string }{
	{``, "payload"},
	{`[]`, "payload"},
	{`{"type":"InstanceDeleted","instance_id":"i","timestamp_ms":1} x`, "payload"},
	{"{\"type\":\"InstanceDeleted\",\"instance_id\":\"\xff\",\"timestamp_ms\":1}", "payload"},
	{`{"instance_id":"i","timestamp_ms":1}`, "type"},
	{`{"type":"OrchestrationStarted","instance_id":"i","timestamp_ms":1}`, "type"},
	{`{"type":1,"instance_id":"i","timestamp_ms":1}`, "type"},
	{`{"type":"InstanceDeleted","timestamp_ms":1}`, "instance_id"},
	{`{"type":"InstanceDeleted","instance_id":"","timestamp_ms":1}`, "instance_id"},
	{`{"type":"InstanceDeleted","instance_id":null,"timestamp_ms":1}`, "instance_id"},
	{`{"type":"InstanceDeleted","instance_id":"` + strings.Repeat("x", MaxInstanceIDBytes+1) + `","timestamp_ms":1}`, "instance_id"},
	{`{"type":"InstanceDeleted","instance_id":"i"}`, "timestamp_ms"},
	{`{"type":"InstanceDeleted","instance_id":"i","timestamp_ms":"1"}`, "timestamp_ms"},
	{`{"type":"InstanceDeleted","instance_id":"i","timestamp_ms":1.0}`, "timestamp_ms"},
	{`{"type":"InstanceDeleted","instance_id":"i","timestamp_ms":1e3}`, "timestamp_ms"},
	{`{"type":"InstanceDeleted","instance_id":"i","timestamp_ms":-1}`, "timestamp_ms"},
	{`{"type":"InstanceDeleted","instance_id":"i","timestamp_ms":18446744073709551616}`, "timestamp_ms"},
	{`{"type":"ExecutionsPruned","instance_id":"i","timestamp_ms":1}`, "execution_ids"},
	{`{"type":"ExecutionsPruned","instance_id":"i","execution_ids":[],"timestamp_ms":1}`, "execution_ids"},
	{`{"type":"ExecutionsPruned","instance_id":"i","execution_ids":null,"timestamp_ms":1}`, "execution_ids"},
	{`{"type":"ExecutionsPruned","instance_id":"i","execution_ids":1,"timestamp_ms":1}`, "execution_ids"},
	{`{"type":"ExecutionsPruned","instance_id":"i","execution_ids":[1,0],"timestamp_ms":1}`, "execution_ids[1]"},
	{`{"type":"ExecutionsPruned","instance_id":"i","execution_ids":[1,"2"],"timestamp_ms":1}`, "execution_ids[1]"},
	{`{"type":"ExecutionsPruned","instance_id":"i","execution_ids":[2.5],"timestamp_ms":1}`, "execution_ids[0]"},
	{`{"type":"ExecutionsPruned","instance_id":"i","execution_ids":[-1],"timestamp_ms":1}`, "execution_ids[0]"},
	{`{"type":"ExecutionsPruned","instance_id":"i","execution_ids":[[1]],"timestamp_ms":1}`, "execution_ids[0]"},
}

func TestDecodeNoticeRejects(t *testing.T) {
	for _, c := range noticeRejects {
		_, err := DecodeNotice([]byte(c.in))
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("DecodeNotice(%.80s) = %v, want a *DecodeError", c.in, err)
			continue
		}
		if de.Field != c.field {
			t.Errorf("DecodeNotice(%.80s): field %q (%v), want %q", c.in, de.Field, err, c.field)
		}
	}
}

// FuzzDecodeNotice: DecodeNotice never panics; a rejection is a one-line
// bounded *DecodeError; an accepted notice is valid JSON that keeps the
// contract's invariants, and Marshal then DecodeNotice gives it back.
func FuzzDecodeNotice(f *testing.F) {
	f.Add([]byte(`{"type":"InstanceDeleted","instance_id":"order-1","timestamp_ms":1764192000000}`))
	f.Add([]byte(`{"type":"ExecutionsPruned","instance_id":"poller","execution_ids":[1,2,3],"timestamp_ms":1764192000000}`))
	for _, c := range noticeRejects {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := DecodeNotice(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError: %v", err, err)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || len(msg) > maxErrorLen || !utf8.ValidString(msg) {
				t.Fatalf("bad error text %q", msg)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if !IsNoticeType(n.Type) || n.InstanceID == "" || len(n.InstanceID) > MaxInstanceIDBytes {
			t.Fatalf("accepted notice breaks the contract: %+v", n)
		}
		if n.Type == TypeExecutionsPruned && (len(n.ExecutionIDs) == 0 || slicesContainsZero(n.ExecutionIDs)) {
			t.Fatalf("accepted bad execution_ids: %+v", n)
		}
		if n.Type == TypeInstanceDeleted && n.ExecutionIDs != nil {
			t.Fatalf("InstanceDeleted with execution ids: %+v", n)
		}
		back, err := DecodeNotice(n.Marshal())
		if err != nil || !reflect.DeepEqual(back, n) {
			t.Fatalf("round trip: %+v, %v, want %+v", back, err, n)
		}
	})
}

func slicesContainsZero(ids []uint64) bool {
	for _, id := range ids {
		if id == 0 {
			return true
		}
	}
	return false
}

// A notice is not an event: the event decoder refuses it (it has no
// event_id), so nothing can mistake one for the other.
func TestNoticeIsNotAnEvent(t *testing.T) {
	if _, err := Decode(InstanceDeleted("i", 1).Marshal()); err == nil {
		t.Fatal("Decode accepted a notice")
	}
}
