package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/events"
)

// edgeHistory writes one instance's events as wire JSON (Duroxide's field
// order) and decodes them, so what is published is exactly these bytes.
type edgeHistory struct {
	t    *testing.T
	id   string
	base int64
	out  *[]events.Event
}

// ev appends one event: exec, event id, source id (0 = null), ms after the
// base, type, and the variant's fields as a JSON fragment (may be "").
func (h edgeHistory) ev(exec, id, src uint64, dt int64, typ, fields string) {
	h.t.Helper()
	srcJSON := "null"
	if src != 0 {
		srcJSON = fmt.Sprint(src)
	}
	idJSON := strings.ReplaceAll(strings.ReplaceAll(h.id, `\`, `\\`), `"`, `\"`)
	line := fmt.Sprintf(`{"event_id":%d,"source_event_id":%s,"instance_id":"%s","execution_id":%d,"timestamp_ms":%d,"duroxide_version":"0.1.26","type":"%s"`,
		id, srcJSON, idJSON, exec, h.base+dt, typ)
	if fields != "" {
		line += "," + fields
	}
	line += "}"
	e, err := events.Decode([]byte(line))
	if err != nil {
		h.t.Fatalf("edge event %s: %v", line, err)
	}
	*h.out = append(*h.out, e)
}

func (h edgeHistory) started(exec uint64, dt int64, name string) {
	h.ev(exec, 1, 0, dt, events.TypeOrchestrationStarted,
		fmt.Sprintf(`"name":"%s","version":"1.0.0","input":"{}","parent_instance":null,"parent_id":null`, name))
}

// diffEdgeInstances are hand-written histories for the rules generated
// workloads rarely or never reach (EVENTS.md "Precise rules",
// docs/semantics.md): several outcomes for one scheduling event, outcomes
// pointing at the wrong type or at nothing, persistent and non-persistent
// subscriptions on one name, executions without OrchestrationStarted,
// continue-as-new without a next execution, clock skew, system calls, the
// ErrorDetails forms, and ids that need escaping. Their timestamps lie in
// the generated workloads' hour.
func diffEdgeInstances(t *testing.T, prefix string, base int64) []events.Event {
	t.Helper()
	var out []events.Event
	h := func(id string, off int64) edgeHistory {
		return edgeHistory{t: t, id: prefix + id, base: base + off, out: &out}
	}
	act := func(name string) string { return fmt.Sprintf(`"name":"%s","input":"in"`, name) }

	// Several outcomes for one activity: the lowest event id decides.
	x := h("outcomes", 1000)
	x.started(1, 0, "EdgeOutcomes")
	x.ev(1, 2, 0, 5, events.TypeActivityScheduled, act("A"))
	x.ev(1, 3, 0, 5, events.TypeActivityScheduled, act("A"))
	x.ev(1, 4, 0, 5, events.TypeActivityScheduled, act("B"))
	x.ev(1, 5, 0, 5, events.TypeActivityScheduled, act("B"))
	x.ev(1, 6, 2, 100, events.TypeActivityCompleted, `"result":"r"`)
	x.ev(1, 7, 2, 900, events.TypeActivityFailed, `"details":{"Application":{"kind":"ActivityFailed","message":"late","retryable":true}}`)
	x.ev(1, 8, 3, 200, events.TypeActivityCancelRequested, `"reason":"dropped_future"`)
	x.ev(1, 9, 3, 300, events.TypeActivityCompleted, `"result":"too late"`)
	x.ev(1, 10, 4, 400, events.TypeActivityFailed, `"details":{"Application":{"kind":"ActivityFailed","message":"boom","retryable":false}}`)
	x.ev(1, 11, 4, 50, events.TypeActivityCompleted, `"result":"skewed"`)
	// Activity 5 stays pending; a timer fired twice and one still pending.
	x.ev(1, 12, 0, 10, events.TypeTimerCreated, fmt.Sprintf(`"fire_at_ms":%d`, base+1000+5000))
	x.ev(1, 13, 12, 5000, events.TypeTimerFired, fmt.Sprintf(`"fire_at_ms":%d`, base+1000+5000))
	x.ev(1, 14, 12, 5001, events.TypeTimerFired, fmt.Sprintf(`"fire_at_ms":%d`, base+1000+5000))
	x.ev(1, 15, 0, 10, events.TypeTimerCreated, fmt.Sprintf(`"fire_at_ms":%d`, base+1000-50)) // fire_at in the past: delay 0
	// Sub-orchestrations: cancel request then completion; one pending.
	x.ev(1, 16, 0, 20, events.TypeSubOrchestrationScheduled, `"name":"Child","instance":"sub::16","input":"{}"`)
	x.ev(1, 17, 16, 700, events.TypeSubOrchestrationCancelRequested, `"reason":"parent done"`)
	x.ev(1, 18, 16, 800, events.TypeSubOrchestrationCompleted, `"result":"ok"`)
	x.ev(1, 19, 0, 20, events.TypeSubOrchestrationScheduled, `"name":"Child","instance":"explicit-child-id","input":"{}"`)

	// Outcomes that point at the wrong type, or at nothing, are ignored.
	x = h("misdirected", 2000)
	x.started(1, 0, "EdgeMisdirected")
	x.ev(1, 2, 0, 5, events.TypeActivityScheduled, act("C"))
	x.ev(1, 3, 0, 5, events.TypeTimerCreated, fmt.Sprintf(`"fire_at_ms":%d`, base+2000+60_000))
	x.ev(1, 4, 3, 10, events.TypeActivityCompleted, `"result":"wrong target"`)
	x.ev(1, 5, 2, 10, events.TypeTimerFired, fmt.Sprintf(`"fire_at_ms":%d`, base+2000+60_000))
	x.ev(1, 6, 99, 10, events.TypeActivityFailed, `"details":{"Infrastructure":{"operation":"read","message":"gone","retryable":true}}`)
	x.ev(1, 7, 0, 12, events.TypeExternalSubscribed, `"name":"go"`)
	x.ev(1, 8, 7, 13, events.TypeExternalSubscribedPersistentCancelled, `"reason":"wrong kind"`)
	// Clock skew: completed "before" it was scheduled; the negative
	// duration is kept (docs/semantics.md 5).
	x.ev(1, 9, 0, 500, events.TypeActivityScheduled, act("G"))
	x.ev(1, 10, 9, 100, events.TypeActivityCompleted, `"result":"skewed"`)

	// Subscriptions: both kinds on one name, cancellations, events before
	// and after, more events than subscriptions.
	x = h("subscriptions", 3000)
	x.started(1, 0, "EdgeSubscriptions")
	x.ev(1, 2, 0, 1, events.TypeExternalEvent, `"name":"x","data":"early"`)
	x.ev(1, 3, 0, 2, events.TypeExternalSubscribed, `"name":"x"`)
	x.ev(1, 4, 0, 3, events.TypeExternalSubscribed, `"name":"x"`)
	x.ev(1, 5, 0, 4, events.TypeExternalSubscribed, `"name":"x"`)
	x.ev(1, 6, 3, 5, events.TypeExternalSubscribedCancelled, `"reason":"dropped"`)
	x.ev(1, 7, 0, 6, events.TypeExternalSubscribedPersistent, `"name":"x"`)
	x.ev(1, 8, 0, 7, events.TypeExternalSubscribedPersistent, `"name":"x"`)
	x.ev(1, 9, 0, 8, events.TypeExternalSubscribedPersistent, `"name":"x"`)
	x.ev(1, 10, 0, 9, events.TypeExternalEventPersistent, `"name":"x","data":"p1"`)
	x.ev(1, 11, 8, 10, events.TypeExternalSubscribedPersistentCancelled, `"reason":"dropped"`)
	x.ev(1, 12, 0, 11, events.TypeExternalSubscribedPersistent, `"name":"y"`)
	x.ev(1, 13, 0, 12, events.TypeExternalEventPersistent, `"name":"y","data":"1"`)
	x.ev(1, 14, 0, 13, events.TypeExternalEventPersistent, `"name":"y","data":"2"`)
	x.ev(1, 15, 0, 14, events.TypeExternalSubscribedPersistent, `"name":"y"`)
	x.ev(1, 16, 0, 15, events.TypeExternalSubscribedPersistent, `"name":"y"`)
	x.ev(1, 17, 0, 16, events.TypeExternalSubscribed, `"name":"z"`)
	x.ev(1, 18, 0, 17, events.TypeCustomStatusUpdated, `"status":"waiting"`)
	x.ev(1, 19, 0, 18, events.TypeCustomStatusUpdated, `"status":null`)

	// An execution whose OrchestrationStarted has not arrived, after a
	// continue-as-new; and one that continued without a next execution.
	x = h("nostart", 4000)
	x.started(1, 0, "EdgeNoStart")
	x.ev(1, 2, 0, 10, events.TypeOrchestrationContinuedAsNew, `"input":"2"`)
	x.ev(2, 2, 0, 30, events.TypeActivityScheduled, act("D"))
	x.ev(2, 3, 0, 25, events.TypeCustomStatusUpdated, `"status":"second"`)
	x = h("can-pending", 5000)
	x.ev(1, 1, 0, 0, events.TypeOrchestrationStarted,
		`"name":"EdgeCAN","version":"2.0.0","input":"{}","parent_instance":null,"parent_id":null,"initial_custom_status":"init"`)
	x.ev(1, 2, 0, 5, events.TypeActivityScheduled, act("__duroxide_syscall:now"))
	x.ev(1, 3, 2, 7, events.TypeActivityCompleted, `"result":"1"`)
	x.ev(1, 4, 0, 8, events.TypeActivityScheduled, act("E"))
	x.ev(1, 5, 0, 9, events.TypeOrchestrationContinuedAsNew, `"input":"again"`)

	// Lifecycle: the highest event id decides (Completed, then Failed).
	x = h("lifecycle", 6000)
	x.started(1, 0, "EdgeLifecycle")
	x.ev(1, 2, 0, 10, events.TypeOrchestrationCompleted, `"output":"first"`)
	x.ev(1, 3, 0, 20, events.TypeOrchestrationFailed, `"details":{"Configuration":{"kind":"Nondeterminism","resource":"r","message":null}}`)

	// The ErrorDetails forms, and a pending system call.
	x = h("poison", 7000)
	x.started(1, 0, "EdgeErrors")
	x.ev(1, 2, 0, 5, events.TypeActivityScheduled, act("__duroxide_syscall:uuid"))
	x.ev(1, 3, 0, 6, events.TypeActivityScheduled, act("F"))
	x.ev(1, 4, 3, 8, events.TypeActivityFailed, `"details":{"Poison":{"attempt_count":11,"max_attempts":10,"message_type":{"Activity":{"name":"F"}},"message":"poisoned"}}`)
	x = h("cancelled", 7500)
	x.started(1, 0, "EdgeErrors")
	x.ev(1, 2, 0, 5, events.TypeOrchestrationCancelRequested, `"reason":"user"`)
	x.ev(1, 3, 0, 6, events.TypeOrchestrationFailed, `"details":{"Application":{"kind":{"Cancelled":{"reason":"user"}},"message":"","retryable":false}}`)

	// Ids that need escaping in subjects, paths and LIKE patterns (the
	// list's instance_prefix must treat % and _ literally).
	for i, id := range []string{"odd/id with space", "odd%2Fliteral", "odd:ü:✓", "odd..", "odd_under", "odd\\back\"quote"} {
		x = h(id, 8000+int64(i))
		x.started(1, 0, "EdgeOddIDs")
		x.ev(1, 2, 0, 3, events.TypeTimerCreated, fmt.Sprintf(`"fire_at_ms":%d`, base+9_000_000))
	}
	return out
}
