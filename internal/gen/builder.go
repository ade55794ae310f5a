package gen

import (
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/duroscope/duroscope/events"
)

// builder records one instance's history on a simulated clock. Shapes call
// its methods in the order the orchestration would run; the builder assigns
// event ids (consecutive per execution, OrchestrationStarted = 1) and
// timestamps (never decreasing), and generates child instances inline so the
// parent can react to their outcome.
type builder struct {
	g       *generator
	rng     *rand.Rand
	id      string
	version string // duroxide_version
	running bool   // the top-level instance will be cut: some waits may be endless
	depth   int    // sub-orchestration nesting

	parentInstance events.OptString
	parentID       events.OptUint

	exec uint64
	next uint64
	now  int64
	evts []events.Event

	// deferred are completions that arrive on their own later (the fire of a
	// timer that lost a race); recorded when the clock passes them, dropped
	// when the execution ends first.
	deferred []events.Event
	children []*node
	// unknown: an event of an unknown type is still to be recorded.
	unknown bool
}

func (g *generator) newBuilder(rng *rand.Rand, id string, start int64, running bool, depth int) *builder {
	version := "0.1.26"
	if rng.IntN(5) == 0 {
		version = "0.1.27"
	}
	return &builder{
		g:       g,
		rng:     rng,
		id:      id,
		version: version,
		running: running,
		depth:   depth,
		now:     start,
		evts:    g.scratchAt(depth),
		unknown: rng.Float64() < g.cfg.UnknownTypeFraction,
	}
}

// scratchAt lends the event buffer of one nesting depth: builders at the same
// depth never run at the same time (children are generated inline, one after
// the other), and node() copies the history out at its exact size. This
// halves the allocation volume of generation.
func (g *generator) scratchAt(depth int) []events.Event {
	for len(g.scratch) <= depth {
		g.scratch = append(g.scratch, make([]events.Event, 0, 64))
	}
	return g.scratch[depth][:0]
}

// child prepares the builder of a child instance starting at start.
func (b *builder) child(id string, start int64) *builder {
	c := b.g.newBuilder(b.rng, id, start, b.running, b.depth+1)
	c.version = b.version // same runtime
	return c
}

func (b *builder) node() *node {
	b.g.seq++
	if cap(b.evts) > cap(b.g.scratch[b.depth]) {
		b.g.scratch[b.depth] = b.evts[:0] // keep the grown buffer
	}
	evts := slices.Clone(b.evts)
	clear(b.evts) // drop references held by the scratch buffer
	return &node{evts: evts, children: b.children, seq: b.g.seq}
}

// emit records an event of type typ at the current time.
func (b *builder) emit(typ string, src uint64) *events.Event {
	b.flush(b.now)
	return b.record(typ, src, b.now)
}

func (b *builder) record(typ string, src uint64, ts int64) *events.Event {
	b.evts = append(b.evts, events.Event{
		EventID:         b.next,
		InstanceID:      b.id,
		ExecutionID:     b.exec,
		TimestampMs:     uint64(ts),
		DuroxideVersion: b.version,
		Type:            typ,
		Known:           true,
	})
	e := &b.evts[len(b.evts)-1]
	if src != 0 {
		e.SourceEventID = events.OptUint{Value: src, Valid: true}
	}
	b.next++
	return e
}

// flush records the deferred completions due by t, in time order.
func (b *builder) flush(t int64) {
	for len(b.deferred) > 0 && int64(b.deferred[0].TimestampMs) <= t {
		d := b.deferred[0]
		b.deferred = b.deferred[1:]
		e := b.record(d.Type, d.SourceEventID.Value, int64(d.TimestampMs))
		e.FireAtMs = d.FireAtMs
	}
}

func (b *builder) addDeferred(e events.Event) {
	i, _ := slices.BinarySearchFunc(b.deferred, e.TimestampMs, func(d events.Event, t uint64) int {
		if d.TimestampMs <= t {
			return -1
		}
		return 1
	})
	b.deferred = slices.Insert(b.deferred, i, e)
}

// advance moves the clock forward to t (never back).
func (b *builder) advance(t int64) {
	if t > b.now {
		b.now = t
	}
}

