package projector

import (
	"container/list"

	"github.com/duroscope/duroscope/events"
)

// instanceCache keeps the deduplicated histories of recently touched
// instances so a new event re-derives its instance without reading the
// history back from ClickHouse. It is owned by the single writer goroutine.
// Correctness does not depend on it: an instance missing from the cache is
// loaded from the history table. It is bounded by an estimate of its bytes.
type instanceCache struct {
	maxBytes int64
	bytes    int64
	lru      *list.List // front = most recently used; values are *cachedInstance
	byID     map[string]*list.Element
}

type cachedInstance struct {
	id     string
	events map[eventKey]events.Event
	bytes  int64
}

type eventKey struct{ execution, event uint64 }

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
	ci := &cachedInstance{id: id, events: make(map[eventKey]events.Event, 16), bytes: int64(len(id)) + 96}
	c.byID[id] = c.lru.PushFront(ci)
	c.bytes += ci.bytes
	return ci
}

// add merges e into ci; it reports whether e was new. The cached copy drops
// the raw payload: derivation never needs it, and it is most of the bytes.
func (c *instanceCache) add(ci *cachedInstance, e events.Event) bool {
	k := eventKey{e.ExecutionID, e.EventID}
	if _, dup := ci.events[k]; dup {
		return false
	}
	// Fields no read-model row uses are dropped too.
	e.Raw, e.DetailsRaw = nil, nil
	e.Result, e.Data, e.Value, e.CarryForwardEvents = "", "", "", nil
	if e.Type == events.TypeOrchestrationStarted || e.Type == events.TypeOrchestrationContinuedAsNew {
		e.Input = ""
	}
	sz := eventSize(&e)
	ci.events[k] = e
	ci.bytes += sz
	c.bytes += sz
	return true
}

// history returns the instance's events (any order).
func (ci *cachedInstance) history(buf []events.Event) []events.Event {
	buf = buf[:0]
	for _, e := range ci.events {
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

// eventSize estimates the heap bytes one cached event holds.
func eventSize(e *events.Event) int64 {
	n := 200 + len(e.Name) + len(e.Version) + len(e.Input) + len(e.Output) + len(e.Result) + len(e.Data) +
		len(e.Reason) + len(e.Instance) + len(e.ParentInstance.Value) + len(e.InitialCustomStatus.Value) +
		len(e.Status.Value) + len(e.Tag.Value) + len(e.SessionID.Value) + len(e.Key) + len(e.Value) + len(e.Type)
	if e.Details != nil {
		n += 64 + len(e.Details.Message) + len(e.Details.Kind)
	}
	return int64(n)
}
