package projector

import (
	"container/list"
	"encoding/binary"
	"maps"
	"unsafe"

	"github.com/duroscope/duroscope/events"
)

// instanceCache keeps the deduplicated histories of recently touched
// instances so a new event re-derives its instance without reading the
// history back from ClickHouse. It is owned by the single writer goroutine.
// Correctness does not depend on it: an instance missing from the cache is
// loaded from the history table. It is bounded by the bytes it holds.
//
// An instance's events are kept packed in one append-only byte slice (only
// the fields projection.Derive reads; see pack) rather than as
// events.Event values: an Event is ~530 bytes of struct full of pointers
// plus the decoder's string arena, which the cache would keep alive for a
// single field. Packed, a typical event takes 60–150 bytes and the cache
// holds no pointers per event, so it costs the garbage collector nothing to
// scan and its byte bound is its real size.
type instanceCache struct {
	maxBytes int64
	bytes    int64
	lru      *list.List // front = most recently used; values are *cachedInstance
	byID     map[string]*list.Element
}

type cachedInstance struct {
	id string
	// buf holds the packed events, one after the other. It is append-only:
	// bytes once written never change, which is what lets history() hand
	// out strings that alias it (Derive's rows alias their input's strings).
	buf []byte
	// keys lists the events' (execution, event) ids in buf order; index
	// replaces the linear scan once an instance has many events.
	keys  []eventKey
	index map[eventKey]struct{}
	// notices are the instance's distinct source notices (docs/deletions.md).
	notices []events.Notice
	bytes   int64
}

// eventKey identifies a cached copy: the timestamp is part of it because
// an instance id reused after its deletion repeats (execution, event) ids
// in a new incarnation (projection.Derive tells the copies apart).
type eventKey struct{ execution, event, timestampMs uint64 }

// indexAbove is the event count from which an instance's keys get a map.
const indexAbove = 32

// entryOverhead approximates the bytes of an entry besides its buffers:
// the struct, the list element, the map slot.
const entryOverhead = 200

func newInstanceCache(maxBytes int64) *instanceCache {
	return &instanceCache{maxBytes: maxBytes, lru: list.New(), byID: make(map[string]*list.Element)}
}

func (c *instanceCache) get(id string) (*cachedInstance, bool) {
	el, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cachedInstance), true
}

// put inserts an empty entry for id (caller fills it through add).
func (c *instanceCache) put(id string) *cachedInstance {
	ci := &cachedInstance{id: id, bytes: int64(len(id)) + entryOverhead}
	c.byID[id] = c.lru.PushFront(ci)
	c.bytes += ci.bytes
	return ci
}

// add merges e into ci; it reports whether e was new (the first copy of an
// event key is kept, as before).
func (c *instanceCache) add(ci *cachedInstance, e events.Event) bool {
	k := eventKey{e.ExecutionID, e.EventID, e.TimestampMs}
	if ci.has(k) {
		return false
	}
	before := int64(cap(ci.buf)) + int64(cap(ci.keys))*int64(unsafe.Sizeof(eventKey{}))
	ci.buf = pack(ci.buf, &e)
	ci.keys = append(ci.keys, k)
	after := int64(cap(ci.buf)) + int64(cap(ci.keys))*int64(unsafe.Sizeof(eventKey{}))
	if ci.index != nil {
		ci.index[k] = struct{}{}
		after += 48 // map slot
	} else if len(ci.keys) > indexAbove {
		ci.index = make(map[eventKey]struct{}, 2*len(ci.keys))
		for _, x := range ci.keys {
			ci.index[x] = struct{}{}
		}
		after += 48 * int64(len(ci.keys))
	}
	ci.bytes += after - before
	c.bytes += after - before
	return true
}

// addNotice merges n into ci; it reports whether n was new (not equal to
// a notice already cached: same type, timestamp and executions).
func (c *instanceCache) addNotice(ci *cachedInstance, n events.Notice) bool {
	for _, x := range ci.notices {
		if sameNotice(x, n) {
			return false
		}
	}
	ci.notices = append(ci.notices, n)
	size := int64(64 + len(n.InstanceID) + 8*len(n.ExecutionIDs))
	ci.bytes += size
	c.bytes += size
	return true
}