// tick is the orchestrator's turn latency: the time between a completion
// being recorded and the next decisions. Mostly a few ms, sometimes a queue
// backlog.
func (b *builder) tick() {
	b.now += 1 + int64(b.rng.IntN(5))
	if b.rng.IntN(60) == 0 {
		b.now += int64(b.rng.IntN(250))
	}
	if b.unknown && b.rng.IntN(4) == 0 {
		b.emitUnknown()
	}
}

// sleep advances by a short random interval in [lo, hi] ms.
func (b *builder) sleep(lo, hi int) { b.now += int64(lo + b.rng.IntN(hi-lo+1)) }

// unknownKinds are event types a newer Duroxide might write, with a field of
// their own (this projector must store them and ignore them).
var unknownKinds = []struct{ typ, extra string }{
	{"FutureEventKind", `"note":"unknown to this projector"`},
	{"OrchestrationSuspended", `"reason":"maintenance window"`},
	{"ActivityHeartbeat", `"progress":{"done":3,"total":10}`},
	{"TimerRescheduled", `"fire_at_ms":1764115260000,"previous_fire_at_ms":1764115200000`},
}

func (b *builder) emitUnknown() {
	b.unknown = false
	k := unknownKinds[b.rng.IntN(len(unknownKinds))]
	e := b.emit(k.typ, 0)
	e.Known = false
	raw := events.Marshal(e) // common fields only for an unknown type
	raw = append(raw[:len(raw)-1], ',')
	raw = append(raw, k.extra...)
	e.Raw = append(raw, '}')
}

// start begins an execution: OrchestrationStarted with event id 1.
func (b *builder) start(name, version, input string) {
	b.startWith(name, version, input, events.OptString{}, nil)
}

func (b *builder) startWith(name, version, input string, initialStatus events.OptString, carry [][2]string) {
	b.exec++
	b.next = 1
	e := b.emit(events.TypeOrchestrationStarted, 0)
	e.Name, e.Version, e.Input = name, version, input
	if b.exec == 1 {
		e.ParentInstance, e.ParentID = b.parentInstance, b.parentID
	}
	e.InitialCustomStatus = initialStatus
	e.CarryForwardEvents = carry
	b.tick()
}

func (b *builder) endExecution() {
	if b.unknown {
		b.emitUnknown()
	}
}

func (b *builder) complete(output string) {
	b.endExecution()
	b.emit(events.TypeOrchestrationCompleted, 0).Output = output
	b.deferred = b.deferred[:0]
}

func (b *builder) fail(d *events.ErrorDetails, raw []byte) {
	b.endExecution()
	e := b.emit(events.TypeOrchestrationFailed, 0)
	e.Details, e.DetailsRaw = d, raw
	b.deferred = b.deferred[:0]
}

func (b *builder) failApp(msg string) {
	b.fail(&events.ErrorDetails{Category: "application", Kind: "OrchestrationFailed", Message: msg}, nil)
}

func (b *builder) continueAsNew(input string) {
	b.endExecution()
	b.emit(events.TypeOrchestrationContinuedAsNew, 0).Input = input
	b.deferred = b.deferred[:0]
	b.tick()
}

func (b *builder) status(s string) {
	b.emit(events.TypeCustomStatusUpdated, 0).Status = events.OptString{Value: s, Valid: true}
	b.sleep(0, 2)
}

// clearStatus sets the custom status to null.
func (b *builder) clearStatus() {
	b.emit(events.TypeCustomStatusUpdated, 0)
	b.sleep(0, 2)
}

func (b *builder) kvSet(key, value string, lastUpdated int64) {
	e := b.emit(events.TypeKeyValueSet, 0)
	e.Key, e.Value = key, value
	if lastUpdated > 0 {
		e.LastUpdatedAtMs = events.OptUint{Value: uint64(lastUpdated), Valid: true}
	}
	b.sleep(0, 3)
}

func (b *builder) kvClear(key string) {
	b.emit(events.TypeKeyValueCleared, 0).Key = key
	b.sleep(0, 3)
}

func (b *builder) kvClearAll() {
	b.emit(events.TypeKeyValuesCleared, 0)
	b.sleep(0, 3)
}

// act is a scheduled activity and its (pre-drawn) outcome.
type act struct {
	id      uint64
	doneAt  int64
	ok      bool
	result  string
	details *events.ErrorDetails
	raw     []byte
	// retryable reports an infrastructure failure worth retrying.
	retryable bool
}

