package oracle

import (
	"sort"

	"github.com/duroscope/duroscope/events"
)

// add replays one instance id from its events and notices: the events are
// cut into incarnations by the InstanceDeleted timestamps (an event belongs
// to the first deletion at or after its timestamp); the ones after every
// deletion are the live incarnation, the others are past incarnations that
// only the reports see. ExecutionsPruned notices later than every deletion
// prune executions of the live incarnation; earlier ones change nothing.
func (o *Oracle) add(id string, list []*events.Event, notices []events.Notice) {
	var deletions []uint64
	for _, n := range notices {
		if n.Type == events.TypeInstanceDeleted {
			deletions = append(deletions, n.TimestampMs)
		}
	}
	sort.Slice(deletions, func(i, j int) bool { return deletions[i] < deletions[j] })

	groups := make([][]*events.Event, len(deletions)+1)
	for _, e := range list {
		g := len(deletions) // live unless some deletion is at or after it
		for i, d := range deletions {
			if e.TimestampMs <= d {
				g = i
				break
			}
		}
		groups[g] = append(groups[g], e)
	}
	for _, g := range groups[:len(deletions)] {
		if len(g) > 0 {
			o.past = append(o.past, replayInstance(id, g))
		}
	}
	live := groups[len(deletions)]
	if len(live) == 0 {
		return
	}
	in := replayInstance(id, live)
	for _, n := range notices {
		if n.Type != events.TypeExecutionsPruned {
			continue
		}
		if len(deletions) > 0 && n.TimestampMs <= deletions[len(deletions)-1] {
			continue
		}
		if in.pruned == nil {
			in.pruned = make(map[uint64]bool)
		}
		for _, x := range n.ExecutionIDs {
			in.pruned[x] = true
		}
	}
	o.instances[id] = in
	o.ids = append(o.ids, id)
}

// sortPast orders the past incarnations by instance id (add appends one
// id's incarnations oldest first), so that scans are deterministic.
func (o *Oracle) sortPast() {
	sort.SliceStable(o.past, func(i, j int) bool { return o.past[i].id < o.past[j].id })
}

// reportInstances is every incarnation the reports count: the live ones and
// the deleted ones ("what ran").
func (o *Oracle) reportInstances() []*instance {
	out := make([]*instance, 0, len(o.ids)+len(o.past))
	for _, id := range o.ids {
		out = append(out, o.instances[id])
	}
	return append(out, o.past...)
}
