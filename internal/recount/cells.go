// Package recount is the recount work format: the set of report cells whose
// facts a write changed (Cells), which the projector records on its
// JetStream work queue (as JSON) and recounts later, and which the
// ClickHouse writer produces (WriteRows) and consumes (Recount). It belongs
// to neither side, so that the projector does not depend on the adapter for
// it and the adapter not on the projector.
package recount

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/duroscope/duroscope/readmodel/reportcells"
)

// Cell is one cell of the report tables: its bucket start (ms) and its two
// group dimensions (orchestration name and version, or activity name and
// orchestration name). In the JSON form only hour cells travel.
type Cell struct {
	BucketMs int64  `json:"h"`
	A        string `json:"a"`
	B        string `json:"b"`
}

// day is the day cell holding hour cell c.
func (c Cell) day() Cell {
	return Cell{reportcells.FloorTo(c.BucketMs, reportcells.GrainDayMs), c.A, c.B}
}

// Cells is a set of report cells whose facts a write changed: the hour
// cells touched, and the day cells they belong to; and the activity stats
// cells (hour, activity name; B is "") touched. Recounting them brings
// them up to date. Sets of several writes merge (Add), so a caller may
// recount the cells of many writes at once: a cell's recount reads all of
// its facts, whatever write put them there. The zero value is an empty set.
type Cells struct {
	instHours, actHours map[Cell]struct{}
	instDays, actDays   map[Cell]struct{}
	stats               map[Cell]struct{}
}

func (c *Cells) init() {
	if c.instHours == nil {
		c.instHours, c.actHours = map[Cell]struct{}{}, map[Cell]struct{}{}
		c.instDays, c.actDays = map[Cell]struct{}{}, map[Cell]struct{}{}
		c.stats = map[Cell]struct{}{}
	}
}

// AddInstance adds the instance hour cell h (and its day).
func (c *Cells) AddInstance(h Cell) {
	c.init()
	c.instHours[h], c.instDays[h.day()] = struct{}{}, struct{}{}
}

// AddActivity adds the activity hour cell h (and its day).
func (c *Cells) AddActivity(h Cell) {
	c.init()
	c.actHours[h], c.actDays[h.day()] = struct{}{}, struct{}{}
}

// AddStats adds the activity stats cell h: its hour and activity name (A).
func (c *Cells) AddStats(h Cell) {
	c.init()
	c.stats[h] = struct{}{}
}

// Add merges o into c.
func (c *Cells) Add(o Cells) {
	c.init()
	for _, p := range [...]struct{ dst, src map[Cell]struct{} }{
		{c.instHours, o.instHours}, {c.actHours, o.actHours}, {c.instDays, o.instDays}, {c.actDays, o.actDays},
		{c.stats, o.stats},
	} {
		for k := range p.src {
			p.dst[k] = struct{}{}
		}
	}
}

// Len is the number of hour cells in c (a recount's work is proportional
// to their facts).
func (c Cells) Len() int { return len(c.instHours) + len(c.actHours) + len(c.stats) }

// InstanceHours, InstanceDays, ActivityHours and ActivityDays list the cells
// of each kind, sorted (bucket, then dimensions).
func (c Cells) InstanceHours() []Cell { return sorted(c.instHours) }
func (c Cells) InstanceDays() []Cell  { return sorted(c.instDays) }
func (c Cells) ActivityHours() []Cell { return sorted(c.actHours) }
func (c Cells) ActivityDays() []Cell  { return sorted(c.actDays) }

// Stats lists the activity stats cells, sorted.
func (c Cells) Stats() []Cell { return sorted(c.stats) }

func sorted(m map[Cell]struct{}) []Cell {
	out := make([]Cell, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(x, y Cell) int {
		return cmp.Or(cmp.Compare(x.BucketMs, y.BucketMs), cmp.Compare(x.A, y.A), cmp.Compare(x.B, y.B))
	})
	return out
}

// wire is the JSON form of Cells: the hour cells only (a day cell is the
// day of its hour cells).
type wire struct {
	Instances  []Cell `json:"i,omitempty"`
	Activities []Cell `json:"a,omitempty"`
	Stats      []Cell `json:"s,omitempty"`
}

// MarshalJSON records c, so that another process can recount it
// (UnmarshalJSON gives back the same set).
func (c Cells) MarshalJSON() ([]byte, error) {
	return json.Marshal(wire{Instances: c.InstanceHours(), Activities: c.ActivityHours(), Stats: c.Stats()})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (c *Cells) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("report cells: %w", err)
	}
	*c = Cells{}
	c.init()
	for _, h := range w.Instances {
		if !isHour(h.BucketMs) {
			return fmt.Errorf("report cells: instance cell at %d ms is not an hour", h.BucketMs)
		}
		c.AddInstance(h)
	}
	for _, h := range w.Activities {
		if !isHour(h.BucketMs) {
			return fmt.Errorf("report cells: activity cell at %d ms is not an hour", h.BucketMs)
		}
		c.AddActivity(h)
	}
	for _, h := range w.Stats {
		if reportcells.StatsHour(h.BucketMs) != h.BucketMs || h.B != "" {
			return fmt.Errorf("report cells: activity stats cell at %d ms is not an hour with one name", h.BucketMs)
		}
		c.AddStats(h)
	}
	return nil
}

func isHour(ms int64) bool { return ms >= 0 && ms%reportcells.GrainHourMs == 0 }

// Split cuts c into sets of at most n hour cells each (n > 0), e.g. to
// record it in messages of a bounded size.
func (c Cells) Split(n int) []Cells {
	var (
		out []Cells
		cur Cells
	)
	flush := func() {
		if cur.Len() == n {
			out, cur = append(out, cur), Cells{}
		}
	}
	for k := range c.instHours {
		cur.AddInstance(k)
		flush()
	}
	for k := range c.actHours {
		cur.AddActivity(k)
		flush()
	}
	for k := range c.stats {
		cur.AddStats(k)
		flush()
	}
	if cur.Len() > 0 {
		out = append(out, cur)
	}
	return out
}
