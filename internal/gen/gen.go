// Package gen generates realistic Duroxide histories (see
// ../shared/contract/EVENTS.md) for tests, benchmarks and the local demo, and
// publishes them to NATS JetStream the way a Duroxide provider wrapper would.
//
// Generation is deterministic for a seed: every top-level instance draws from
// its own random stream derived from (Seed, instance number), so the same
// Config always yields byte-identical histories, and a larger Instances only
// appends instances.
//
// Each history is generated as a complete run of a workflow shape (order
// processing, fan-out/fan-in, timeouts, approvals, retries,
// sub-orchestrations, continue-as-new loops, ...) on a simulated clock; the
// "running" instances and the cut at Config.NowMs are *prefixes in time* of
// such a run, which is exactly what a real store holds at that moment. That
// keeps every history internally consistent without special cases per shape.
package gen

import (
	"iter"
	"math/rand/v2"
	"strconv"

	"github.com/duroscope/duroscope/events"
)

// DefaultStartMs is used when Config.StartMs is 0: 2025-11-26T00:00:00Z, the
// epoch of the contract fixtures. A fixed default keeps output deterministic.
const DefaultStartMs int64 = 1764115200000

// Config says what to generate.
type Config struct {
	// Seed selects the random streams; the same Config yields identical bytes.
	Seed int64
	// Instances is the number of top-level instances. Sub-orchestration
	// children and chained instances come on top of it.
	Instances int
	// StartMs is the first instance's start (epoch ms); 0 = DefaultStartMs.
	StartMs int64
	// SpreadMs spreads the top-level instance starts evenly (with jitter)
	// over [StartMs, StartMs+SpreadMs).
	SpreadMs int64
	// RunningFraction of the top-level instances are left unfinished: their
	// history (and their children's) stops at a random moment before the
	// terminal event, leaving pending activities, timers, subscriptions or
	// sub-orchestrations.
	RunningFraction float64
	// UnknownTypeFraction of the instances (children included) carry one
	// event of a type this projector does not know (a newer Duroxide).
	UnknownTypeFraction float64
	// CancelFraction of the finished top-level instances are cancelled
	// (OrchestrationCancelRequested, then OrchestrationFailed with the
	// Cancelled kind). Negative = none; 0 = the default 0.03.
	CancelFraction float64
	// NowMs, when non-zero, drops every event later than it (the instance
	// simply has not got there yet), so that data generated "ending now"
	// never shows the future. Instances cut this way are Running.
	NowMs int64
	// FirstIndex offsets the instance numbers (ids are "<shape>-<n>" with
	// n = FirstIndex+1, FirstIndex+2, ...): --loop uses it for fresh ids.
	FirstIndex int64
	// IDPrefix is prepended to every top-level instance id.
	IDPrefix string
	// Workers > 1 generates with that many goroutines; the output is the
	// same whatever the number.
	Workers int
}

const defaultCancelFraction = 0.03

// Histories yields one instance history at a time, each in event order
// ((execution_id, event_id), which is also timestamp order), with Raw set to
// the wire JSON. Sub-orchestration children and chained instances are yielded
// as their own histories. Histories are yielded in order of their first
// event's timestamp, which Interleave relies on. The yielded slices belong to
// the caller; memory stays bounded by the instances in flight.
func Histories(cfg Config) iter.Seq[[]events.Event] {
	return merge(generate(cfg, backfillSpecs(cfg)))
}

