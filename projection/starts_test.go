package projection

import (
	"testing"

	"github.com/duroscope/duroscope/events"
)

// TestStarts checks Rows.Starts: one entry per execution whose
// OrchestrationStarted is event 1, whatever the delivery order, and none for
// an execution whose Started is missing or at another position.
func TestStarts(t *testing.T) {
	tests := []struct {
		name string
		h    []events.Event
		want []StartRow
	}{
		{
			name: "no Started yet",
			h:    []events.Event{ev(1, 2, 110, tA, name("Charge"))},
			want: nil,
		},
		{
			name: "one execution",
			h: []events.Event{
				ev(1, 1, 100, tS, name("Order"), version("1.0")),
				ev(1, 2, 110, tA, name("Charge")),
			},
			want: []StartRow{{ExecutionID: 1, OrchestrationName: "Order", OrchestrationVersion: "1.0", TimestampMs: 100}},
		},
		{
			name: "continue-as-new with a new version, delivered backwards",
			h: []events.Event{
				ev(2, 1, 200, tS, name("Order"), version("2.0")),
				ev(1, 2, 150, events.TypeOrchestrationContinuedAsNew),
				ev(1, 1, 100, tS, name("Order"), version("1.0")),
			},
			want: []StartRow{
				{ExecutionID: 1, OrchestrationName: "Order", OrchestrationVersion: "1.0", TimestampMs: 100},
				{ExecutionID: 2, OrchestrationName: "Order", OrchestrationVersion: "2.0", TimestampMs: 200},
			},
		},
		{
			name: "Started at another position is not a start",
			h: []events.Event{
				ev(1, 3, 100, tS, name("Odd"), version("1")),
				ev(2, 1, 200, tS, name("Order"), version("2")),
			},
			want: []StartRow{{ExecutionID: 2, OrchestrationName: "Order", OrchestrationVersion: "2", TimestampMs: 200}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Derive(tc.h)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "starts", r.Starts, tc.want)
			all, err := DeriveAll(tc.h)
			if err != nil || len(all) != 1 {
				t.Fatalf("DeriveAll: %v (%d rows)", err, len(all))
			}
			eq(t, "starts via DeriveAll", all[0].Starts, tc.want)
		})
	}
}
