// Package reportcells holds what the report cells mean, shared by the writer
// that counts them (chwrite), the reader that answers from them (chread) and
// the recount work format (internal/recount): the cell grains and the
// duration histograms (bins and percentiles). Pure Go, no I/O.
package reportcells

import "math/bits"

// Duration histograms of the report cells (docs/reports.md, "Percentiles").
//
// A duration d (ms, signed) falls in bin DurationBin(d): durations below 64 ms
// in magnitude have a bin of their own (exact); above, every power of two is
// split into 32 bins of equal width, so a bin spans at most 1/32 of its lower
// bound. A percentile read from a histogram is the midpoint of the bin that
// holds the exact percentile, off by at most half a bin: below 64 ms it is
// exact, above within 1/64 (1.5625 %) of the exact value. Negative durations
// (clock skew) mirror the positive bins. The facts backfill (chwrite) computes
// the same function in SQL; chwrite's TestDurationBinSQL checks they agree.

// BinSubdivisions is the number of bins per power of two above 64 ms.
const BinSubdivisions = 32

// PercentileMaxRelativeError bounds |reported − exact| / |exact| of a
// percentile read from a histogram.
const PercentileMaxRelativeError = 1.0 / (2 * BinSubdivisions)

// maxBinnedMagnitude caps |d| before binning, so that shifts stay in range
// (2^62 ms is 146 million years).
const maxBinnedMagnitude = 1<<62 - 1

// DurationBin returns the histogram bin of a duration in ms.
func DurationBin(d int64) int32 {
	if d < 0 {
		if d < -maxBinnedMagnitude {
			d = -maxBinnedMagnitude
		}
		return -binOf(uint64(-d))
	}
	return binOf(uint64(min(d, maxBinnedMagnitude)))
}

// binOf bins a magnitude x <= 2^62-1.
func binOf(x uint64) int32 {
	if x < 2*BinSubdivisions {
		return int32(x)
	}
	e := bits.Len64(x) - 1 // ⌊log2 x⌋ >= 6
	m := x >> (e - 5)      // the top 6 bits: 32..63
	return int32(2*BinSubdivisions + (e-6)*BinSubdivisions + int(m) - BinSubdivisions)
}

// binRange returns the smallest and largest duration of bin b.
func binRange(b int32) (lo, hi int64) {
	if b < 0 {
		l, h := binRange(-b)
		return -h, -l
	}
	if b < 2*BinSubdivisions {
		return int64(b), int64(b)
	}
	k := int(b) - 2*BinSubdivisions
	e := 6 + k/BinSubdivisions
	m := int64(BinSubdivisions + k%BinSubdivisions)
	lo = m << (e - 5)
	hi = (m+1)<<(e-5) - 1
	return lo, hi
}

// binValue is the value reported for bin b: its midpoint, rounded down.
func binValue(b int32) int64 {
	lo, hi := binRange(b)
	return FloorDiv(lo+hi, 2)
}

// FloorDiv is ⌊a/b⌋ for b > 0 (Go's / truncates toward zero, which differs
// for negative sums, e.g. skewed clocks giving negative durations); 0 for
// b = 0.
func FloorDiv(a int64, b uint64) int64 {
	if b == 0 {
		return 0
	}
	q := a / int64(b)
	if a%int64(b) != 0 && a < 0 {
		q--
	}
	return q
}

// Histogram is a merged duration histogram: Bins ascending, Counts > 0.
type Histogram struct {
	Bins   []int32
	Counts []uint64
}

// Add merges bins/counts (each ascending) into h.
func (h *Histogram) Add(bins []int32, counts []uint64) {
	if len(bins) == 0 {
		return
	}
	if len(h.Bins) == 0 {
		h.Bins = append(h.Bins[:0], bins...)
		h.Counts = append(h.Counts[:0], counts...)
		return
	}
	ob, oc := h.Bins, h.Counts
	nb := make([]int32, 0, len(ob)+len(bins))
	nc := make([]uint64, 0, len(ob)+len(bins))
	i, j := 0, 0
	for i < len(ob) || j < len(bins) {
		switch {
		case j == len(bins) || (i < len(ob) && ob[i] < bins[j]):
			nb, nc = append(nb, ob[i]), append(nc, oc[i])
			i++
		case i == len(ob) || bins[j] < ob[i]:
			nb, nc = append(nb, bins[j]), append(nc, counts[j])
			j++
		default:
			nb, nc = append(nb, ob[i]), append(nc, oc[i]+counts[j])
			i++
			j++
		}
	}
	h.Bins, h.Counts = nb, nc
}

// Percentiles returns p50, p95 and p99 by the contract's rule applied to the
// histogram: the value at 0-based rank min(⌊q·n⌋, n−1) of the sorted
// durations lies in the bin where the running count first exceeds that rank;
// that bin's midpoint is reported. Empty histograms give zeros.
func (h *Histogram) Percentiles() (p50, p95, p99 int64) {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	if n == 0 {
		return 0, 0, 0
	}
	at := func(percent uint64) int64 {
		rank := min(percent*n/100, n-1)
		var seen uint64
		for i, c := range h.Counts {
			seen += c
			if seen > rank {
				return binValue(h.Bins[i])
			}
		}
		return binValue(h.Bins[len(h.Bins)-1])
	}
	return at(50), at(95), at(99)
}
