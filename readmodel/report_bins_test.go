package readmodel

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/internal/query"
)

// binValues are durations around every bin-width change and the extremes.
func binValues() []int64 {
	vals := []int64{0, 1, -1, 63, -63, 64, -64, 65, 127, 128, 129, 1000, -1000, 123456789,
		math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1, 1<<62 - 1, 1 << 62, -(1 << 62)}
	for e := 6; e < 63; e++ {
		p := int64(1) << e
		vals = append(vals, p-1, p, p+1, -p, -p+1, p+p/3)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		vals = append(vals, rng.Int64N(1<<40)-1<<20)
	}
	return vals
}

// TestDurationBin checks the histogram bins: monotone in the duration,
// every duration inside its bin's range, bins below 64 exact, and the
// reported midpoint within PercentileMaxRelativeError of any value of the
// bin.
func TestDurationBin(t *testing.T) {
	vals := binValues()
	slices.Sort(vals)
	prev := int32(math.MinInt32)
	for _, v := range vals {
		b := DurationBin(v)
		if b < prev {
			t.Fatalf("DurationBin(%d) = %d < bin of a smaller value %d", v, b, prev)
		}
		prev = b
		c := min(max(v, -maxBinnedMagnitude), maxBinnedMagnitude)
		lo, hi := binRange(b)
		if c < lo || c > hi {
			t.Fatalf("%d (capped %d) is in bin %d = [%d, %d]", v, c, b, lo, hi)
		}
		if c > -64 && c < 64 && (lo != c || hi != c) {
			t.Fatalf("%d: bin [%d, %d], want exact", v, lo, hi)
		}
		rep := binValue(b)
		if err := math.Abs(float64(rep-c)) / math.Abs(float64(c)); c != 0 && err > PercentileMaxRelativeError {
			t.Fatalf("%d: reported %d, relative error %g > %g", c, rep, err, PercentileMaxRelativeError)
		}
	}
}

// binSQL is the migration's duration_bin expression over a column d.
const binSQL = `toInt32(if(d < 0, -1, 1) * if(x < 64, x, 64 + (e - 6) * 32 + (bitShiftRight(x, e - 5) - 32)))`

// TestDurationBinSQL evaluates the migration's SQL binning (used by the
// backfill) on the same values as DurationBin and requires equal bins.
func TestDurationBinSQL(t *testing.T) {
	mig, err := os.ReadFile(reportMigration)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{binSQL,
		`toInt64(least(abs(ifNull(duration_ms, 0)), 4611686018427387903)) AS x`,
		`toInt64(arraySum(arrayMap(i -> toUInt64(bitShiftRight(x, i + 1) > 0), range(62)))) AS e`} {
		if strings.Count(string(mig), part) != 2 {
			t.Fatalf("migration 0002 should use %q for both fact tables", part)
		}
	}
	d := qTestDB(t, nil)
	vals := binValues()
	// As decimal strings: an array literal mixing MaxInt64 and negative
	// numbers has no common type in ClickHouse.
	strs := make([]string, len(vals))
	for i, v := range vals {
		strs[i] = strconv.FormatInt(v, 10)
	}
	var got []int32
	err = d.conn.QueryRow(context.Background(), `SELECT groupArray(`+binSQL+`) FROM (
		SELECT d, x, toInt64(arraySum(arrayMap(i -> toUInt64(bitShiftRight(x, i + 1) > 0), range(62)))) AS e FROM (
			SELECT d, toInt64(least(abs(d), 4611686018427387903)) AS x FROM (
				SELECT toInt64(arrayJoin(?)) AS d)))`, strs).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(vals) {
		t.Fatalf("%d bins for %d values", len(got), len(vals))
	}
	for i, v := range vals {
		if want := DurationBin(v); got[i] != want {
			t.Errorf("bin of %d: SQL %d, Go %d", v, got[i], want)
		}
	}
}

// TestHistogramPercentiles checks percentiles read from merged histograms
// against the contract's rule applied to the raw values, then binned.
func TestHistogramPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 3, 4, 19, 20, 100, 101, 1000, 4999} {
		vals := make([]int64, n)
		for i := range vals {
			vals[i] = int64(math.Exp(rng.Float64()*12)) - 20
		}
		// Two histograms merged, as cells are.
		var a, b histogram
		for i, v := range vals {
			h := &a
			if i%2 == 1 {
				h = &b
			}
			addValue(h, v)
		}
		var h histogram
		h.add(a.bins, a.counts)
		h.add(b.bins, b.counts)
		s := slices.Clone(vals)
		slices.Sort(s)
		p50, p95, p99 := h.percentiles()
		for _, c := range []struct {
			num int
			got int64
		}{{50, p50}, {95, p95}, {99, p99}} {
			exact := qPercentile(s, c.num)
			if want := binValue(DurationBin(exact)); c.got != want {
				t.Errorf("n=%d p%d: %d, want the bin value %d of the exact %d", n, c.num, c.got, want, exact)
			}
		}
	}
	var empty histogram
	if p50, p95, p99 := empty.percentiles(); p50|p95|p99 != 0 {
		t.Errorf("empty histogram: %d %d %d", p50, p95, p99)
	}
}

// addValue adds one value to a histogram (kept sorted).
func addValue(h *histogram, v int64) {
	h.add([]int32{DurationBin(v)}, []uint64{1})
}

// The bound the bins achieve is the one the port announces in every
// approximate report (query.TimeseriesHeader).
func TestBinsMeetThePortsErrorBound(t *testing.T) {
	if PercentileMaxRelativeError != query.PercentileMaxRelativeError {
		t.Fatalf("bins give %g, the port announces %g", PercentileMaxRelativeError, query.PercentileMaxRelativeError)
	}
}
