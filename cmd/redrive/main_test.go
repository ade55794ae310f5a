package main

import (
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParse(t *testing.T) {
	s, err := parse(nil, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.NATSURL != "nats://127.0.0.1:4222" || s.Stream != "DUROXIDE_HISTORY" || s.DryRun || s.Keep || s.Max != 0 || s.IdleTimeout != 5*time.Second {
		t.Errorf("defaults: %+v", s)
	}
	s, err = parse([]string{"--dry-run", "--reason-contains", "refused", "--subject", "duroxide.history.*", "--max", "3", "--keep"},
		envOf(map[string]string{"DUROSCOPE_NATS_URL": "nats://x:1", "DUROSCOPE_STREAM": "S"}))
	if err != nil {
		t.Fatal(err)
	}
	if !s.DryRun || s.ReasonContains != "refused" || s.Subject != "duroxide.history.*" || s.Max != 3 || !s.Keep || s.NATSURL != "nats://x:1" || s.Stream != "S" {
		t.Errorf("flags: %+v", s)
	}
	for _, c := range []struct {
		args []string
		has  string
	}{
		{[]string{"--max", "-1"}, "max"},
		{[]string{"--idle-timeout", "0s"}, "idle-timeout"},
		{[]string{"--subject", "a..b"}, "subject"},
		{[]string{"--subject", "a.>.b"}, "subject"},
		{[]string{"--subject", "a.b*"}, "subject"},
		{[]string{"extra"}, "unexpected"},
		{[]string{"--nats-tls-cert", "c.pem"}, "nats-tls-key"},
	} {
		if _, err := parse(c.args, envOf(nil)); err == nil || !strings.Contains(err.Error(), c.has) {
			t.Errorf("parse(%q) = %v; want an error about %s", c.args, err, c.has)
		}
	}
}

func TestSubjectMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, subject string
		want             bool
	}{
		{"duroxide.history.>", "duroxide.history.order-1", true},
		{"duroxide.history.>", "duroxide.history.a.b", true},
		{"duroxide.history.>", "duroxide.history", false},
		{"duroxide.history.>", "duroxide.dlq.history", false},
		{"duroxide.history.>", "", false},
		{"duroxide.history.*", "duroxide.history.x", true},
		{"duroxide.history.*", "duroxide.history.x.y", false},
		{"duroxide.history.order-1", "duroxide.history.order-1", true},
		{"duroxide.history.order-1", "duroxide.history.order-2", false},
		{"duroxide.*.x", "duroxide.history.x", true},
		{"duroxide.history.>", "duroxide.history..x", false},
	} {
		if got := subjectMatches(c.pattern, c.subject); got != c.want {
			t.Errorf("subjectMatches(%q, %q) = %v, want %v", c.pattern, c.subject, got, c.want)
		}
	}
}