// Endless yields the histories of cfg (a backfill over [StartMs,
// StartMs+SpreadMs)) and then, forever, new instances with fresh numbers
// starting right after that window at a steady pace. eventsPerSecond > 0
// sets that pace so that the new instances' events average this rate
// (calibrated on a sample of the same mix); otherwise the backfill's density
// (Instances per SpreadMs) continues. cfg.NowMs is ignored: meant for
// InterleaveLive and PublishOptions.Realtime, which publish every event when
// its time comes. The backfill instances are exactly Histories(cfg)'s.
func Endless(cfg Config, eventsPerSecond float64) iter.Seq[[]events.Event] {
	cfg.NowMs = 0
	cfg = cfg.normalized()
	specs := func(yield func(spec) bool) {
		for s := range backfillSpecs(cfg) {
			if !yield(s) {
				return
			}
		}
		perMs := 0.0 // new top-level instances per ms
		switch {
		case eventsPerSecond > 0:
			perMs = eventsPerSecond / EventsPerInstance(cfg) / 1000
		case cfg.Instances > 0 && cfg.SpreadMs > 0:
			perMs = float64(cfg.Instances) / float64(cfg.SpreadMs)
		default:
			perMs = 0.001
		}
		// Rounds of about a second (at least one instance each), one after
		// the other from the end of the backfill window.
		k := max(1, int(perMs*1000+0.5))
		window := max(1, int64(float64(k)/perMs+0.5))
		roundStart := cfg.StartMs + cfg.SpreadMs
		n := cfg.FirstIndex + int64(cfg.Instances)
		for {
			for i := 0; i < k; i++ {
				slot0, slot1 := slot(window, i, k)
				n++
				if !yield(spec{n: n, slotStart: roundStart + slot0, slotLen: slot1 - slot0}) {
					return
				}
			}
			roundStart += window
		}
	}
	return merge(generate(cfg, specs))
}

// spec says which top-level instance to generate: its number and the window
// its start falls in.
type spec struct{ n, slotStart, slotLen int64 }

func (c Config) normalized() Config {
	if c.StartMs == 0 {
		c.StartMs = DefaultStartMs
	}
	if c.SpreadMs < 0 {
		c.SpreadMs = 0
	}
	return c
}

// backfillSpecs spreads cfg.Instances evenly over [StartMs, StartMs+SpreadMs).
func backfillSpecs(cfg Config) iter.Seq[spec] {
	cfg = cfg.normalized()
	return func(yield func(spec) bool) {
		for i := 0; i < cfg.Instances; i++ {
			slot0, slot1 := slot(cfg.SpreadMs, i, cfg.Instances)
			if !yield(spec{n: cfg.FirstIndex + int64(i) + 1, slotStart: cfg.StartMs + slot0, slotLen: slot1 - slot0}) {
				return
			}
		}
	}
}

// slot is instance i's share [slot0, slot1) of a spread over n instances.
func slot(spread int64, i, n int) (int64, int64) {
	if n <= 0 || spread <= 0 {
		return 0, 0
	}
	return spread * int64(i) / int64(n), spread * int64(i+1) / int64(n)
}

// merge yields each root after the pending children that start no later
// than it. Children are generated with their parent but yielded in start
// order, so that the stream of histories is ordered by first timestamp
// (which Interleave relies on).
func merge(roots iter.Seq[*node]) iter.Seq[[]events.Event] {
	return func(yield func([]events.Event) bool) {
		var pending nodeHeap
		for root := range roots {
			if len(root.evts) == 0 {
				continue // started after NowMs
			}
			start := root.start()
			for pending.len() > 0 && pending.min().start() <= start {
				if !yield(pending.pop().evts) {
					return
				}
			}
			if !yield(root.evts) {
				return
			}
			root.walkChildren(func(n *node) { pending.push(n) })
		}
		for pending.len() > 0 {
			if !yield(pending.pop().evts) {
				return
			}
		}
	}
}

// chunkSize is how many instances a worker generates per job.
const chunkSize = 128

