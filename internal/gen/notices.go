package gen

import (
	"bytes"
	"cmp"
	"container/heap"
	"hash/fnv"
	"iter"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/duroscope/duroscope/events"
)

// NoticeOptions says which source notices (EVENTS.md "Source notices") to
// add to a workload, as a connector reading Duroxide's store would publish
// them. The zero value adds none.
type NoticeOptions struct {
	// Seed selects the random decisions (with the instance id).
	Seed int64
	// DeleteFraction of the top-level instances, finished or running, are
	// deleted DelayMs after their last event; their sub-orchestrations are
	// deleted with them (Duroxide's delete_instance cascades), chained
	// instances are not.
	DeleteFraction float64
	// ReuseFraction of the deleted top-level instances have their id used
	// again: the same history once more (execution 1, event 1), starting
	// DelayMs after the deletion, published with the reused id's
	// Nats-Msg-Id suffix.
	ReuseFraction float64
	// RedeliverFraction of the deleted instances have a few of their events
	// published again after the deletion (a retried publish or a backfill).
	RedeliverFraction float64
	// PruneFraction of the instances with several executions (continue as
	// new) have every execution but the last pruned, right after the last
	// one started.
	PruneFraction float64
	// DelayMs is how long after an instance's last event it is deleted,
	// and how long after the deletion a reused id starts again; 0 = 60 s.
	DelayMs int64
	// NowMs, when non-zero, leaves out every message later than it (as
	// Config.NowMs does for events): data that ends now shows no future
	// deletion.
	NowMs int64
}

func (o NoticeOptions) delay() uint64 {
	if o.DelayMs <= 0 {
		return 60_000
	}
	return uint64(o.DelayMs)
}

// WithNotices is Interleave plus source notices: it merges the histories
// (in order of their first timestamp, as Histories yields them) into one
// stream in timestamp order, with each instance's notices, re-deliveries
// and reused-id histories at their own times. Unlike Interleave it never
// publishes a history early: every history is kept until its time comes,
// so memory grows with the instances in flight.
func WithNotices(hists iter.Seq[[]events.Event], opts NoticeOptions) iter.Seq[Message] {
	return func(yield func(Message) bool) {
		var h timelineHeap
		var seq uint64
		// Deletion time of the top-level instances deleted, for the cascade
		// to their sub-orchestrations (whose histories come later).
		deletedRoots := map[string]uint64{}
		for hist := range hists {
			if len(hist) == 0 {
				continue
			}
			first := hist[0].TimestampMs
			for h.Len() > 0 && h.t[0].ts() <= first {
				if !h.emitMin(yield, opts.NowMs) {
					return
				}
			}
			if seq%1024 == 0 {
				// A sub-orchestration starts before its root's last event,
				// so no child of a root deleted before first is still to come.
				for root, at := range deletedRoots {
					if at < first {
						delete(deletedRoots, root)
					}
				}
			}
			for _, tl := range lifetime(hist, opts, deletedRoots) {
				seq++
				tl.seq = seq
				heap.Push(&h, tl)
			}
		}
		for h.Len() > 0 {
			if !h.emitMin(yield, opts.NowMs) {
				return
			}
		}
	}
}

// timedMsg is a message and the time it is published at.
type timedMsg struct {
	at uint64
	m  Message
}

// timeline is one history's messages in publish-time order.
type timeline struct {
	msgs []timedMsg
	pos  int
	seq  uint64
}

func (t *timeline) ts() uint64 { return t.msgs[t.pos].at }

// lifetime builds the timeline of one history: its events, then (if it is
// deleted) the deletion, re-deliveries and a reused id's history; or a prune.
func lifetime(hist []events.Event, opts NoticeOptions, deletedRoots map[string]uint64) []*timeline {
	id := hist[0].InstanceID
	hash := fnv.New64a()
	hash.Write([]byte(id))
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), splitmix64(hash.Sum64())))

	tl := &timeline{msgs: make([]timedMsg, 0, len(hist)+4)}
	var last uint64
	for i := range hist {
		tl.msgs = append(tl.msgs, timedMsg{at: hist[i].TimestampMs, m: Message{Event: &hist[i]}})
		last = max(last, hist[i].TimestampMs)
	}

	root, isChild := rootOf(id)
	var deleteAt uint64
	switch {
	case isChild:
		if t, ok := deletedRoots[root]; ok {
			deleteAt = max(t, last+1)
		}
	case rng.Float64() < opts.DeleteFraction:
		deleteAt = last + opts.delay()
		deletedRoots[id] = deleteAt
	}

	if deleteAt == 0 {
		if x, ok := lastExecution(hist); ok && x > 1 && rng.Float64() < opts.PruneFraction {
			ids := make([]uint64, 0, x-1)
			for i := uint64(1); i < x; i++ {
				ids = append(ids, i)
			}
			at := startOf(hist, x) + 1
			n := events.ExecutionsPruned(id, ids, at)
			tl.msgs = append(tl.msgs, timedMsg{at: at, m: Message{Notice: &n}})
		}
		sortTimeline(tl)
		return []*timeline{tl}
	}

	n := events.InstanceDeleted(id, deleteAt)
	tl.msgs = append(tl.msgs, timedMsg{at: deleteAt, m: Message{Notice: &n}})
	if rng.Float64() < opts.RedeliverFraction {
		for k := range 1 + rng.IntN(3) {
			e := &hist[rng.IntN(len(hist))]
			tl.msgs = append(tl.msgs, timedMsg{at: deleteAt + 1 + uint64(k), m: Message{Event: e, Copy: 1}})
		}
	}
	sortTimeline(tl)
	out := []*timeline{tl}
	if !isChild && rng.Float64() < opts.ReuseFraction {
		out = append(out, reused(hist, deleteAt, deleteAt+opts.delay()))
	}
	return out
}

