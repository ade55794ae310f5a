package events

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestSubjectToken(t *testing.T) {
	tests := []struct{ id, token string }{
		{"order-7::sub::2", "order-7::sub::2"},
		{"a.b c", "a%2Eb%20c"},
		{"Az09_:-", "Az09_:-"},
		{"100%", "100%25"},
		{"a*b>c", "a%2Ab%3Ec"},
		{"x/y\\z", "x%2Fy%5Cz"},
		{"tab\there\n", "tab%09here%0A"},
		{"é", "%C3%A9"},
		{"😀", "%F0%9F%98%80"},
		{"\x00\xff", "%00%FF"},
		{"$JS.API", "%24JS%2EAPI"},
	}
	for _, tt := range tests {
		if got := SubjectToken(tt.id); got != tt.token {
			t.Errorf("SubjectToken(%q) = %q, want %q", tt.id, got, tt.token)
		}
		back, err := DecodeSubjectToken(tt.token)
		if err != nil || back != tt.id {
			t.Errorf("DecodeSubjectToken(%q) = %q, %v; want %q", tt.token, back, err, tt.id)
		}
		if got, want := Subject(tt.id), "duroxide.history."+tt.token; got != want {
			t.Errorf("Subject(%q) = %q, want %q", tt.id, got, want)
		}
	}
}

func TestSubjectTokenRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		b := make([]byte, rng.IntN(40)+1)
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		id := string(b)
		tok := SubjectToken(id)
		for k := 0; k < len(tok); k++ {
			if c := tok[k]; !tokenSafe(c) && c != '%' {
				t.Fatalf("SubjectToken(%q) = %q has byte %q", id, tok, c)
			}
		}
		back, err := DecodeSubjectToken(tok)
		if err != nil || back != id {
			t.Fatalf("round trip of %q via %q gave %q, %v", id, tok, back, err)
		}
	}
}

func TestDecodeSubjectTokenRejects(t *testing.T) {
	for _, tok := range []string{
		"", "a.b", "a b", "a*", ">", "%", "%2", "%2G", "%2e", "%41", "a%2Eb%", "é",
	} {
		_, err := DecodeSubjectToken(tok)
		if !errors.Is(err, ErrBadSubjectToken) {
			t.Errorf("DecodeSubjectToken(%q) err = %v, want ErrBadSubjectToken", tok, err)
		}
	}
}

func TestNATSNames(t *testing.T) {
	if SubjectPrefix != "duroxide.history." || StreamSubjects != "duroxide.history.>" || DefaultStream != "DUROXIDE_HISTORY" ||
		DLQSubject != "duroxide.dlq.history" || QueueSubject != "duroxide.queues" {
		t.Error("NATS names differ from EVENTS.md")
	}
	if !strings.HasPrefix(Subject("x"), SubjectPrefix) {
		t.Error("Subject does not use SubjectPrefix")
	}
	tests := []struct {
		id        string
		exec, evt uint64
		want      string
	}{
		{"order-1", 1, 4, "order-1/1/4"},
		{"a.b c", 2, 18446744073709551615, "a.b c/2/18446744073709551615"},
	}
	for _, tt := range tests {
		if got := MsgID(tt.id, tt.exec, tt.evt); got != tt.want {
			t.Errorf("MsgID = %q, want %q", got, tt.want)
		}
	}
}