// schedule records ActivityScheduled and draws how it will end.
func (b *builder) schedule(p *profile, input string) act {
	return b.scheduleTagged(p, input, events.OptString{}, events.OptString{})
}

func (b *builder) scheduleTagged(p *profile, input string, session, tag events.OptString) act {
	e := b.emit(events.TypeActivityScheduled, 0)
	e.Name, e.Input, e.SessionID, e.Tag = p.name, input, session, tag
	a := act{id: e.EventID}
	a.doneAt = b.now + p.duration(b.rng)
	b.outcome(p, &a)
	return a
}

// await records the activity's outcome when it arrives.
func (b *builder) await(a *act) {
	b.advance(a.doneAt)
	if a.ok {
		b.emit(events.TypeActivityCompleted, a.id).Result = a.result
		return
	}
	e := b.emit(events.TypeActivityFailed, a.id)
	e.Details, e.DetailsRaw = a.details, a.raw
}

// activity runs one activity to its end (schedule, await, next turn).
func (b *builder) activity(p *profile, input string) act {
	a := b.schedule(p, input)
	b.await(&a)
	b.tick()
	return a
}

// fanOut schedules one activity per input in the same turn.
func (b *builder) fanOut(p *profile, inputs []string) []act {
	acts := make([]act, len(inputs))
	for i, in := range inputs {
		if i > 0 && b.rng.IntN(2) == 0 {
			b.now++
		}
		acts[i] = b.schedule(p, in)
	}
	return acts
}

// awaitAll records the outcomes in the order they arrive (fan-in).
func (b *builder) awaitAll(acts []act) {
	order := make([]int, len(acts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int { return cmpInt64(acts[x].doneAt, acts[y].doneAt) })
	for _, i := range order {
		b.await(&acts[i])
	}
	b.tick()
}

// retry runs an activity with up to attempts tries and exponential backoff
// timers between retryable (infrastructure) failures.
func (b *builder) retry(p *profile, input string, attempts int, backoffMs int64) (act, int) {
	for try := 1; ; try++ {
		a := b.schedule(p, input)
		b.await(&a)
		if a.ok || !a.retryable || try == attempts {
			b.tick()
			return a, try
		}
		// The backoff timer is created in the turn that saw the failure.
		t := b.timer(backoffMs << (try - 1))
		b.fire(t)
		b.tick()
	}
}

// syscall is a Duroxide system call: an activity that completes in ~1ms.
func (b *builder) syscall(name string) string {
	e := b.emit(events.TypeActivityScheduled, 0)
	e.Name, e.Input = events.SystemCallPrefix+name, ""
	id := e.EventID
	b.now += int64(b.rng.IntN(3) / 2) // mostly 0, sometimes 1 ms
	b.now++
	var result string
	switch name {
	case "new_guid":
		result = b.guid()
	case "utcnow":
		result = strconv.FormatInt(b.now-1, 10)
	default:
		result = strconv.Itoa(b.rng.IntN(1000))
	}
	b.emit(events.TypeActivityCompleted, id).Result = result
	b.tick()
	return result
}

func (b *builder) guid() string {
	const hex = "0123456789abcdef"
	var buf [36]byte
	hi, lo := b.rng.Uint64(), b.rng.Uint64()
	j := 0
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			buf[i] = '-'
			continue
		}
		var nib uint64
		if j < 16 {
			nib = hi >> (60 - 4*j) & 0xF
		} else {
			nib = lo >> (60 - 4*(j-16)) & 0xF
		}
		buf[i] = hex[nib]
		j++
	}
	return string(buf[:])
}

// timer records TimerCreated for a delay from now.
type timer struct {
	id     uint64
	fireAt int64
}

func (b *builder) timer(delayMs int64) timer {
	e := b.emit(events.TypeTimerCreated, 0)
	e.FireAtMs = uint64(b.now + delayMs)
	return timer{id: e.EventID, fireAt: b.now + delayMs}
}

// fire waits for the timer and records TimerFired.
func (b *builder) fire(t timer) {
	b.advance(t.fireAt)
	b.emit(events.TypeTimerFired, t.id).FireAtMs = uint64(t.fireAt)
}

