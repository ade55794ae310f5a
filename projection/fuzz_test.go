package projection

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/duroscope/duroscope/events"
)

// fuzzTypes are the event types a fuzz input can pick: every known type
// and one unknown.
var fuzzTypes = []string{
	events.TypeOrchestrationStarted, events.TypeOrchestrationCompleted, events.TypeOrchestrationFailed,
	events.TypeOrchestrationContinuedAsNew, events.TypeOrchestrationCancelRequested, events.TypeOrchestrationChained,
	events.TypeActivityScheduled, events.TypeActivityCompleted, events.TypeActivityFailed, events.TypeActivityCancelRequested,
	events.TypeTimerCreated, events.TypeTimerFired,
	events.TypeExternalSubscribed, events.TypeExternalEvent, events.TypeExternalSubscribedCancelled,
	events.TypeExternalSubscribedPersistent, events.TypeExternalEventPersistent, events.TypeExternalSubscribedPersistentCancelled,
	events.TypeSubOrchestrationScheduled, events.TypeSubOrchestrationCompleted, events.TypeSubOrchestrationFailed,
	events.TypeSubOrchestrationCancelRequested,
	events.TypeCustomStatusUpdated, events.TypeKeyValueSet, events.TypeKeyValueCleared, events.TypeKeyValuesCleared,
	"FutureEventKind",
}

// fuzzEvents turns bytes into up to 64 events of one instance, 5 bytes per
// event: execution (1..3), event id (1..12, so keys collide and copies may
// differ), type, source (high bit clear = null, else 1..12), and a byte
// that drives the timestamp and the variant fields. Small ranges make
// outcomes find their targets often.
func fuzzEvents(data []byte) []events.Event {
	var out []events.Event
	for i := 0; i+5 <= len(data) && len(out) < 64; i += 5 {
		b := data[i : i+5]
		e := events.Event{
			ExecutionID: 1 + uint64(b[0]%3),
			EventID:     1 + uint64(b[1]%12),
			InstanceID:  "fz",
			Type:        fuzzTypes[int(b[2])%len(fuzzTypes)],
			TimestampMs: 1000 + uint64(b[4])*7 - uint64(b[0]>>4),
		}
		e.Known = e.Type != "FutureEventKind"
		if b[3]&0x80 != 0 {
			e.SourceEventID = events.OptUint{Value: 1 + uint64(b[3]%12), Valid: true}
		}
		v := b[4]
		e.Name = []string{"A", "B", events.SystemCallPrefix + "x"}[v%3]
		e.Version = string(rune('0' + v%2))
		e.Input, e.Output = "in", string(rune('a'+v%5))
		e.Instance = []string{"sub::3", "explicit", "sub::"}[v%3]
		e.FireAtMs = 1000 + uint64(v)*11
		if v&1 != 0 {
			e.Status = events.OptString{Value: e.Output, Valid: true}
			e.Tag = events.OptString{Value: "t", Valid: true}
		}
		if v&2 != 0 {
			e.InitialCustomStatus = events.OptString{Value: "init", Valid: true}
			e.ParentInstance = events.OptString{Value: "p", Valid: true}
			e.ParentID = events.OptUint{Value: uint64(v), Valid: true}
		}
		if v&4 != 0 {
			e.Details = &events.ErrorDetails{Category: "application", Kind: e.Name, Message: e.Output, Retryable: v&8 != 0}
		}
		out = append(out, e)
	}
	return out
}

// FuzzDerive: Derive never panics, its rows satisfy the invariants, and
// reordering or re-delivering the events does not change them.
func FuzzDerive(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 1, 6, 0, 10, 0, 2, 7, 0x81, 20, 0, 3, 1, 0, 30})
	f.Fuzz(func(t *testing.T, data []byte) {
		evts := fuzzEvents(data)
		if len(evts) == 0 {
			if _, err := Derive(evts); err == nil {
				t.Fatal("Derive of no events: want an error")
			}
			return
		}
		want := mustDerive(t, evts)
		var seed uint64
		for _, b := range data {
			seed = seed*131 + uint64(b)
		}
		r := rand.New(rand.NewPCG(seed, uint64(len(data))))
		rev := slices.Clone(evts)
		slices.Reverse(rev)
		for i, perm := range [][]events.Event{
			rev,
			append(slices.Clone(evts), rev...),
			shuffledWithDuplicates(r, evts),
			shuffledWithDuplicates(r, evts),
		} {
			if got := mustDerive(t, perm); !reflect.DeepEqual(got, want) {
				t.Fatalf("reordering %d changed the rows:\n got %+v\nwant %+v", i, got, want)
			}
		}
		all, err := DeriveAll(rev)
		if err != nil || len(all) != 1 || !reflect.DeepEqual(all[0], want) {
			t.Fatalf("DeriveAll differs from Derive (err %v, %d rows)", err, len(all))
		}
	})
}
