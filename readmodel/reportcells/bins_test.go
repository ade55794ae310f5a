package reportcells

import (
	"math"
	"math/rand/v2"
	"slices"
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

// TestDurationBin checks the Histogram bins: monotone in the duration,
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

// TestHistogramPercentiles checks percentiles read from merged Histograms
// against the contract's rule applied to the raw values, then binned.
func TestHistogramPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 3, 4, 19, 20, 100, 101, 1000, 4999} {
		vals := make([]int64, n)
		for i := range vals {
			vals[i] = int64(math.Exp(rng.Float64()*12)) - 20
		}
		// Two Histograms merged, as cells are.
		var a, b Histogram
		for i, v := range vals {
			h := &a
			if i%2 == 1 {
				h = &b
			}
			addValue(h, v)
		}
		var h Histogram
		h.Add(a.Bins, a.Counts)
		h.Add(b.Bins, b.Counts)
		s := slices.Clone(vals)
		slices.Sort(s)
		p50, p95, p99 := h.Percentiles()
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
	var empty Histogram
	if p50, p95, p99 := empty.Percentiles(); p50|p95|p99 != 0 {
		t.Errorf("empty Histogram: %d %d %d", p50, p95, p99)
	}
}

// addValue adds one value to a Histogram (kept sorted).
func addValue(h *Histogram, v int64) {
	h.Add([]int32{DurationBin(v)}, []uint64{1})
}

// qPercentile is the contract's percentile of sorted values: the value at
// 0-based rank min(⌊num·n/100⌋, n−1).
func qPercentile(sorted []int64, num int) int64 {
	n := len(sorted)
	return sorted[min(num*n/100, n-1)]
}

// The bound the bins achieve is the one the port announces in every
// approximate report (query.TimeseriesHeader).
func TestBinsMeetThePortsErrorBound(t *testing.T) {
	if PercentileMaxRelativeError != query.PercentileMaxRelativeError {
		t.Fatalf("bins give %g, the port announces %g", PercentileMaxRelativeError, query.PercentileMaxRelativeError)
	}
}
