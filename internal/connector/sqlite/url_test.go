package sqlite

import "testing"

func TestParseURL(t *testing.T) {
	ok := map[string]string{
		"sqlite:/var/lib/app/duroxide.db": "/var/lib/app/duroxide.db",
		"sqlite:///abs/path.db":           "/abs/path.db",
		"sqlite://rel/path.db":            "rel/path.db",
		"sqlite:/tmp/d.db?mode=rwc":       "/tmp/d.db",
		"sqlite:/tmp/with%20space.db":     "/tmp/with space.db",
		"sqlite:data/duroxide.db":         "data/duroxide.db",
	}
	for in, want := range ok {
		got, err := ParseURL(in)
		if err != nil || got != want {
			t.Errorf("ParseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"sqlite:", "sqlite::memory:", "postgres://x/y", "/plain/path"} {
		if _, err := ParseURL(in); err == nil {
			t.Errorf("ParseURL(%q) accepted", in)
		}
	}
}
