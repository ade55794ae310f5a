package bench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// summary is min/median/max of repeated measurements of one figure.
type summary struct {
	N      int       `json:"n"`
	Min    float64   `json:"min"`
	Median float64   `json:"median"`
	Max    float64   `json:"max"`
	Values []float64 `json:"values"`
}

// summarize returns min/median/max of vs (the median of an even count is the
// mean of the middle two). An empty input gives N = 0 and zeros.
func summarize(vs []float64) summary {
	s := summary{N: len(vs), Values: slices.Clone(vs)}
	if len(vs) == 0 {
		return s
	}
	v := slices.Clone(vs)
	slices.Sort(v)
	s.Min, s.Max = v[0], v[len(v)-1]
	if len(v)%2 == 1 {
		s.Median = v[len(v)/2]
	} else {
		s.Median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return s
}

// percentile is the nearest-rank percentile (p in (0,100]) of vs: the
// smallest value with at least p% of the values at or below it.
func percentile(vs []float64, p float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	v := slices.Clone(vs)
	slices.Sort(v)
	rank := int(math.Ceil(p / 100 * float64(len(v))))
	rank = min(max(rank, 1), len(v))
	return v[rank-1]
}

// latencies collects durations of one repeated operation.
type latencies struct{ ms []float64 }

func (l *latencies) add(d time.Duration) { l.ms = append(l.ms, float64(d)/float64(time.Millisecond)) }
func (l *latencies) p(q float64) float64 { return percentile(l.ms, q) }

// fmtF formats a figure compactly: thousands separated for large values,
// a few significant digits for small ones.
func fmtF(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.Abs(v) >= 10000:
		return groupThousands(int64(math.Round(v)))
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func groupThousands(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprint(n)
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// String renders a summary as "median (min–max)".
func (s summary) String() string {
	if s.N == 0 {
		return "n/a"
	}
	if s.N == 1 {
		return fmtF(s.Median)
	}
	return fmt.Sprintf("%s (min %s, max %s)", fmtF(s.Median), fmtF(s.Min), fmtF(s.Max))
}

// ratio returns a/b, NaN when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