// generate turns specs into instance trees, in spec order. With
// cfg.Workers > 1 the trees are generated by that many goroutines, chunk by
// chunk, and handed out in order, so the output does not depend on the
// number of workers; at most 2*Workers chunks are in flight.
func generate(cfg Config, specs iter.Seq[spec]) iter.Seq[*node] {
	if cfg.Workers <= 1 {
		return func(yield func(*node) bool) {
			g := newGenerator(cfg)
			for s := range specs {
				if !yield(g.instance(s.n, s.slotStart, s.slotLen)) {
					return
				}
			}
		}
	}
	return func(yield func(*node) bool) {
		type job struct {
			specs []spec
			out   chan []*node
		}
		done := make(chan struct{})
		defer close(done)
		jobs := make(chan job)
		order := make(chan chan []*node, 2*cfg.Workers)
		go func() { // dispatcher: cuts specs into chunks, keeps their order
			defer close(jobs)
			defer close(order)
			chunk := make([]spec, 0, chunkSize)
			send := func() bool {
				j := job{specs: chunk, out: make(chan []*node, 1)}
				chunk = make([]spec, 0, chunkSize)
				select {
				case order <- j.out:
				case <-done:
					return false
				}
				select {
				case jobs <- j:
					return true
				case <-done:
					return false
				}
			}
			for s := range specs {
				chunk = append(chunk, s)
				if len(chunk) == chunkSize && !send() {
					return
				}
			}
			if len(chunk) > 0 {
				send()
			}
		}()
		for range cfg.Workers {
			go func() {
				g := newGenerator(cfg)
				for j := range jobs {
					nodes := make([]*node, len(j.specs))
					for i, s := range j.specs {
						nodes[i] = g.instance(s.n, s.slotStart, s.slotLen)
					}
					j.out <- nodes // buffered: never blocks
				}
			}()
		}
		for out := range order {
			var nodes []*node
			select {
			case nodes = <-out:
			case <-done:
				return
			}
			for _, n := range nodes {
				if !yield(n) {
					return
				}
			}
		}
	}
}

// EventsPerInstance measures the mean number of events (children included)
// per top-level instance of cfg's mix on a fixed sample.
func EventsPerInstance(cfg Config) float64 {
	const sample = 1000
	cfg.Instances = sample
	cfg.NowMs = 0
	n := 0
	for h := range Histories(cfg) {
		n += len(h)
	}
	return float64(n) / sample
}

// generator holds the per-run state reused across instances (no
// per-instance allocation of random sources).
type generator struct {
	cfg    Config
	pcg    *rand.PCG
	rng    *rand.Rand
	seq    uint64 // tie-breaker for equal start times: (instance number, generation order)
	cancel float64
	// scratch holds one reusable event buffer per nesting depth.
	scratch [][]events.Event
}

func newGenerator(cfg Config) *generator {
	cfg = cfg.normalized()
	pcg := rand.NewPCG(0, 0)
	g := &generator{cfg: cfg, pcg: pcg, rng: rand.New(pcg)}
	switch {
	case cfg.CancelFraction < 0:
		g.cancel = 0
	case cfg.CancelFraction == 0:
		g.cancel = defaultCancelFraction
	default:
		g.cancel = cfg.CancelFraction
	}
	return g
}

// splitmix64 scrambles the instance number so that neighbouring instances
// get unrelated PCG streams.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// instance generates top-level instance number n, starting somewhere in
// [slotStart, slotStart+slotLen), with all its descendants; it applies
// the running cut, a cancellation and the NowMs cut, and marshals the events.
func (g *generator) instance(n, slotStart, slotLen int64) *node {
	cfg := &g.cfg
	g.pcg.Seed(uint64(cfg.Seed), splitmix64(uint64(n)))
	g.seq = uint64(n) << 20 // node order must not depend on which worker ran it
	rng := g.rng
	start := slotStart
	if slotLen > 0 {
		start += rng.Int64N(slotLen)
	}
	running := rng.Float64() < cfg.RunningFraction
	cancelled := !running && rng.Float64() < g.cancel

	sh := pickShape(rng)
	b := g.newBuilder(rng, cfg.IDPrefix+sh.prefix+"-"+strconv.FormatInt(n, 10), start, running, 0)
	sh.run(b, n)
	root := b.node()

	switch {
	case running:
		if t, ok := root.terminalTs(); ok {
			first := int64(root.evts[0].TimestampMs)
			cut := first
			if t > first {
				cut = first + rng.Int64N(t-first)
			}
			root.cut(cut)
		}
	case cancelled:
		if lo, hi, ok := root.lastExecSpan(); ok && hi-lo >= 2 {
			at := lo + 1 + rng.Int64N(hi-lo-1)
			root.cancel(rng, at, cancelReasons[rng.IntN(len(cancelReasons))])
		}
	}
	if cfg.NowMs != 0 {
		root.cut(cfg.NowMs)
	}
	root.marshal()
	return root
}

