package config

import (
	"errors"
	"flag"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// settings registers one flag of every kind.
type settings struct {
	s    string
	sec  string
	one  string
	n    int
	n64  int64
	x    float64
	d    time.Duration
	b    bool
	p    Partition
	list []string
	urls string
}

func newSettings(env map[string]string) (*Flags, *settings) {
	f := NewFlags("t", envOf(env))
	f.SetOutput(io.Discard)
	s := &settings{}
	f.String(&s.s, "s", "T_S", "def", "text")
	f.Secret(&s.sec, "secret", "T_SECRET", "a secret")
	f.OneOf(&s.one, "one", "T_ONE", "a", []string{"a", "b"}, "a or b")
	f.Int(&s.n, "n", "T_N", 20000, 1, 1_000_000, "an int")
	f.VariablePrefix("T_X_")
	f.Int64(&s.n64, "n64", "", -1, math.MinInt64, math.MaxInt64, "an int64")
	f.Float(&s.x, "frac", "", 0.5, 0, 1, "a fraction")
	f.Duration(&s.d, "dur", "", time.Second, time.Nanosecond, "a duration")
	f.Bool(&s.b, "on", "", false, "a bool")
	f.Partition(&s.p, "partition", "", Whole, "a partition")
	f.List(&s.list, "list", "", []string{"x"}, "a list")
	f.URLs(&s.urls, "urls", "", "", NATSSchemes(), "URLs")
	return f, s
}

func TestFlagsDefaultsEnvAndFlags(t *testing.T) {
	f, s := newSettings(nil)
	if err := f.Parse(nil); err != nil {
		t.Fatal(err)
	}
	want := settings{s: "def", one: "a", n: 20000, n64: -1, x: 0.5, d: time.Second, p: Whole, list: []string{"x"}}
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("defaults: %+v, want %+v", *s, want)
	}

	env := map[string]string{"T_S": "e", "T_SECRET": "pw", "T_ONE": "b", "T_N": "7", "T_X_N64": "-9", "T_X_FRAC": "1",
		"T_X_DUR": "1m30s", "T_X_ON": "yes", "T_X_PARTITION": "2/4", "T_X_LIST": " a, b ", "T_X_URLS": "nats://h:1,tls://u:p@h2:2"}
	f, s = newSettings(env)
	if err := f.Parse(nil); err != nil {
		t.Fatal(err)
	}
	want = settings{s: "e", sec: "pw", one: "b", n: 7, n64: -9, x: 1, d: 90 * time.Second, b: true, p: Partition{2, 4},
		list: []string{"a", "b"}, urls: "nats://h:1,tls://u:p@h2:2"}
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("from env: %+v, want %+v", *s, want)
	}
	if f.Source("n") != "T_N" || f.Source("partition") != "T_X_PARTITION" {
		t.Errorf("sources: %s %s", f.Source("n"), f.Source("partition"))
	}

	// Flags win; the bare bool flag means on; an empty variable empties a
	// text setting and leaves a typed one at its default.
	env["T_X_ON"] = "off"
	env["T_S"] = ""
	env["T_X_DUR"] = ""
	f, s = newSettings(env)
	if err := f.Parse([]string{"-n", "8", "--partition=0/2", "-on"}); err != nil {
		t.Fatal(err)
	}
	if s.n != 8 || s.p != (Partition{0, 2}) || !s.b || s.s != "" || s.d != time.Second || s.one != "b" {
		t.Errorf("flags over env: %+v", *s)
	}
	if f.Source("n") != "-n" || f.Source("one") != "T_ONE" {
		t.Errorf("sources after flags: %s %s", f.Source("n"), f.Source("one"))
	}
	got := f.Variables()
	wantVars := []string{"T_N", "T_ONE", "T_S", "T_SECRET", "T_X_DUR", "T_X_FRAC", "T_X_LIST", "T_X_N64", "T_X_ON", "T_X_PARTITION", "T_X_URLS"}
	if !reflect.DeepEqual(got, wantVars) {
		t.Errorf("Variables() = %v, want %v", got, wantVars)
	}
}

