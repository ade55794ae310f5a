package bench

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duroscope/duroscope/internal/testenv"
)

func noEnv(string) (string, bool) { return "", false }

func TestParse(t *testing.T) {
	c, err := Parse(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ingestEvents != 600_000 || c.runs != 3 || !c.baselines || len(c.sections) != 3 || c.scale != nil || c.clickHouseAddrs[0] != "127.0.0.1:9000" {
		t.Errorf("defaults: %+v", c)
	}
	env := map[string]string{"DUROSCOPE_BENCH_RUNS": "5", "DUROSCOPE_BENCH_SCALE": "100k,1M", "DUROSCOPE_BENCH_SECTIONS": "ingest",
		"DUROSCOPE_CLICKHOUSE_PASSWORD": "pw"}
	c, err = Parse([]string{"--runs", "2"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.runs != 2 || len(c.scale) != 2 || c.scale[1] != 1_000_000 || !c.sections["ingest"] || c.sections["queries"] || c.clickHousePassword != "pw" {
		t.Errorf("env and flags: %+v", c)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		has  string
	}{
		{nil, map[string]string{"DUROSCOPE_BENCH_RUNS": "3x"}, "DUROSCOPE_BENCH_RUNS (flag -runs): want an integer >= 1"},
		{[]string{"--ingest-events", "10"}, nil, "-ingest-events"},
		{[]string{"--sections", "ingest,nope"}, nil, `unknown section "nope"`},
		{[]string{"--scale", "1x"}, nil, "-scale"},
		{[]string{"out"}, nil, `unexpected argument "out"`},
	} {
		_, err := Parse(tc.args, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.has) {
			t.Errorf("Parse(%q, %v) = %v; want an error saying %s", tc.args, tc.env, err, tc.has)
		}
	}
}

// TestMain lets the test binary serve as the bench's child processes (the
// bench re-executes its own binary with -child=MODE).
func TestMain(m *testing.M) {
	if IsChild(os.Args[1:]) {
		if err := ChildMain(os.Args[1:]); err != nil {
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

// TestBenchSmoke runs every section on a tiny workload against the real
// ClickHouse (DUROSCOPE_TEST_CLICKHOUSE_ADDR) and an embedded JetStream, and
// checks the report has every figure.
func TestBenchSmoke(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	out := t.TempDir()
	cfg, err := Parse([]string{"--clickhouse-addr", testenv.ClickHouseAddr(), "--out", out,
		"--ingest-events", "3000", "--runs", "1", "--watermill-time", "1s",
		"--freshness-duration", "3s", "--freshness-rate", "500",
		"--query-instances", "300", "--query-reps", "3", "--replay-runs", "1",
		"--scale", "200,400"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := Run(ctx, cfg, io.Discard); err != nil {
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
