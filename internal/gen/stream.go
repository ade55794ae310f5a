package gen

import (
	"iter"
	"math/rand/v2"
	"strconv"

	"github.com/duroscope/duroscope/events"
)

// Message is one publication: an event or, when Notice is set, a source
// notice (EVENTS.md "Source notices").
type Message struct {
	Event  *events.Event
	Notice *events.Notice
	// Copy is 0 for the original publication and n > 0 for the n-th
	// deliberate re-publication (a duplicate, see Duplicate).
	Copy int
	// DeletedAtMs is, for an event of an instance id reused after its
	// deletion, the time of that deletion (0 otherwise): it goes into the
	// Nats-Msg-Id (events.ReincarnatedMsgID).
	DeletedAtMs uint64
}

// Subject is the message's NATS subject (EVENTS.md "Transport").
func (m Message) Subject() string {
	if m.Notice != nil {
		return m.Notice.Subject()
	}
	return events.Subject(m.Event.InstanceID)
}

// TimestampMs is the event's or the notice's timestamp.
func (m Message) TimestampMs() uint64 {
	if m.Notice != nil {
		return m.Notice.TimestampMs
	}
	return m.Event.TimestampMs
}

// Payload is the message's wire bytes.
func (m Message) Payload() []byte {
	if m.Notice != nil {
		return m.Notice.Marshal()
	}
	return m.Event.Raw
}

// MsgID is the Nats-Msg-Id header. A deliberate duplicate gets the suffix
// "/dup<n>": with the plain id, JetStream's duplicate window would swallow it
// and the projector would never see the re-delivery we want to test, while
// a retried publish of the same copy is still de-duplicated.
func (m Message) MsgID() string {
	var id string
	if m.Notice != nil {
		id = m.Notice.MsgID()
	} else {
		id = events.ReincarnatedMsgID(m.Event.InstanceID, m.Event.ExecutionID, m.Event.EventID, m.DeletedAtMs)
	}
	if m.Copy > 0 {
		id += "/dup" + strconv.Itoa(m.Copy)
	}
	return id
}

// Flatten publishes instance after instance, each in event order.
func Flatten(hists iter.Seq[[]events.Event]) iter.Seq[Message] {
	return func(yield func(Message) bool) {
		for h := range hists {
			for i := range h {
				if !yield(Message{Event: &h[i]}) {
					return
				}
			}
		}
	}
}

// DefaultMaxOpen bounds the histories Interleave keeps open.
const DefaultMaxOpen = 20000

// Interleave merges histories into one stream in timestamp order, the way a
// real system publishes events as they happen. hists must come in order of
// their first timestamp (as Histories yields them); ties keep input order.
//
// At most maxOpen histories (0 = DefaultMaxOpen) are held at once, which
// bounds memory when many instances wait for a long time: when the limit is
// reached, one open history (a heap leaf, so one with a late next event) is
// published to its end early — as a publisher catching up on a backlog would.
func Interleave(hists iter.Seq[[]events.Event], maxOpen int) iter.Seq[Message] {
	return interleave(hists, maxOpen, false)
}

// InterleaveLive is Interleave for publishing in real time (Endless with
// PublishOptions.Realtime): on overflow, the rest of the evicted history is
// dropped instead of published ahead of its time, so nothing from the future
// is ever published; that instance simply stays Running.
func InterleaveLive(hists iter.Seq[[]events.Event], maxOpen int) iter.Seq[Message] {
	return interleave(hists, maxOpen, true)
}

func interleave(hists iter.Seq[[]events.Event], maxOpen int, drop bool) iter.Seq[Message] {
	if maxOpen <= 0 {
		maxOpen = DefaultMaxOpen
	}
	return func(yield func(Message) bool) {
		var h cursorHeap
		var seq uint64
		for hist := range hists {
			if len(hist) == 0 {
				continue
			}
			first := hist[0].TimestampMs
			for len(h.c) > 0 && h.c[0].ts() <= first {
				if !h.emitMin(yield) {
					return
				}
			}
			if len(h.c) >= maxOpen {
				// Removing the last array element keeps the heap valid.
				leaf := h.c[len(h.c)-1]
				h.c[len(h.c)-1] = cursor{}
				h.c = h.c[:len(h.c)-1]
				for i := leaf.pos; i < len(leaf.evts) && !drop; i++ {
					if !yield(Message{Event: &leaf.evts[i]}) {
						return
					}
				}
			}
			seq++
			h.push(cursor{evts: hist, seq: seq})
		}
		for len(h.c) > 0 {
			if !h.emitMin(yield) {
				return
			}
		}
	}
}

