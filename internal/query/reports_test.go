package query

import "testing"

func TestAlignRange(t *testing.T) {
	const monday = 1795392000000 // 2026-11-23T00:00:00Z, a Monday
	for _, c := range []struct {
		bucket           string
		from, to         int64
		wantFrom, wantTo int64
	}{
		{"minute", 60_001, 120_000, 60_000, 120_000},
		{"hour", 3_600_000, 3_600_001, 3_600_000, 7_200_000},
		{"day", -1, 1, -86_400_000, 86_400_000},
		{"week", monday + 5, monday + 7*86_400_000, monday, monday + 7*86_400_000},
	} {
		f, to := AlignRange(c.bucket, c.from, c.to)
		if f != c.wantFrom || to != c.wantTo {
			t.Errorf("AlignRange(%s, %d, %d) = %d, %d; want %d, %d", c.bucket, c.from, c.to, f, to, c.wantFrom, c.wantTo)
		}
		if n := BucketCount(c.bucket, f, to); n < 1 {
			t.Errorf("%s: %d buckets", c.bucket, n)
		}
	}
	if _, ok := BucketSize("fortnight"); ok {
		t.Error("BucketSize accepts an unknown bucket")
	}
}
