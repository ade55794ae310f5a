package projection

import (
	"fmt"
	"math/rand/v2"

	"github.com/duroscope/duroscope/events"
)

// genHistory returns a plausible Duroxide history of one instance, in
// publish order, of about size events (at least a few): executions chained by
// continue-as-new, activities (system calls among them) that complete, fail
// or are cancelled, timers, external events of both kinds with cancelled
// subscriptions, sub-orchestrations with generated and explicit child ids,
// custom status (also null), key-value events, unknown types, a trailing
// event after a terminal one, and a little deliberate noise: outcomes that
// point at the wrong type or at nothing, second outcomes for an item already
// resolved, and clock skew. The last execution may stay Running.
func genHistory(r *rand.Rand, inst string, size int) []events.Event {
	g := &histGen{r: r, inst: inst, ts: 1764105600000 + uint64(r.IntN(1000))}
	execs := 1
	if r.IntN(3) == 0 {
		execs += 1 + r.IntN(3)
	}
	per := max(size/execs, 4)
	for x := 1; x <= execs; x++ {
		g.execution(uint64(x), per, x == execs)
	}
	return g.out
}

type openItem struct {
	id   uint64
	kind string // events.Type* of the scheduling event
	name string
}

type histGen struct {
	r    *rand.Rand
	inst string
	ts   uint64
	out  []events.Event

	exec   uint64
	nextID uint64
	open   []openItem
	done   []openItem // resolved, kept for duplicate outcomes
	names  []string   // external event names used in this execution
}

var (
	genActivities = []string{"Charge", "Ship", "Notify", "Fetch", events.SystemCallPrefix + "new_guid", events.SystemCallPrefix + "utc_now"}
	genExternal   = []string{"Approval", "inbox", "Cancel"}
	genOrchNames  = []string{"Order", "Counter", "Chat"}
)

func (g *histGen) tick() uint64 {
	switch g.r.IntN(20) {
	case 0: // equal timestamps happen (same turn)
	case 1: // clock skew: a step back
		if g.ts > 50 {
			g.ts -= uint64(g.r.IntN(50))
		}
	default:
		g.ts += uint64(1 + g.r.IntN(400))
	}
	return g.ts
}

func (g *histGen) emit(typ string, f func(e *events.Event)) *events.Event {
	g.nextID++
	e := events.Event{
		EventID:         g.nextID,
		InstanceID:      g.inst,
		ExecutionID:     g.exec,
		TimestampMs:     g.tick(),
		DuroxideVersion: "0.1.26",
		Type:            typ,
		Known:           true,
	}
	if f != nil {
		f(&e)
	}
	if !isKnownForGen(typ) {
		e.Known = false
	}
	g.out = append(g.out, e)
	return &g.out[len(g.out)-1]
}

func isKnownForGen(typ string) bool { return typ != "FutureEventKind" && typ != "AnotherNewKind" }

func (g *histGen) details() *events.ErrorDetails {
	switch g.r.IntN(3) {
	case 0:
		return &events.ErrorDetails{Category: "application", Kind: "ActivityFailed", Message: fmt.Sprintf("boom %d", g.r.IntN(5))}
	case 1:
		return &events.ErrorDetails{Category: "infrastructure", Kind: "fetch", Message: "connection reset", Retryable: true}
	default:
		return &events.ErrorDetails{Category: "application", Kind: "Cancelled", Message: "canceled: dropped"}
	}
}

