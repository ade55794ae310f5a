package query

import (
	"slices"
	"strings"
	"testing"
)

func TestSlowTokenRoundTrip(t *testing.T) {
	for _, c := range []SlowCursor{
		{DurationMs: 0, InstanceID: "a"},
		{DurationMs: -5, InstanceID: "a/..%2F 日本", ExecutionID: 3, EventID: 1 << 40},
		{DurationMs: 1 << 62, InstanceID: strings.Repeat("x", 1024), ExecutionID: 1<<64 - 1},
	} {
		tok := EncodeSlowToken(c)
		if strings.ContainsAny(tok, "+/=") {
			t.Errorf("token %q is not URL-safe", tok)
		}
		got, err := DecodeSlowToken(tok)
		if err != nil || got != c {
			t.Errorf("DecodeSlowToken(EncodeSlowToken(%+v)) = %+v, %v", c, got, err)
		}
	}
	for _, bad := range []string{"", "a", "!!!!",
		EncodePageToken(PageCursor{InstanceID: "abc"}),     // a list token
		EncodeSlowToken(SlowCursor{InstanceID: ""}),        // no id
		EncodeSlowToken(SlowCursor{InstanceID: "a"}) + "=", // padding
		EncodeSlowToken(SlowCursor{InstanceID: "\xff"}),    // not UTF-8
		EncodeSlowToken(SlowCursor{InstanceID: strings.Repeat("x", 1025)}),
	} {
		if _, err := DecodeSlowToken(bad); err == nil {
			t.Errorf("DecodeSlowToken(%q) accepted", bad)
		}
	}
}

func TestSlowCursorOrder(t *testing.T) {
	want := []SlowCursor{
		{DurationMs: 9, InstanceID: "b"},
		{DurationMs: 5, InstanceID: "a", ExecutionID: 2, EventID: 1},
		{DurationMs: 5, InstanceID: "a", ExecutionID: 2, EventID: 7},
		{DurationMs: 5, InstanceID: "a", ExecutionID: 3},
		{DurationMs: 5, InstanceID: "b"},
		{DurationMs: -1, InstanceID: "a"},
	}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortFunc(got, func(a, b SlowCursor) int {
		switch {
		case a.Less(b):
			return -1
		case b.Less(a):
			return 1
		}
		return 0
	})
	if !slices.Equal(got, want) {
		t.Errorf("sorted %+v, want %+v", got, want)
	}
}