var cancelReasons = []string{"user requested", "superseded by newer request", "operator: stuck", "customer cancelled order"}

// node is one generated instance history and the instances it started.
type node struct {
	evts     []events.Event
	children []*node
	// parentEvent is the SubOrchestrationScheduled event id in the parent
	// (0 for a chained instance, which has no parent link).
	parentEvent uint64
	seq         uint64
}

func (n *node) start() int64 { return int64(n.evts[0].TimestampMs) }

func (n *node) walkChildren(f func(*node)) {
	for _, c := range n.children {
		f(c)
		c.walkChildren(f)
	}
}

// terminalTs is the timestamp of the last execution's terminal event
// (Completed or Failed); ok is false when the history never ends.
func (n *node) terminalTs() (int64, bool) {
	for i := len(n.evts) - 1; i >= 0; i-- {
		switch n.evts[i].Type {
		case events.TypeOrchestrationCompleted, events.TypeOrchestrationFailed:
			return int64(n.evts[i].TimestampMs), true
		case events.TypeOrchestrationStarted, events.TypeOrchestrationContinuedAsNew:
			return 0, false
		}
	}
	return 0, false
}

// lastExecSpan is the start and terminal timestamps of the last execution.
func (n *node) lastExecSpan() (lo, hi int64, ok bool) {
	hi, ok = n.terminalTs()
	if !ok {
		return 0, 0, false
	}
	for i := len(n.evts) - 1; i >= 0; i-- {
		if n.evts[i].Type == events.TypeOrchestrationStarted {
			return int64(n.evts[i].TimestampMs), hi, true
		}
	}
	return 0, 0, false
}

// cut keeps the events recorded at or before t, here and in every
// descendant: the state of the whole family at time t. Children that had not
// started by then disappear.
func (n *node) cut(t int64) { n.cutExcept(t, false) }

// cutExcept is cut; with spareChained, chained instances (which run on their
// own) and their descendants are left whole.
func (n *node) cutExcept(t int64, spareChained bool) {
	k := len(n.evts)
	for k > 0 && int64(n.evts[k-1].TimestampMs) > t {
		k--
	}
	n.evts = n.evts[:k:k]
	kept := n.children[:0]
	for _, c := range n.children {
		if spareChained && c.parentEvent == 0 {
			kept = append(kept, c)
			continue
		}
		if len(c.evts) == 0 || c.start() > t {
			continue
		}
		c.cut(t)
		kept = append(kept, c)
	}
	n.children = kept
}