func (g *histGen) execution(x uint64, size int, last bool) {
	g.exec, g.nextID, g.open, g.done, g.names = x, 0, nil, nil, nil
	name := genOrchNames[g.r.IntN(len(genOrchNames))]
	g.emit(events.TypeOrchestrationStarted, func(e *events.Event) {
		e.Name, e.Version, e.Input = name, fmt.Sprintf("1.%d.0", g.r.IntN(3)), fmt.Sprintf("%d", x)
		if g.r.IntN(4) == 0 {
			e.ParentInstance = events.OptString{Value: "parent-" + g.inst, Valid: true}
			e.ParentID = events.OptUint{Value: uint64(2 + g.r.IntN(9)), Valid: true}
		}
		switch g.r.IntN(3) {
		case 0:
			e.InitialCustomStatus = events.OptString{Value: fmt.Sprintf("n=%d", x), Valid: true}
		case 1: // explicitly null: not a custom-status candidate
			e.InitialCustomStatus = events.OptString{}
		}
	})
	for int(g.nextID) < size {
		g.step()
	}
	end := g.r.IntN(10)
	if last && end < 4 {
		return // still running
	}
	switch {
	case !last:
		g.emit(events.TypeOrchestrationContinuedAsNew, func(e *events.Event) { e.Input = fmt.Sprintf("%d", x+1) })
	case end < 7:
		g.emit(events.TypeOrchestrationCompleted, func(e *events.Event) { e.Output = fmt.Sprintf("out-%d", g.r.IntN(100)) })
	case end < 9:
		g.emit(events.TypeOrchestrationFailed, func(e *events.Event) { e.Details = g.details() })
	default:
		// The last execution continued as new and the next has not started.
		g.emit(events.TypeOrchestrationContinuedAsNew, func(e *events.Event) { e.Input = "next" })
	}
	// Terminal clean-up: Duroxide cancels what is still open.
	if len(g.open) > 0 && g.r.IntN(2) == 0 {
		g.resolve(g.r.IntN(len(g.open)), true)
	}
}

// step appends one operation's events.
func (g *histGen) step() {
	switch op := g.r.IntN(100); {
	case op < 22:
		name := genActivities[g.r.IntN(len(genActivities))]
		e := g.emit(events.TypeActivityScheduled, func(e *events.Event) {
			e.Name, e.Input = name, fmt.Sprintf("in-%d", g.r.IntN(10))
			if g.r.IntN(4) == 0 {
				e.Tag = events.OptString{Value: "gpu", Valid: true}
			}
			if g.r.IntN(6) == 0 {
				e.SessionID = events.OptString{Value: "s1", Valid: true}
			}
		})
		g.open = append(g.open, openItem{e.EventID, e.Type, name})
	case op < 32:
		e := g.emit(events.TypeTimerCreated, func(e *events.Event) {
			e.FireAtMs = g.ts + uint64(g.r.IntN(100000))
			if g.r.IntN(8) == 0 && g.ts > 1000 { // a fire time in the past: delay clamps to 0
				e.FireAtMs = g.ts - 1000
			}
		})
		g.open = append(g.open, openItem{e.EventID, e.Type, ""})
	case op < 42:
		typ := events.TypeExternalSubscribed
		if g.r.IntN(3) == 0 {
			typ = events.TypeExternalSubscribedPersistent
		}
		name := genExternal[g.r.IntN(len(genExternal))]
		e := g.emit(typ, func(e *events.Event) { e.Name = name })
		g.open = append(g.open, openItem{e.EventID, e.Type, name})
		g.names = append(g.names, name)
	case op < 50:
		typ := events.TypeExternalEvent
		if g.r.IntN(3) == 0 {
			typ = events.TypeExternalEventPersistent
		}
		name := genExternal[g.r.IntN(len(genExternal))]
		if len(g.names) > 0 && g.r.IntN(4) != 0 {
			name = g.names[g.r.IntN(len(g.names))]
		}
		g.emit(typ, func(e *events.Event) { e.Name, e.Data = name, "payload" })
	case op < 56:
		e := g.emit(events.TypeSubOrchestrationScheduled, func(e *events.Event) {
			e.Name, e.Input = "Child", "{}"
			if g.r.IntN(3) == 0 {
				e.Instance = fmt.Sprintf("explicit-%d", g.r.IntN(100))
			} else {
				e.Instance = fmt.Sprintf("sub::%d", g.nextID)
			}
		})
		g.open = append(g.open, openItem{e.EventID, e.Type, ""})
	case op < 80:
		if len(g.open) > 0 {
			g.resolve(g.r.IntN(len(g.open)), false)
		}
	case op < 85:
		g.emit(events.TypeCustomStatusUpdated, func(e *events.Event) {
			if g.r.IntN(4) != 0 {
				e.Status = events.OptString{Value: fmt.Sprintf("step %d", g.nextID), Valid: true}
			}
		})
	case op < 88:
		typ := []string{events.TypeKeyValueSet, events.TypeKeyValueCleared, events.TypeKeyValuesCleared}[g.r.IntN(3)]
		g.emit(typ, func(e *events.Event) { e.Key, e.Value = "k", "v" })
	case op < 91:
		typ := []string{"FutureEventKind", "AnotherNewKind"}[g.r.IntN(2)]
		g.emit(typ, func(e *events.Event) {
			if g.r.IntN(2) == 0 { // an unknown type that looks like an outcome
				e.SourceEventID = events.OptUint{Value: uint64(1 + g.r.IntN(int(g.nextID))), Valid: true}
			}
		})
	case op < 93:
		g.emit(events.TypeOrchestrationChained, func(e *events.Event) { e.Name, e.Instance, e.Input = "Audit", "audit-"+g.inst, "x" })
	case op < 94:
		g.emit(events.TypeOrchestrationCancelRequested, func(e *events.Event) { e.Reason = "user" })
	case op < 97:
		// An outcome pointing at the wrong type or at nothing: ignored.
		typ := []string{events.TypeActivityCompleted, events.TypeTimerFired, events.TypeExternalSubscribedCancelled,
			events.TypeSubOrchestrationFailed, events.TypeExternalSubscribedPersistentCancelled}[g.r.IntN(5)]
		g.emit(typ, func(e *events.Event) {
			e.SourceEventID = events.OptUint{Value: uint64(1 + g.r.IntN(int(g.nextID)+3)), Valid: true}
			e.Result, e.Reason = "stray", "stray"
			if typ == events.TypeSubOrchestrationFailed {
				e.Details = g.details()
			}
		})
	default:
		// A second outcome for an item already resolved: the lowest wins.
		if len(g.done) > 0 {
			it := g.done[g.r.IntN(len(g.done))]
			g.outcome(it, false)
		}
	}
}

