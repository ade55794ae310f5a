package plot

import (
	"bytes"
	"image/png"
	"testing"
)

func TestRenderPNG(t *testing.T) {
	var buf bytes.Buffer
	err := RenderPNG(&buf, 640, 400,
		Chart{Title: "Rate", XLabel: "instances", YLabel: "events/s", LogX: true,
			Series: []Series{{Name: "projector", X: []float64{1e5, 3e5, 1e6}, Y: []float64{120000, 110000, 90000}}}},
		Chart{Title: "Latency", XLabel: "instances", YLabel: "p99 ms", LogX: true, LogY: true,
			Series: []Series{
				{Name: "list", X: []float64{1e5, 3e5, 1e6}, Y: []float64{8, 20, 60}},
				{Name: "details", X: []float64{1e5, 3e5, 1e6}, Y: []float64{3, 3.5, 4}},
			}},
	)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 800 {
		t.Fatalf("image %v, want 640x800", b)
	}
	// Every series' colour must be drawn somewhere (its line, markers and
	// legend swatch), and the text must be black on white.
	seen := map[[3]uint32]int{}
	for y := 0; y < 800; y++ {
		for x := 0; x < 640; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, b >> 8}]++
		}
	}
	for i := 0; i < 2; i++ {
		c := palette[i]
		if seen[[3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}] < 50 {
			t.Errorf("series colour %d barely drawn (%d pixels)", i, seen[[3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}])
		}
	}
	if seen[[3]uint32{0, 0, 0}] < 500 || seen[[3]uint32{255, 255, 255}] < 640*800/2 {
		t.Errorf("text or background missing: %d black, %d white pixels", seen[[3]uint32{0, 0, 0}], seen[[3]uint32{255, 255, 255}])
	}
	if err := RenderPNG(&buf, 100, 100, Chart{Title: "empty"}); err == nil {
		t.Error("a chart without series rendered")
	}
}

func TestAxisTicks(t *testing.T) {
	a := newAxis([]float64{120, 95000}, true, 0, 100)
	ticks := a.ticks()
	if ticks[0] != 100 || ticks[len(ticks)-1] != 100000 {
		t.Fatalf("log ticks %v, want 100..100000", ticks)
	}
	if p, _ := a.pos(100); p != 0 {
		t.Errorf("lowest tick at %d, want 0", p)
	}
	l := newAxis([]float64{3, 17}, false, 0, 100)
	if l.lo != 0 || l.hi < 17 {
		t.Errorf("linear axis [%v, %v] does not start at 0 and cover 17", l.lo, l.hi)
	}
	for in, want := range map[float64]string{1500: "1.5k", 2e6: "2M", 0.5: "0.5", 10: "10", 0: "0"} {
		if got := tickLabel(in); got != want {
			t.Errorf("tickLabel(%v) = %q, want %q", in, got, want)
		}
	}
}
