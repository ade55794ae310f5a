package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"": 0, "0": 0, "90d": 90 * 24 * time.Hour, "1d": 24 * time.Hour, "12h": 12 * time.Hour, "1h30m": 90 * time.Minute,
	} {
		if got, err := ParseRetention(in); err != nil || got != want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"90", "0d", "-1d", "1.5d", "d", "90days", "-2h", "0s", "1y", " 90d"} {
		if got, err := ParseRetention(in); err == nil {
			t.Errorf("ParseRetention(%q) = %v, want an error", in, got)
		}
	}
}

// TestRetentionSetting: the variable is read, an empty one keeps
// everything, a bad one stops the binary with an error naming it.
func TestRetentionSetting(t *testing.T) {
	parse := func(env map[string]string, args ...string) (time.Duration, error) {
		f := NewFlags("t", envOf(env))
		f.SetOutput(io.Discard)
		var d time.Duration
		ManagementRetention(f, &d)
		return d, f.Parse(args)
	}
	if d, err := parse(nil); err != nil || d != 0 {
		t.Errorf("default: %v, %v", d, err)
	}
	if d, err := parse(map[string]string{"DUROSCOPE_RETENTION": "90d"}); err != nil || d != 90*24*time.Hour {
		t.Errorf("90d: %v, %v", d, err)
	}
	if d, err := parse(map[string]string{"DUROSCOPE_RETENTION": ""}); err != nil || d != 0 {
		t.Errorf("empty: %v, %v", d, err)
	}
	if d, err := parse(map[string]string{"DUROSCOPE_RETENTION": "90d"}, "-retention", "12h"); err != nil || d != 12*time.Hour {
		t.Errorf("flag over variable: %v, %v", d, err)
	}
	_, err := parse(map[string]string{"DUROSCOPE_RETENTION": "90 days"})
	if err == nil || !strings.Contains(err.Error(), "DUROSCOPE_RETENTION") || !strings.Contains(err.Error(), "90d") {
		t.Errorf("bad value: %v", err)
	}
}