// resolve emits an outcome for open item i and moves it to done.
func (g *histGen) resolve(i int, cancel bool) {
	it := g.open[i]
	g.open = append(g.open[:i], g.open[i+1:]...)
	g.done = append(g.done, it)
	g.outcome(it, cancel)
}

func (g *histGen) outcome(it openItem, cancel bool) {
	src := events.OptUint{Value: it.id, Valid: true}
	switch it.kind {
	case events.TypeActivityScheduled:
		typ := []string{events.TypeActivityCompleted, events.TypeActivityCompleted, events.TypeActivityFailed, events.TypeActivityCancelRequested}[g.r.IntN(4)]
		if cancel {
			typ = events.TypeActivityCancelRequested
		}
		g.emit(typ, func(e *events.Event) {
			e.SourceEventID = src
			switch typ {
			case events.TypeActivityCompleted:
				e.Result = "ok"
			case events.TypeActivityFailed:
				e.Details = g.details()
			default:
				e.Reason = "dropped_future"
			}
		})
	case events.TypeTimerCreated:
		g.emit(events.TypeTimerFired, func(e *events.Event) { e.SourceEventID, e.FireAtMs = src, g.ts })
	case events.TypeExternalSubscribed:
		g.emit(events.TypeExternalSubscribedCancelled, func(e *events.Event) { e.SourceEventID, e.Reason = src, "dropped_future" })
	case events.TypeExternalSubscribedPersistent:
		g.emit(events.TypeExternalSubscribedPersistentCancelled, func(e *events.Event) { e.SourceEventID, e.Reason = src, "dropped_future" })
	case events.TypeSubOrchestrationScheduled:
		typ := []string{events.TypeSubOrchestrationCompleted, events.TypeSubOrchestrationFailed, events.TypeSubOrchestrationCancelRequested}[g.r.IntN(3)]
		if cancel {
			typ = events.TypeSubOrchestrationCancelRequested
		}
		g.emit(typ, func(e *events.Event) {
			e.SourceEventID = src
			switch typ {
			case events.TypeSubOrchestrationCompleted:
				e.Result = "3"
			case events.TypeSubOrchestrationFailed:
				e.Details = g.details()
			default:
				e.Reason = "parent done"
			}
		})
	}
}