// reused is hist again, shifted to start at start: the instance id used
// once more after its deletion at deletedAt.
func reused(hist []events.Event, deletedAt, start uint64) *timeline {
	shift := start - hist[0].TimestampMs
	tl := &timeline{msgs: make([]timedMsg, 0, len(hist))}
	for i := range hist {
		e := hist[i]
		old := e.TimestampMs
		e.TimestampMs += shift
		if e.Type == events.TypeTimerCreated || e.Type == events.TypeTimerFired {
			e.FireAtMs += shift
		}
		if e.Known {
			e.Raw = events.Marshal(&e)
		} else {
			// Marshal keeps an unknown type's payload as it is: move its
			// timestamp by hand.
			e.Raw = bytes.Replace(e.Raw, []byte(`"timestamp_ms":`+strconv.FormatUint(old, 10)),
				[]byte(`"timestamp_ms":`+strconv.FormatUint(e.TimestampMs, 10)), 1)
		}
		tl.msgs = append(tl.msgs, timedMsg{at: e.TimestampMs, m: Message{Event: &e, DeletedAtMs: deletedAt}})
	}
	sortTimeline(tl)
	return tl
}

// rootOf returns the top-level instance of a sub-orchestration id
// ("<root>::sub::N..."), and whether id is one.
func rootOf(id string) (string, bool) {
	i := strings.Index(id, "::sub::")
	if i < 0 {
		return id, false
	}
	return id[:i], true
}

// lastExecution is the highest execution id of hist.
func lastExecution(hist []events.Event) (uint64, bool) {
	var x uint64
	for i := range hist {
		x = max(x, hist[i].ExecutionID)
	}
	return x, x > 0
}

// startOf is the first timestamp of execution x in hist.
func startOf(hist []events.Event, x uint64) uint64 {
	var t uint64
	found := false
	for i := range hist {
		if hist[i].ExecutionID == x && (!found || hist[i].TimestampMs < t) {
			t, found = hist[i].TimestampMs, true
		}
	}
	return t
}

// sortTimeline orders a timeline by publish time, keeping the order of
// equal times (events of one turn share a timestamp).
func sortTimeline(tl *timeline) {
	slices.SortStableFunc(tl.msgs, func(a, b timedMsg) int { return cmp.Compare(a.at, b.at) })
}

// timelineHeap orders timelines by their next message's time, then by
// arrival.
type timelineHeap struct{ t []*timeline }

func (h *timelineHeap) Len() int { return len(h.t) }
func (h *timelineHeap) Less(i, j int) bool {
	a, b := h.t[i], h.t[j]
	if ta, tb := a.ts(), b.ts(); ta != tb {
		return ta < tb
	}
	return a.seq < b.seq
}
func (h *timelineHeap) Swap(i, j int) { h.t[i], h.t[j] = h.t[j], h.t[i] }
func (h *timelineHeap) Push(x any)    { h.t = append(h.t, x.(*timeline)) }
func (h *timelineHeap) Pop() any {
	last := h.t[len(h.t)-1]
	h.t = h.t[:len(h.t)-1]
	return last
}

// emitMin yields the earliest pending message, unless it is later than
// nowMs (when non-zero), and advances its timeline.
func (h *timelineHeap) emitMin(yield func(Message) bool, nowMs int64) bool {
	top := h.t[0]
	m, at := top.msgs[top.pos].m, top.msgs[top.pos].at
	top.pos++
	if top.pos == len(top.msgs) {
		heap.Pop(h)
	} else {
		heap.Fix(h, 0)
	}
	if nowMs != 0 && at > uint64(nowMs) {
		return true
	}
	return yield(m)
}
