package events

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// gen produces random valid events. Strings mix plain ASCII with everything
// serde_json escapes or passes through raw (quotes, backslashes, control
// characters, DEL, '/', multi-byte and astral runes, U+2028, U+FFFD).
type gen struct{ rng *rand.Rand }

var genRunes = []rune("abcXYZ019 _-:./%\"\\\n\r\t\b\f\x00\x01\x1f\x7féß名😀\u2028\u2029\uFFFD{}[],")

func (g gen) str(maxLen int) string {
	n := g.rng.IntN(maxLen + 1)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteRune(genRunes[g.rng.IntN(len(genRunes))])
	}
	return b.String()
}

func (g gen) u64() uint64 {
	switch g.rng.IntN(5) {
	case 0:
		return 0
	case 1:
		return 1<<64 - 1
	case 2:
		return uint64(g.rng.IntN(100))
	case 3:
		return 1764105600000 + uint64(g.rng.IntN(1e6))
	}
	return g.rng.Uint64()
}

func (g gen) optStr() OptString {
	if g.rng.IntN(3) == 0 {
		return OptString{}
	}
	return OptString{Value: g.str(8), Valid: true}
}

func (g gen) optU64() OptUint {
	if g.rng.IntN(3) == 0 {
		return OptUint{}
	}
	return OptUint{Value: g.u64(), Valid: true}
}

// details returns a projection that a Duroxide ErrorDetails can have (so
// that synthesising the wire form and projecting it again is exact).
func (g gen) details() *ErrorDetails {
	switch g.rng.IntN(6) {
	case 0:
		return &ErrorDetails{Category: "application", Kind: g.str(6), Message: g.str(10), Retryable: g.rng.IntN(2) == 0}
	case 1:
		return &ErrorDetails{Category: "application", Kind: "Cancelled", Message: cancelledPrefix + g.str(6)}
	case 2:
		return &ErrorDetails{Category: "infrastructure", Kind: g.str(6), Message: g.str(10), Retryable: g.rng.IntN(2) == 0}
	case 3:
		return &ErrorDetails{Category: "configuration", Kind: "Nondeterminism", Message: g.str(10)}
	case 4:
		return &ErrorDetails{Category: "poison", Kind: "Poison", Message: g.str(10)}
	}
	return &ErrorDetails{Category: "future" + strings.ToLower(g.str(3))}
}

func (g gen) event(typ string) Event {
	id := g.str(30)
	if id == "" {
		id = "i"
	}
	e := Event{
		EventID:         g.u64() | 1,
		SourceEventID:   g.optU64(),
		InstanceID:      id,
		ExecutionID:     max(g.u64(), 1),
		TimestampMs:     g.u64(),
		DuroxideVersion: g.str(6),
		Type:            typ,
		Known:           isKnownType(typ),
	}
	switch typ {
	case TypeOrchestrationStarted:
		e.Name, e.Version, e.Input = g.str(10), g.str(5), g.str(20)
		e.ParentInstance, e.ParentID, e.InitialCustomStatus = g.optStr(), g.optU64(), g.optStr()
		if n := g.rng.IntN(4); n > 0 {
			e.CarryForwardEvents = make([][2]string, n-1)
			for i := range e.CarryForwardEvents {
				e.CarryForwardEvents[i] = [2]string{g.str(5), g.str(5)}
			}
		}
	case TypeOrchestrationCompleted:
		e.Output = g.str(20)
	case TypeOrchestrationFailed, TypeActivityFailed, TypeSubOrchestrationFailed:
		e.Details = g.details()
	case TypeOrchestrationContinuedAsNew:
		e.Input = g.str(20)
	case TypeOrchestrationCancelRequested, TypeActivityCancelRequested, TypeExternalSubscribedCancelled,
		TypeExternalSubscribedPersistentCancelled, TypeSubOrchestrationCancelRequested:
		e.Reason = g.str(10)
	case TypeOrchestrationChained, TypeSubOrchestrationScheduled:
		e.Name, e.Instance, e.Input = g.str(10), g.str(10), g.str(20)
	case TypeActivityScheduled:
		e.Name, e.Input, e.SessionID, e.Tag = g.str(10), g.str(20), g.optStr(), g.optStr()
	case TypeActivityCompleted, TypeSubOrchestrationCompleted:
		e.Result = g.str(20)
	case TypeTimerCreated, TypeTimerFired:
		e.FireAtMs = g.u64()
	case TypeExternalSubscribed, TypeExternalSubscribedPersistent:
		e.Name = g.str(10)
	case TypeExternalEvent, TypeExternalEventPersistent:
		e.Name, e.Data = g.str(10), g.str(20)
	case TypeCustomStatusUpdated:
		e.Status = g.optStr()
	case TypeKeyValueSet:
		e.Key, e.Value, e.LastUpdatedAtMs = g.str(8), g.str(8), g.optU64()
	case TypeKeyValueCleared:
		e.Key = g.str(8)
	}
	return e
}

// TestPropertyMarshalDecode checks Decode(Marshal(e)) == e for random valid
// events of every type (and of unknown types, for which only the common
// fields exist).
func TestPropertyMarshalDecode(t *testing.T) {
	g := gen{rng: rand.New(rand.NewPCG(20251126, 7))}
	types := append(append([]string(nil), allTypes...), "FutureEventKind", "")
	const perType = 300
	for _, typ := range types {
		for i := 0; i < perType; i++ {
			e := g.event(typ)
			m := Marshal(&e)
			if !json.Valid(m) {
				t.Fatalf("Marshal(%+v) = %s is not valid JSON", e, m)
			}
			got, err := Decode(m)
			if err != nil {
				t.Fatalf("Decode(Marshal(%+v)) = %v\n%s", e, err, m)
			}
			if !bytes.Equal(got.Raw, m) {
				t.Fatalf("Raw is not the payload")
			}
			if got.Details != nil && got.DetailsRaw == nil {
				t.Fatalf("DetailsRaw not set: %s", m)
			}
			again := Marshal(&got) // now with DetailsRaw: must be the same bytes
			got.Raw, got.DetailsRaw = nil, nil
			if !reflect.DeepEqual(got, e) {
				t.Fatalf("round trip differs\n  in %+v\n out %+v\nwire %s", e, got, m)
			}
			if !bytes.Equal(again, m) {
				t.Fatalf("Marshal not stable\n first %s\nsecond %s", m, again)
			}
		}
	}
}
