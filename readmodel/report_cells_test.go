package readmodel

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// TestReportCellsJSONAndSplit: what MarshalJSON records, UnmarshalJSON gives
// back (day cells included, rebuilt from the hours); Split cuts a set into
// parts of at most n hour cells whose union is the set; anything but whole
// hours is refused.
func TestReportCellsJSONAndSplit(t *testing.T) {
	c := newReportCells()
	for i := range 50 {
		h := int64(i%30) * grainHourMs
		c.instHours[cellKey{h, fmt.Sprint("orch", i%3), "v1"}] = struct{}{}
		c.instDays[cellKey{floorTo(h, grainDayMs), fmt.Sprint("orch", i%3), "v1"}] = struct{}{}
		c.actHours[cellKey{h + grainHourMs, fmt.Sprint("act", i%7), "orch\"é"}] = struct{}{}
		c.actDays[cellKey{floorTo(h+grainHourMs, grainDayMs), fmt.Sprint("act", i%7), "orch\"é"}] = struct{}{}
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back ReportCells
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip changed the cells:\n%+v\n%+v", back, c)
	}
	for _, n := range []int{1, 7, 50, 1000} {
		parts := c.Split(n)
		var union ReportCells
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
	if got := (ReportCells{}).Split(10); len(got) != 0 {
		t.Errorf("Split of nothing: %d parts", len(got))
	}
	for _, bad := range []string{`{"i":[{"h":1800000,"a":"x","b":"y"}]}`, `{"a":[{"h":-3600000,"a":"x","b":"y"}]}`, `{"i":3}`} {
		var c ReportCells
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
