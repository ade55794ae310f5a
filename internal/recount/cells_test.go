package recount

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/duroscope/duroscope/readmodel/reportcells"
)

// TestCellsJSONAndSplit: what MarshalJSON records, UnmarshalJSON gives
// back (day cells included, rebuilt from the hours); Split cuts a set into
// parts of at most n hour cells whose union is the set; anything but whole
// hours is refused.
func TestCellsJSONAndSplit(t *testing.T) {
	var c Cells
	for i := range 50 {
		h := int64(i%30) * reportcells.GrainHourMs
		c.AddInstance(Cell{h, fmt.Sprint("orch", i%3), "v1"})
		c.AddActivity(Cell{h + reportcells.GrainHourMs, fmt.Sprint("act", i%7), "orch\"é"})
		c.AddStats(Cell{h, fmt.Sprint("act", i%5), ""})
	}
	if days := c.InstanceDays(); len(days) != 6 || days[0] != (Cell{0, "orch0", "v1"}) || days[3].BucketMs != reportcells.GrainDayMs {
		t.Errorf("instance days = %v, want the 3 orchestrations on days 0 and 1", days)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Cells
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip changed the cells:\n%+v\n%+v", back, c)
	}
	for _, n := range []int{1, 7, 50, 1000} {
		parts := c.Split(n)
		var union Cells
		for _, p := range parts {
			if p.Len() == 0 || p.Len() > n {
				t.Fatalf("Split(%d): a part of %d hour cells", n, p.Len())
			}
			union.Add(p)
		}
		if want := (c.Len() + n - 1) / n; len(parts) != want {
			t.Errorf("Split(%d): %d parts, want %d", n, len(parts), want)
		}
		if !reflect.DeepEqual(union, c) {
			t.Errorf("Split(%d): the parts' union differs from the set", n)
		}
	}
	if got := (Cells{}).Split(10); len(got) != 0 {
		t.Errorf("Split of nothing: %d parts", len(got))
	}
	for _, bad := range []string{`{"i":[{"h":1800000,"a":"x","b":"y"}]}`, `{"a":[{"h":-3600000,"a":"x","b":"y"}]}`, `{"i":3}`,
		`{"s":[{"h":1800000,"a":"x"}]}`, `{"s":[{"h":3600000,"a":"x","b":"y"}]}`} {
		var c Cells
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
