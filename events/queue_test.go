package events

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeQueueSnapshot(t *testing.T) {
	good := []struct {
		raw  string
		want QueueSnapshot
	}{
		{`{"orchestrator_queue":1,"worker_queue":2,"timer_queue":3,"timestamp_ms":1764105600000}`, QueueSnapshot{1, 2, 3, 1764105600000}},
		{` {"timestamp_ms":0,"timer_queue":0,"worker_queue":0,"orchestrator_queue":18446744073709551615,"extra":{"x":[1]}} `, QueueSnapshot{18446744073709551615, 0, 0, 0}},
		{`{"orchestrator_queue":1,"orchestrator_queue":5,"worker_queue":2,"timer_queue":3,"timestamp_ms":4}`, QueueSnapshot{5, 2, 3, 4}},
	}
	for _, tt := range good {
		got, err := DecodeQueueSnapshot([]byte(tt.raw))
		if err != nil || got != tt.want {
			t.Errorf("DecodeQueueSnapshot(%s) = %+v, %v; want %+v", tt.raw, got, err, tt.want)
		}
	}
	bad := []struct{ raw, field string }{
		{``, "payload"},
		{`[]`, "payload"},
		{`{"orchestrator_queue":1,"worker_queue":2,"timer_queue":3,"timestamp_ms":4} x`, "payload"},
		{`{"orchestrator_queue":1,"worker_queue":2,"timer_queue":3,"timestamp_ms":4,"x":"` + "\xff" + `"}`, "payload"},
		{`{"orchestrator_queue":1,"worker_queue":2,"timer_queue":3,"timestamp_ms":4,"x":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, "payload"},
		{`{"worker_queue":2,"timer_queue":3,"timestamp_ms":4}`, "orchestrator_queue"},
		{`{"orchestrator_queue":1,"timer_queue":3,"timestamp_ms":4}`, "worker_queue"},
		{`{"orchestrator_queue":1,"worker_queue":2,"timestamp_ms":4}`, "timer_queue"},
		{`{"orchestrator_queue":1,"worker_queue":2,"timer_queue":3}`, "timestamp_ms"},
		{`{"orchestrator_queue":"1","worker_queue":2,"timer_queue":3,"timestamp_ms":4}`, "orchestrator_queue"},
		{`{"orchestrator_queue":1,"worker_queue":null,"timer_queue":3,"timestamp_ms":4}`, "worker_queue"},
		{`{"orchestrator_queue":1,"worker_queue":2,"timer_queue":-3,"timestamp_ms":4}`, "timer_queue"},
		{`{"orchestrator_queue":1,"worker_queue":2,"timer_queue":3,"timestamp_ms":4.0}`, "timestamp_ms"},
		{`{"orchestrator_queue":1e1,"worker_queue":2,"timer_queue":3,"timestamp_ms":4}`, "orchestrator_queue"},
		{`{"orchestrator_queue":18446744073709551616,"worker_queue":2,"timer_queue":3,"timestamp_ms":4}`, "orchestrator_queue"},
	}
	for _, tt := range bad {
		_, err := DecodeQueueSnapshot([]byte(tt.raw))
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("DecodeQueueSnapshot(%s) err = %v, want a *DecodeError", tt.raw, err)
			continue
		}
		if de.Field != tt.field {
			t.Errorf("DecodeQueueSnapshot(%s): Field %q, want %q (%v)", tt.raw, de.Field, tt.field, err)
		}
	}
	big := `{"orchestrator_queue":1,"worker_queue":2,"timer_queue":3,"timestamp_ms":4,"pad":"` + strings.Repeat("x", MaxPayload) + `"}`
	if _, err := DecodeQueueSnapshot([]byte(big)); err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("oversized snapshot: err = %v", err)
	}
}