// cancel replays Duroxide's cancellation at time at: the history up to then,
// OrchestrationCancelRequested, OrchestrationFailed with the Cancelled kind,
// then cancel requests for the work still in flight; pending
// sub-orchestrations are cancelled in turn.
func (n *node) cancel(rng *rand.Rand, at int64, reason string) {
	// Chained instances run on their own: the cancellation does not touch them.
	n.cutExcept(at, true)
	if len(n.evts) == 0 {
		return
	}
	if _, done := n.terminalTs(); done {
		return // it finished before the cancellation reached it
	}
	last := n.evts[len(n.evts)-1]
	if last.Type == events.TypeOrchestrationContinuedAsNew {
		return // between executions; the next one never starts
	}
	// Work in flight in the current execution.
	var execStart int
	for i := len(n.evts) - 1; i >= 0; i-- {
		if n.evts[i].Type == events.TypeOrchestrationStarted {
			execStart = i
			break
		}
	}
	var acts, subs []uint64
	done := map[uint64]bool{}
	for _, e := range n.evts[execStart:] {
		switch e.Type {
		case events.TypeActivityCompleted, events.TypeActivityFailed, events.TypeActivityCancelRequested,
			events.TypeSubOrchestrationCompleted, events.TypeSubOrchestrationFailed, events.TypeSubOrchestrationCancelRequested:
			done[e.SourceEventID.Value] = true
		}
	}
	for _, e := range n.evts[execStart:] {
		switch {
		case e.Type == events.TypeActivityScheduled && !done[e.EventID]:
			acts = append(acts, e.EventID)
		case e.Type == events.TypeSubOrchestrationScheduled && !done[e.EventID]:
			subs = append(subs, e.EventID)
		}
	}
	mk := func(typ string, ts int64, src uint64) events.Event {
		e := events.Event{
			EventID:         n.evts[len(n.evts)-1].EventID + 1,
			InstanceID:      last.InstanceID,
			ExecutionID:     last.ExecutionID,
			TimestampMs:     uint64(ts),
			DuroxideVersion: last.DuroxideVersion,
			Type:            typ,
			Known:           true,
		}
		if src != 0 {
			e.SourceEventID = events.OptUint{Value: src, Valid: true}
		}
		return e
	}
	if at < int64(last.TimestampMs) {
		at = int64(last.TimestampMs)
	}
	req := mk(events.TypeOrchestrationCancelRequested, at, 0)
	req.Reason = reason
	n.evts = append(n.evts, req)
	failAt := at + 1 + rng.Int64N(8)
	fail := mk(events.TypeOrchestrationFailed, failAt, 0)
	fail.Details = &events.ErrorDetails{Category: "application", Kind: "Cancelled", Message: "canceled: " + reason}
	n.evts = append(n.evts, fail)
	for _, id := range acts {
		e := mk(events.TypeActivityCancelRequested, failAt, id)
		e.Reason = "orchestration_terminal_failed"
		n.evts = append(n.evts, e)
	}
	for _, id := range subs {
		e := mk(events.TypeSubOrchestrationCancelRequested, failAt, id)
		e.Reason = "orchestration_terminal_failed"
		n.evts = append(n.evts, e)
	}
	// The children learn of it a little later.
	kept := n.children[:0]
	for _, c := range n.children {
		pendingChild := false
		for _, id := range subs {
			if c.parentEvent == id {
				pendingChild = true
			}
		}
		if pendingChild {
			c.cancel(rng, failAt+1+rng.Int64N(10), "parent orchestration cancelled")
			if len(c.evts) == 0 {
				continue
			}
		}
		kept = append(kept, c)
	}
	n.children = kept
}

// marshal sets Raw on every event of the family.
func (n *node) marshal() {
	for i := range n.evts {
		n.evts[i].Raw = events.Marshal(&n.evts[i])
	}
	for _, c := range n.children {
		c.marshal()
	}
}

// nodeHeap is a min-heap of histories by (start, generation order).
type nodeHeap struct{ h []*node }

func (q *nodeHeap) len() int   { return len(q.h) }
func (q *nodeHeap) min() *node { return q.h[0] }
func nodeLess(a, b *node) bool {
	if sa, sb := a.start(), b.start(); sa != sb {
		return sa < sb
	}
	return a.seq < b.seq
}

func (q *nodeHeap) push(n *node) {
	if len(n.evts) == 0 {
		return
	}
	q.h = append(q.h, n)
	i := len(q.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !nodeLess(q.h[i], q.h[p]) {
			break
		}
		q.h[i], q.h[p] = q.h[p], q.h[i]
		i = p
	}
}

func (q *nodeHeap) pop() *node {
	top := q.h[0]
	last := len(q.h) - 1
	q.h[0] = q.h[last]
	q.h[last] = nil
	q.h = q.h[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q.h) && nodeLess(q.h[l], q.h[m]) {
			m = l
		}
		if r < len(q.h) && nodeLess(q.h[r], q.h[m]) {
			m = r
		}
		if m == i {
			break
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		i = m
	}
	// Children are not needed once yielded: let them be collected.
	top.children = nil
	return top
}