// TestFlagsStrict: a value that is not entirely of the accepted form is an
// error that names the variable (or the flag) and the form.
func TestFlagsStrict(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		args []string
		has  []string
	}{
		{map[string]string{"T_N": "20000abc"}, nil, []string{"T_N", "-n", "an integer from 1 to 1000000", `"20000abc"`}},
		{map[string]string{"T_N": "abc"}, nil, []string{"T_N", "an integer"}},
		{map[string]string{"T_N": "0"}, nil, []string{"T_N", "from 1"}},
		{map[string]string{"T_N": " 7"}, nil, []string{"T_N"}},
		{nil, []string{"-n", "20000abc"}, []string{"-n", "an integer from 1 to 1000000"}},
		{map[string]string{"T_X_PARTITION": "1/4junk"}, nil, []string{"T_X_PARTITION", "i/n with 0 <= i < n"}},
		{nil, []string{"-partition", "4/4"}, []string{"-partition", "i/n"}},
		{nil, []string{"-partition", "+1/4"}, []string{"-partition", "i/n"}},
		{map[string]string{"T_X_DUR": "10"}, nil, []string{"T_X_DUR", "positive Go duration"}},
		{map[string]string{"T_X_DUR": "0s"}, nil, []string{"T_X_DUR", "positive"}},
		{map[string]string{"T_X_FRAC": "1.5"}, nil, []string{"T_X_FRAC", "a number from 0 to 1"}},
		{map[string]string{"T_X_FRAC": "NaN"}, nil, []string{"T_X_FRAC"}},
		{map[string]string{"T_X_ON": "maybe"}, nil, []string{"T_X_ON", "1|true|yes|on"}},
		{nil, []string{"-on=maybe"}, []string{"-on", "1|true"}},
		{map[string]string{"T_ONE": "c"}, nil, []string{"T_ONE", "a|b"}},
		{map[string]string{"T_X_LIST": "a,,b"}, nil, []string{"T_X_LIST", "comma-separated"}},
		{nil, []string{"-list", " , "}, []string{"-list", "comma-separated"}},
		{map[string]string{"T_X_URLS": "h:4222"}, nil, []string{"T_X_URLS", "nats|tls|ws|wss://host:port"}},
		{map[string]string{"T_X_URLS": "http://h:1"}, nil, []string{"T_X_URLS"}},
		{map[string]string{"T_X_URLS": "nats://h:99999"}, nil, []string{"T_X_URLS"}},
		{nil, []string{"extra"}, []string{`unexpected argument "extra"`}},
		{nil, []string{"-n", "3", "extra", "-s", "x"}, []string{`unexpected argument "extra"`}},
		{nil, []string{"-nope"}, []string{"-nope"}},
	} {
		f, _ := newSettings(c.env)
		err := f.Parse(c.args)
		if err == nil {
			t.Errorf("env %v args %q: no error", c.env, c.args)
			continue
		}
		for _, h := range c.has {
			if !strings.Contains(err.Error(), h) {
				t.Errorf("env %v args %q: %q does not say %q", c.env, c.args, err, h)
			}
		}
	}
	// A flag wins even over a malformed variable.
	f, s := newSettings(map[string]string{"T_N": "abc"})
	if err := f.Parse([]string{"-n", "5"}); err != nil || s.n != 5 {
		t.Errorf("-n over a malformed T_N: %v, n = %d", err, s.n)
	}
	// Credentials in a refused URL do not reach the message.
	f, _ = newSettings(map[string]string{"T_X_URLS": "nats://u:secret@h:1,bad"})
	if err := f.Parse(nil); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("refused URL list: %v", err)
	}
}

func TestFlagsHelp(t *testing.T) {
	f, _ := newSettings(map[string]string{"T_SECRET": "hunter2"})
	var b strings.Builder
	f.SetOutput(&b)
	if err := f.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if !strings.Contains(b.String(), "(env T_X_PARTITION)") || strings.Contains(b.String(), "hunter2") {
		t.Errorf("help:\n%s", b.String())
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		"nats://h:4222": "nats://h:4222",
		"nats://user:secret@h1:4222, nats://h2:4222,tls://tok@h3": "nats://REDACTED@h1:4222,nats://h2:4222,tls://REDACTED@h3",
		"nats://u:p@h:1,%zz": "nats://REDACTED@h:1,(unparsable URL)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParsePartition(t *testing.T) {
	for in, want := range map[string]Partition{"0/1": Whole, "3/4": {3, 4}, "0/100": {0, 100}} {
		if got, err := ParsePartition(in); err != nil || got != want {
			t.Errorf("ParsePartition(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "1", "1/", "/1", "1/1", "-1/2", "1/0", "1/4junk", "a/b", "1 /2", "1/2/3", "0x1/2"} {
		if p, err := ParsePartition(in); err == nil {
			t.Errorf("ParsePartition(%q) = %v; want an error", in, p)
		}
	}
}

// FuzzParsers: every parser either refuses a value or accepts one whose
// canonical text parses back to the same value; none panics.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{"0/1", "3/4", "1/4junk", "20000", "20000abc", "abc", "1s", "-1s", "1e3", "NaN", "a,b", "a,,b",
		"nats://u:p@h:1,tls://h", "yes", "OFF", "", " ", "+1/2", "9223372036854775808"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParsePartition(s); err == nil {
			if p.Index < 0 || p.Index >= p.Count {
				t.Fatalf("ParsePartition(%q) = %v", s, p)
			}
			if q, err := ParsePartition(p.String()); err != nil || q != p {
				t.Fatalf("round trip %q: %v %v", s, q, err)
			}
		}
		if n, err := ParseInt(s, 1, 1000); err == nil && (n < 1 || n > 1000) {
			t.Fatalf("ParseInt(%q) = %d out of range", s, n)
		}
		if v, err := ParseFloat(s, 0, 1); err == nil && !(v >= 0 && v <= 1) {
			t.Fatalf("ParseFloat(%q) = %v out of range", s, v)
		}
		if d, err := ParseDuration(s, time.Nanosecond); err == nil && d <= 0 {
			t.Fatalf("ParseDuration(%q) = %v", s, d)
		}
		if b, err := ParseBool(s); err == nil {
			if again, _ := ParseBool(strings.ToUpper(s)); again != b {
				t.Fatalf("ParseBool case: %q", s)
			}
		}
		if l, err := ParseList(s); err == nil {
			for _, e := range l {
				if e == "" || strings.Contains(e, ",") {
					t.Fatalf("ParseList(%q) = %q", s, l)
				}
			}
		}
		if ParseURLs(s, NATSSchemes()) == nil && s != "" {
			for _, p := range strings.Split(s, ",") {
				if !strings.Contains(p, "://") {
					t.Fatalf("ParseURLs accepted %q", s)
				}
			}
		}
		if r := Redact(s); strings.Contains(s, "@") && ParseURLs(s, NATSSchemes()) == nil && strings.Contains(r, "@") && !strings.Contains(r, "REDACTED@") {
			t.Fatalf("Redact(%q) = %q keeps a user", s, r)
		}
	})
}
