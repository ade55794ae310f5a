package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the bench's child processes (the
// bench re-executes its own binary with -child=MODE).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "-child=") {
		if err := childMain(os.Args[1:]); err != nil {
			os.Stderr.WriteString("bench child: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSummarizeAndPercentile(t *testing.T) {
	s := summarize([]float64{5, 1, 3})
	if s.N != 3 || s.Min != 1 || s.Median != 3 || s.Max != 5 {
		t.Fatalf("summarize odd: %+v", s)
	}
	if s := summarize([]float64{4, 1, 3, 2}); s.Median != 2.5 {
		t.Fatalf("median of an even count: %v, want 2.5", s.Median)
	}
	if s := summarize(nil); s.N != 0 || s.String() != "n/a" {
		t.Fatalf("empty summary: %+v %q", s, s.String())
	}
	vs := make([]float64, 100)
	for i := range vs {
		vs[i] = float64(100 - i) // 100..1, unsorted
	}
	for _, c := range []struct{ p, want float64 }{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0, 1}} {
		if got := percentile(vs, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile([]float64{7}, 99); got != 7 {
		t.Errorf("p99 of one value: %v", got)
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("percentile of nothing should be NaN")
	}
}

func TestParseCount(t *testing.T) {
	for in, want := range map[string]int64{"100k": 100_000, "1M": 1_000_000, "2.5m": 2_500_000, "300000": 300_000} {
		got, err := parseCount(in)
		if err != nil || got != want {
			t.Errorf("parseCount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "k", "-5", "1x"} {
		if _, err := parseCount(bad); err == nil {
			t.Errorf("parseCount(%q) accepted", bad)
		}
	}
}

func TestRenderPNG(t *testing.T) {
	var buf bytes.Buffer
	err := renderPNG(&buf, 640, 400,
		chart{Title: "Rate", XLabel: "instances", YLabel: "events/s", LogX: true,
			Series: []series{{Name: "projector", X: []float64{1e5, 3e5, 1e6}, Y: []float64{120000, 110000, 90000}}}},
		chart{Title: "Latency", XLabel: "instances", YLabel: "p99 ms", LogX: true, LogY: true,
			Series: []series{
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
	if err := renderPNG(&buf, 100, 100, chart{Title: "empty"}); err == nil {
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

// TestBenchSmoke runs every section on a tiny workload against the real
// ClickHouse (DUROSCOPE_TEST_CLICKHOUSE_ADDR) and an embedded JetStream, and
// checks the report has every figure.
func TestBenchSmoke(t *testing.T) {
	if os.Getenv("DUROSCOPE_SKIP_INTEGRATION") == "1" {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	addr := os.Getenv("DUROSCOPE_TEST_CLICKHOUSE_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9000"
	}
	out := t.TempDir()
	cfg, err := parseConfig([]string{"--clickhouse-addr", addr, "--out", out,
		"--ingest-events", "3000", "--runs", "1", "--watermill-time", "1s",
		"--freshness-duration", "3s", "--freshness-rate", "500",
		"--query-instances", "300", "--query-reps", "3", "--replay-runs", "1",
		"--scale", "200,400"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := run(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	var res results
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	in := res.Ingest
	if in == nil || in.Rate[modeProjector].Median <= 0 || in.Rate[modeRawCopy].Median <= 0 || in.RatioRaw.N != 1 {
		t.Fatalf("ingest figures missing: %+v", in)
	}
	for _, r := range in.Runs {
		if r.Mode != modeWatermill && (!r.Complete || r.Events != uint64(in.Workload.Events)) {
			t.Errorf("%s run drained %d of %d events", r.Mode, r.Events, in.Workload.Events)
		}
		if r.PeakRSS <= 0 {
			t.Errorf("%s run has no peak RSS", r.Mode)
		}
	}
	if f := res.Freshness; f == nil || f.Markers == 0 || f.Missed != 0 || len(f.LatenciesMs) != f.Markers {
		t.Fatalf("freshness: %+v", f)
	}
	q := res.Queries
	if q == nil || len(q.Endpoints) < 15 || q.Replay == nil || !q.Replay.Exact {
		t.Fatalf("queries: %+v", q)
	}
	for _, e := range q.Endpoints {
		if e.Requests == 0 || e.P50ms <= 0 {
			t.Errorf("%s not measured: %+v", e.Name, e)
		}
	}
	for _, c := range []string{"orchestrations", "activities", "performance"} {
		if v := q.Replay.Verified[c]; v != "identical" {
			t.Errorf("replay of %s: %s", c, v)
		}
	}
	if len(res.Scale) != 2 {
		t.Fatalf("scale points: %d, want 2", len(res.Scale))
	}
	if _, err := os.Stat(filepath.Join(out, "scaling.png")); err != nil {
		t.Fatal(err)
	}
	report, _ := os.ReadFile(filepath.Join(out, "report.txt"))
	for _, want := range []string{"ratio projector / raw copy", "ratio projector / watermill", "freshness", "stats/activities", "scaling.png"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}