type cursor struct {
	evts []events.Event
	pos  int
	seq  uint64
}

func (c *cursor) ts() uint64 { return c.evts[c.pos].TimestampMs }

type cursorHeap struct{ c []cursor }

func cursorLess(a, b *cursor) bool {
	if ta, tb := a.ts(), b.ts(); ta != tb {
		return ta < tb
	}
	return a.seq < b.seq
}

func (h *cursorHeap) push(c cursor) {
	h.c = append(h.c, c)
	i := len(h.c) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !cursorLess(&h.c[i], &h.c[p]) {
			break
		}
		h.c[i], h.c[p] = h.c[p], h.c[i]
		i = p
	}
}

// emitMin yields the earliest pending event and advances its history.
func (h *cursorHeap) emitMin(yield func(Message) bool) bool {
	top := &h.c[0]
	m := Message{Event: &top.evts[top.pos]}
	top.pos++
	if top.pos == len(top.evts) {
		last := len(h.c) - 1
		h.c[0] = h.c[last]
		h.c[last] = cursor{}
		h.c = h.c[:last]
	}
	h.down(0)
	return yield(m)
}

func (h *cursorHeap) down(i int) {
	n := len(h.c)
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && cursorLess(&h.c[l], &h.c[m]) {
			m = l
		}
		if r < n && cursorLess(&h.c[r], &h.c[m]) {
			m = r
		}
		if m == i {
			return
		}
		h.c[i], h.c[m] = h.c[m], h.c[i]
		i = m
	}
}

// Shuffle reorders the stream within consecutive blocks of window messages
// (a uniform permutation of each block), so no message moves by window or
// more positions. window < 2 leaves the order as is.
func Shuffle(msgs iter.Seq[Message], window int, rng *rand.Rand) iter.Seq[Message] {
	if window < 2 {
		return msgs
	}
	return func(yield func(Message) bool) {
		buf := make([]Message, 0, window)
		flush := func() bool {
			rng.Shuffle(len(buf), func(i, j int) { buf[i], buf[j] = buf[j], buf[i] })
			for _, m := range buf {
				if !yield(m) {
					return false
				}
			}
			buf = buf[:0]
			return true
		}
		for m := range msgs {
			buf = append(buf, m)
			if len(buf) == window && !flush() {
				return
			}
		}
		flush()
	}
}

// Duplicate re-publishes a fraction of the messages once more, between 1
// and maxDelay (0 = 1000) messages later, with Copy set; originals keep
// their position.
func Duplicate(msgs iter.Seq[Message], fraction float64, maxDelay int, rng *rand.Rand) iter.Seq[Message] {
	if fraction <= 0 {
		return msgs
	}
	if maxDelay <= 0 {
		maxDelay = 1000
	}
	return func(yield func(Message) bool) {
		var due dueHeap
		var pos int64
		for m := range msgs {
			for len(due.d) > 0 && due.d[0].at <= pos {
				if !yield(due.pop().m) {
					return
				}
			}
			if !yield(m) {
				return
			}
			pos++
			if rng.Float64() < fraction {
				c := m
				c.Copy++
				due.push(dueMsg{at: pos + 1 + int64(rng.IntN(maxDelay)), seq: pos, m: c})
			}
		}
		for len(due.d) > 0 {
			if !yield(due.pop().m) {
				return
			}
		}
	}
}

type dueMsg struct {
	at, seq int64
	m       Message
}

type dueHeap struct{ d []dueMsg }

func dueLess(a, b *dueMsg) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (h *dueHeap) push(x dueMsg) {
	h.d = append(h.d, x)
	i := len(h.d) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !dueLess(&h.d[i], &h.d[p]) {
			break
		}
		h.d[i], h.d[p] = h.d[p], h.d[i]
		i = p
	}
}

func (h *dueHeap) pop() dueMsg {
	top := h.d[0]
	last := len(h.d) - 1
	h.d[0] = h.d[last]
	h.d = h.d[:last]
	i, n := 0, len(h.d)
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && dueLess(&h.d[l], &h.d[m]) {
			m = l
		}
		if r < n && dueLess(&h.d[r], &h.d[m]) {
			m = r
		}
		if m == i {
			return top
		}
		h.d[i], h.d[m] = h.d[m], h.d[i]
		i = m
	}
}
