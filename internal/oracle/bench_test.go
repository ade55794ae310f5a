package oracle

import (
	"fmt"
	"testing"
	"time"

	"github.com/duroscope/duroscope/events"
)

// scaleEvents makes n instances of 20 events each (activities, a timer,
// terminal events), reversed so New has to sort.
func scaleEvents(n int) []events.Event {
	out := make([]events.Event, 0, n*20)
	for i := range n {
		id := fmt.Sprintf("inst-%07d", i)
		base := uint64(1_700_000_000_000 + i*1000)
		out = append(out, ev(id, 1, 1, base, tStarted, name(fmt.Sprintf("Orch%d", i%7))))
		eid := uint64(2)
		for a := range 8 {
			out = append(out, ev(id, 1, eid, base+eid, tActSched, name(fmt.Sprintf("Act%d", a))))
			out = append(out, ev(id, 1, eid+1, base+eid+uint64(a*3), events.TypeActivityCompleted, src(eid)))
			eid += 2
		}
		out = append(out, ev(id, 1, eid, base+eid, events.TypeTimerCreated, fire(base+60_000)))
		switch i % 3 {
		case 0:
			out = append(out, ev(id, 1, eid+1, base+eid+1, tCompleted))
		case 1:
			out = append(out, ev(id, 1, eid+1, base+eid+1, tFailed, failed("x")))
		default:
			out = append(out, ev(id, 1, eid+1, base+eid+1, events.TypeCustomStatusUpdated, status(ptr("s"))))
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// BenchmarkScale replays 100k instances / 2M events and asks every
// fleet-wide question once. Run: go test -run x -bench Scale -benchtime 1x
func BenchmarkScale(b *testing.B) {
	evts := scaleEvents(100_000)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		o := New(evts)
		built := time.Since(start)
		o.ListInstances(ListFilter{})
		o.ActivityStats(nil, nil, true)
		o.OrchestrationStats(nil)
		o.Performance("Orch1", nil)
		o.Health(1_800_000_000_000, time.Hour, time.Hour)
		o.Problems(1_800_000_000_000, time.Hour, time.Hour, time.Hour, 100)
		o.Queues(nil)
		b.Logf("events %d: New %v, total %v", len(evts), built, time.Since(start))
	}
}