// sameNotice reports whether a and b are the same notice: same type,
// timestamp and set of executions.
func sameNotice(a, b events.Notice) bool {
	if a.Type != b.Type || a.TimestampMs != b.TimestampMs {
		return false
	}
	set := func(ids []uint64) map[uint64]bool {
		m := make(map[uint64]bool, len(ids))
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	return maps.Equal(set(a.ExecutionIDs), set(b.ExecutionIDs))
}

func (ci *cachedInstance) has(k eventKey) bool {
	if ci.index != nil {
		_, ok := ci.index[k]
		return ok
	}
	for _, x := range ci.keys {
		if x == k {
			return true
		}
	}
	return false
}

// history returns the instance's events (in the order they were added),
// reusing buf. Their strings alias the cache's buffer.
func (ci *cachedInstance) history(buf []events.Event) []events.Event {
	buf = buf[:0]
	for off := 0; off < len(ci.buf); {
		var e events.Event
		off = unpack(ci.buf, off, &e)
		e.InstanceID = ci.id
		buf = append(buf, e)
	}
	return buf
}

// evict drops least recently used entries until the cache fits, sparing
// the entries named in keep (those of the batch being written).
func (c *instanceCache) evict(keep map[string]struct{}) {
	for el := c.lru.Back(); el != nil && c.bytes > c.maxBytes; {
		prev := el.Prev()
		ci := el.Value.(*cachedInstance)
		if _, k := keep[ci.id]; !k {
			c.lru.Remove(el)
			delete(c.byID, ci.id)
			c.bytes -= ci.bytes
		}
		el = prev
	}
}

func (c *instanceCache) len() int { return len(c.byID) }

// typeCodes numbers the contract's event types; 0 marks a type spelled out.
var typeCodes = func() map[string]byte {
	m := make(map[string]byte, len(typeNames))
	for i, t := range typeNames {
		if i > 0 {
			m[t] = byte(i)
		}
	}
	return m
}()

var typeNames = [...]string{"",
	events.TypeOrchestrationStarted, events.TypeOrchestrationCompleted, events.TypeOrchestrationFailed,
	events.TypeOrchestrationContinuedAsNew, events.TypeOrchestrationCancelRequested, events.TypeOrchestrationChained,
	events.TypeActivityScheduled, events.TypeActivityCompleted, events.TypeActivityFailed, events.TypeActivityCancelRequested,
	events.TypeTimerCreated, events.TypeTimerFired,
	events.TypeExternalSubscribed, events.TypeExternalEvent, events.TypeExternalSubscribedCancelled,
	events.TypeExternalSubscribedPersistent, events.TypeExternalEventPersistent, events.TypeExternalSubscribedPersistentCancelled,
	events.TypeSubOrchestrationScheduled, events.TypeSubOrchestrationCompleted, events.TypeSubOrchestrationFailed,
	events.TypeSubOrchestrationCancelRequested,
	events.TypeCustomStatusUpdated, events.TypeKeyValueSet, events.TypeKeyValueCleared, events.TypeKeyValuesCleared,
}

// Presence bits of a packed event's optional fields.
const (
	hasSource = 1 << iota
	hasParentID
	hasParentInstance
	hasInitialStatus
	hasStatus
	hasTag
	hasDetails
	isKnown
)

// pack appends e's projection-relevant fields to buf: every field
// projection.Derive reads (its rules and its content comparison of
// conflicting copies), nothing else. Input is dropped for
// OrchestrationStarted and OrchestrationContinuedAsNew: no row uses it there.
func pack(buf []byte, e *events.Event) []byte {
	buf = binary.AppendUvarint(buf, e.ExecutionID)
	buf = binary.AppendUvarint(buf, e.EventID)
	buf = binary.AppendUvarint(buf, e.TimestampMs)
	code := typeCodes[e.Type]
	buf = append(buf, code)
	if code == 0 {
		buf = appendStr(buf, e.Type)
	}
	var flags byte
	for _, f := range [...]struct {
		on  bool
		bit byte
	}{
		{e.SourceEventID.Valid, hasSource}, {e.ParentID.Valid, hasParentID},
		{e.ParentInstance.Valid, hasParentInstance}, {e.InitialCustomStatus.Valid, hasInitialStatus},
		{e.Status.Valid, hasStatus}, {e.Tag.Valid, hasTag}, {e.Details != nil, hasDetails}, {e.Known, isKnown},
	} {
		if f.on {
			flags |= f.bit
		}
	}
	buf = append(buf, flags)
	if e.SourceEventID.Valid {
		buf = binary.AppendUvarint(buf, e.SourceEventID.Value)
	}
	if e.ParentID.Valid {
		buf = binary.AppendUvarint(buf, e.ParentID.Value)
	}
	buf = binary.AppendUvarint(buf, e.FireAtMs)
	input := e.Input
	if e.Type == events.TypeOrchestrationStarted || e.Type == events.TypeOrchestrationContinuedAsNew {
		input = ""
	}
	for _, s := range [...]string{e.Name, e.Version, input, e.Output, e.Instance} {
		buf = appendStr(buf, s)
	}
	for _, o := range [...]events.OptString{e.ParentInstance, e.InitialCustomStatus, e.Status, e.Tag} {
		if o.Valid {
			buf = appendStr(buf, o.Value)
		}
	}
	if d := e.Details; d != nil {
		buf = appendStr(buf, d.Category)
		buf = appendStr(buf, d.Kind)
		buf = appendStr(buf, d.Message)
		r := byte(0)
		if d.Retryable {
			r = 1
		}
		buf = append(buf, r)
	}
	return buf
}

func appendStr(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// unpack decodes the event packed at buf[off:] into e (InstanceID is left
// to the caller) and returns the offset after it. Strings alias buf.
func unpack(buf []byte, off int, e *events.Event) int {
	uv := func() uint64 {
		v, n := binary.Uvarint(buf[off:])
		off += n
		return v
	}
	str := func() string {
		n := int(uv())
		if n == 0 {
			return ""
		}
		s := unsafe.String(&buf[off], n)
		off += n
		return s
	}
	e.ExecutionID = uv()
	e.EventID = uv()
	e.TimestampMs = uv()
	code := buf[off]
	off++
	if code == 0 {
		e.Type = str()
	} else {
		e.Type = typeNames[code]
	}
	flags := buf[off]
	off++
	e.Known = flags&isKnown != 0
	if flags&hasSource != 0 {
		e.SourceEventID = events.OptUint{Value: uv(), Valid: true}
	}
	if flags&hasParentID != 0 {
		e.ParentID = events.OptUint{Value: uv(), Valid: true}
	}
	e.FireAtMs = uv()
	e.Name, e.Version, e.Input, e.Output, e.Instance = str(), str(), str(), str(), str()
	for _, o := range [...]struct {
		bit byte
		dst *events.OptString
	}{
		{hasParentInstance, &e.ParentInstance}, {hasInitialStatus, &e.InitialCustomStatus},
		{hasStatus, &e.Status}, {hasTag, &e.Tag},
	} {
		if flags&o.bit != 0 {
			*o.dst = events.OptString{Value: str(), Valid: true}
		}
	}
	if flags&hasDetails != 0 {
		d := &events.ErrorDetails{}
		d.Category, d.Kind, d.Message = str(), str(), str()
		d.Retryable = buf[off] == 1
		off++
		e.Details = d
	}
	return off
}

// forget drops an instance from the cache, so that its next event reloads
// its history from ClickHouse and re-derives it (used when the store refused
// its derived rows).
func (c *instanceCache) forget(id string) {
	if el, ok := c.byID[id]; ok {
		c.bytes -= el.Value.(*cachedInstance).bytes
		c.lru.Remove(el)
		delete(c.byID, id)
	}
}