// dropTimer: the timer lost a race; Duroxide still records its fire if the
// execution is alive when it comes.
func (b *builder) dropTimer(t timer) {
	b.addDeferred(events.Event{Type: events.TypeTimerFired, TimestampMs: uint64(t.fireAt),
		SourceEventID: events.OptUint{Value: t.id, Valid: true}, FireAtMs: uint64(t.fireAt)})
}

type subscription struct {
	id         uint64
	name       string
	persistent bool
}

func (b *builder) subscribe(name string, persistent bool) subscription {
	typ := events.TypeExternalSubscribed
	if persistent {
		typ = events.TypeExternalSubscribedPersistent
	}
	e := b.emit(typ, 0)
	e.Name = name
	return subscription{id: e.EventID, name: name, persistent: persistent}
}

// raise records the external event arriving at time at.
func (b *builder) raise(s subscription, data string, at int64) {
	b.advance(at)
	typ := events.TypeExternalEvent
	if s.persistent {
		typ = events.TypeExternalEventPersistent
	}
	e := b.emit(typ, 0)
	e.Name, e.Data = s.name, data
}

func (b *builder) unsubscribe(s subscription, reason string) {
	typ := events.TypeExternalSubscribedCancelled
	if s.persistent {
		typ = events.TypeExternalSubscribedPersistentCancelled
	}
	b.emit(typ, s.id).Reason = reason
}

// arrival draws when an awaited external event comes: a log-normal wait
// around median; for an instance that will be left running, sometimes never
// (a month away, far past any cut).
func (b *builder) arrival(medianMs float64, neverChance float64) int64 {
	if b.running && b.rng.Float64() < neverChance {
		return b.now + 30*24*3600*1000
	}
	return b.now + lognormal(b.rng, medianMs, 1.0, 1, 6*3600*1000)
}

// sub is a scheduled sub-orchestration with its child's outcome.
type sub struct {
	id      uint64
	doneAt  int64
	ok      bool
	result  string
	details *events.ErrorDetails
	raw     []byte
}

// subOrchestration records SubOrchestrationScheduled ("sub::<event_id>") and
// generates the child "<parent>::sub::<event_id>" with run.
func (b *builder) subOrchestration(name, input string, run func(c *builder, input string)) sub {
	e := b.emit(events.TypeSubOrchestrationScheduled, 0)
	id := e.EventID
	local := "sub::" + strconv.FormatUint(id, 10)
	e.Name, e.Instance, e.Input = name, local, input

	c := b.child(b.id+"::"+local, b.now+3+int64(b.rng.IntN(15)))
	c.parentInstance = events.OptString{Value: b.id, Valid: true}
	c.parentID = events.OptUint{Value: id, Valid: true}
	run(c, input)
	n := c.node()
	n.parentEvent = id
	b.children = append(b.children, n)

	s := sub{id: id}
	last := &n.evts[len(n.evts)-1]
	s.doneAt = int64(last.TimestampMs) + 2 + int64(b.rng.IntN(10))
	switch last.Type {
	case events.TypeOrchestrationCompleted:
		s.ok, s.result = true, last.Output
	case events.TypeOrchestrationFailed:
		s.details, s.raw = last.Details, last.DetailsRaw
	default: // every shape ends, but should one not, the parent waits "forever"
		s.doneAt = int64(last.TimestampMs) + 30*24*3600*1000
		s.ok = true
	}
	return s
}

func (b *builder) awaitSub(s *sub) {
	b.advance(s.doneAt)
	if s.ok {
		b.emit(events.TypeSubOrchestrationCompleted, s.id).Result = s.result
		return
	}
	e := b.emit(events.TypeSubOrchestrationFailed, s.id)
	e.Details, e.DetailsRaw = s.details, s.raw
}

// chain records OrchestrationChained and generates the chained (independent)
// instance with run.
func (b *builder) chain(name, instance, input string, run func(c *builder, input string)) {
	e := b.emit(events.TypeOrchestrationChained, 0)
	e.Name, e.Instance, e.Input = name, instance, input
	c := b.child(instance, b.now+5+int64(b.rng.IntN(40)))
	run(c, input)
	b.children = append(b.children, c.node()) // parentEvent 0: not a sub-orchestration
	b.sleep(0, 2)
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
