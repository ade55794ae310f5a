package query

import (
	"strings"
	"testing"
)

func TestPageTokenRoundTrip(t *testing.T) {
	for _, c := range []PageCursor{
		{CreatedAtMs: 0, InstanceID: "a"},
		{CreatedAtMs: -5, InstanceID: "a/..%2F 日本"},
		{CreatedAtMs: 1764105600005, InstanceID: strings.Repeat("x", 1024)},
		{CreatedAtMs: 1 << 62, InstanceID: "\x00'\\"},
	} {
		tok := EncodePageToken(c)
		if strings.ContainsAny(tok, "+/=") {
			t.Errorf("token %q is not URL-safe", tok)
		}
		got, err := DecodePageToken(tok)
		if err != nil || got != c {
			t.Errorf("DecodePageToken(EncodePageToken(%+v)) = %+v, %v", c, got, err)
		}
	}
	for _, bad := range []string{"", "a", "!!!!", "AQ", "AQAAAAAAAAAA", // too short: no id
		EncodePageToken(PageCursor{InstanceID: "a"}) + "=", // padding
		"AgAAAAAAAAAAYQ", // version 2
		EncodePageToken(PageCursor{InstanceID: "\xff"}), // not UTF-8
		EncodePageToken(PageCursor{InstanceID: strings.Repeat("x", 1025)}),
		"' OR 1=1 --",
	} {
		if _, err := DecodePageToken(bad); err == nil {
			t.Errorf("DecodePageToken(%q) accepted", bad)
		}
	}
}
