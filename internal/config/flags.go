package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Flags is one binary's command line: every setting is a flag with a
// DUROSCOPE_* variable, the variable sets the value and a flag given on the
// command line wins over it. Values are parsed strictly, by the same parser
// for both sources ("20000abc" is not 20000), and an error names the
// variable or the flag and the accepted form. Positional arguments are
// refused: every setting is a flag.
//
// An empty variable sets a text setting to empty (DUROSCOPE_PROJECTOR_HTTP_ADDR=
// turns the projector's status server off) and leaves a typed one (number,
// duration, bool, list, ...) at its default, as shells make "VAR=" easy to
// leave behind.
type Flags struct {
	fs   *flag.FlagSet
	env  Env
	out  io.Writer
	vars map[string]string // flag name -> variable
	from map[string]string // flag name -> the variable that set it
	// prefix names the variables of the flags registered without one:
	// prefix + the flag's name in upper case, - as _.
	prefix string
}

// Env looks up variables; os.LookupEnv in production, a map in tests.
type Env func(key string) (string, bool)

// OSEnv is the process environment.
func OSEnv(key string) (string, bool) { return os.LookupEnv(key) }

// NewFlags starts the command line of the binary called name. Help (-h)
// prints the flags to os.Stderr (see SetOutput).
func NewFlags(name string, env Env) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, help printed by Parse
	return &Flags{fs: fs, env: env, out: os.Stderr, vars: map[string]string{}, from: map[string]string{}}
}

// VariablePrefix makes the flags registered afterwards with no variable
// name take prefix + their name in upper case with - as _ (for a tool's own
// flags: "DUROSCOPE_GEN_" gives -max-in-flight DUROSCOPE_GEN_MAX_IN_FLIGHT).
func (f *Flags) VariablePrefix(prefix string) { f.prefix = prefix }

// SetOutput sets where -h prints the flags (default os.Stderr).
func (f *Flags) SetOutput(w io.Writer) { f.out = w }

// Variables are the variables of the registered flags, sorted.
func (f *Flags) Variables() []string {
	var out []string
	for _, v := range f.vars {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Source names where a flag's value came from, for errors about it:
// "-batch-size", or "DUROSCOPE_BATCH_SIZE" when the variable set it and
// no flag overrode it.
func (f *Flags) Source(name string) string {
	if v := f.from[name]; v != "" {
		return v
	}
	return "-" + name
}

// IsSet reports whether a variable or the command line gave the flag.
func (f *Flags) IsSet(name string) bool {
	if f.from[name] != "" {
		return true
	}
	set := false
	f.fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// Parse reads the command line, then the variables of the flags it did
// not give (a flag wins over its variable, even over a malformed one). It
// returns flag.ErrHelp after printing the flags for -h.
func (f *Flags) Parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.usage()
		}
		return err
	}
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var errs []error
	f.fs.VisitAll(func(fl *flag.Flag) {
		name := f.vars[fl.Name]
		v, ok := f.env(name)
		if given[fl.Name] || !ok || (v == "" && !fl.Value.(*value).text) {
			return
		}
		if err := fl.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s (flag -%s): %w", name, fl.Name, err))
			return
		}
		f.from[fl.Name] = name
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: every setting is a flag (see -h)", f.fs.Arg(0))
	}
	return nil
}

func (f *Flags) usage() {
	fmt.Fprintf(f.out, "usage of %s (flags win over the DUROSCOPE_* variables):\n", f.fs.Name())
	f.fs.SetOutput(f.out)
	f.fs.PrintDefaults()
	f.fs.SetOutput(io.Discard)
}

// value is one setting: its parser stores a value or says what it wants.
type value struct {
	shown  string // the current value as text, for -h
	set    func(string) error
	isBool bool
	text   bool // a text setting: an empty variable sets it empty
}

func (v *value) String() string { return v.shown }
func (v *value) Set(s string) error {
	if err := v.set(s); err != nil {
		return err
	}
	v.shown = s
	return nil
}
func (v *value) IsBoolFlag() bool { return v.isBool }

// add registers flag name with variable envVar ("" = derived from the
// prefix) whose default text is def; set parses, validates and stores.
func (f *Flags) add(name, envVar, def, usage string, set func(string) error, isBool bool) {
	f.addValue(name, envVar, usage, &value{shown: def, set: set, isBool: isBool})
}

// addText registers a text setting (see add).
func (f *Flags) addText(name, envVar, def, usage string, set func(string) error) {
	f.addValue(name, envVar, usage, &value{shown: def, set: set, text: true})
}

func (f *Flags) addValue(name, envVar, usage string, v *value) {
	if envVar == "" {
		if f.prefix == "" {
			panic("config: flag -" + name + " has no variable")
		}
		envVar = f.prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	}
	usage += " (env " + envVar + ")"
	f.vars[name] = envVar
	f.fs.Var(v, name, usage)
}

// wrong is the error of a value that is not of the accepted form.
func wrong(form, got string) error { return fmt.Errorf("want %s, got %q", form, got) }

// String registers a free-text setting.
func (f *Flags) String(p *string, name, envVar, def, usage string) {
	*p = def
	f.addText(name, envVar, def, usage, func(s string) error { *p = s; return nil })
}

// Secret registers a free-text setting whose value never shows in -h.
func (f *Flags) Secret(p *string, name, envVar, usage string) {
	f.addText(name, envVar, "", usage, func(s string) error { *p = s; return nil })
}

// OneOf registers a setting that takes one of choices.
func (f *Flags) OneOf(p *string, name, envVar, def string, choices []string, usage string) {
	*p = def
	form := strings.Join(choices, "|")
	f.add(name, envVar, def, usage, func(s string) error {
		for _, c := range choices {
			if s == c {
				*p = s
				return nil
			}
		}
		return wrong(form, s)
	}, false)
}

// Int registers an integer setting in [lo, hi].
func (f *Flags) Int(p *int, name, envVar string, def, lo, hi int, usage string) {
	*p = def
	f.add(name, envVar, strconv.Itoa(def), usage, func(s string) error {
		n, err := ParseInt(s, int64(lo), int64(hi))
		if err != nil {
			return err
		}
		*p = int(n)
		return nil
	}, false)
}

// Int64 registers a 64-bit integer setting in [lo, hi].
func (f *Flags) Int64(p *int64, name, envVar string, def, lo, hi int64, usage string) {
	*p = def
	f.add(name, envVar, strconv.FormatInt(def, 10), usage, func(s string) error {
		n, err := ParseInt(s, lo, hi)
		if err != nil {
			return err
		}
		*p = n
		return nil
	}, false)
}

// Float registers a number setting in [lo, hi].
func (f *Flags) Float(p *float64, name, envVar string, def, lo, hi float64, usage string) {
	*p = def
	f.add(name, envVar, strconv.FormatFloat(def, 'g', -1, 64), usage, func(s string) error {
		v, err := ParseFloat(s, lo, hi)
		if err != nil {
			return err
		}
		*p = v
		return nil
	}, false)
}

// Duration registers a Go duration setting of at least lo.
func (f *Flags) Duration(p *time.Duration, name, envVar string, def, lo time.Duration, usage string) {
	*p = def
	f.add(name, envVar, def.String(), usage, func(s string) error {
		d, err := ParseDuration(s, lo)
		if err != nil {
			return err
		}
		*p = d
		return nil
	}, false)
}

// Bool registers an on/off setting: 1, true, yes, on or 0, false, no, off
// (any case); the bare flag means on.
func (f *Flags) Bool(p *bool, name, envVar string, def bool, usage string) {
	*p = def
	f.add(name, envVar, strconv.FormatBool(def), usage, func(s string) error {
		b, err := ParseBool(s)
		if err != nil {
			return err
		}
		*p = b
		return nil
	}, true)
}

// Partition registers an "i/n" share-of-the-work setting.
func (f *Flags) Partition(p *Partition, name, envVar string, def Partition, usage string) {
	*p = def
	f.add(name, envVar, def.String(), usage, func(s string) error {
		v, err := ParsePartition(s)
		if err != nil {
			return err
		}
		*p = v
		return nil
	}, false)
}

// List registers a comma-separated, non-empty list setting.
func (f *Flags) List(p *[]string, name, envVar string, def []string, usage string) {
	*p = def
	f.add(name, envVar, strings.Join(def, ","), usage, func(s string) error {
		v, err := ParseList(s)
		if err != nil {
			return err
		}
		*p = v
		return nil
	}, false)
}

// URLs registers a comma-separated list of URLs with one of schemes, kept
// as the list's text (NATS clients take it so); "" means none.
func (f *Flags) URLs(p *string, name, envVar, def string, schemes []string, usage string) {
	*p = def
	f.addText(name, envVar, Redact(def), usage, func(s string) error {
		if err := ParseURLs(s, schemes); err != nil {
			return err
		}
		*p = s
		return nil
	})
}

// ParseInt reads a decimal integer in [lo, hi], nothing else.
func ParseInt(s string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, wrong(intForm(lo, hi), s)
	}
	return n, nil
}

func intForm(lo, hi int64) string {
	switch {
	case hi == math.MaxInt64 || hi == math.MaxInt:
		return fmt.Sprintf("an integer >= %d", lo)
	default:
		return fmt.Sprintf("an integer from %d to %d", lo, hi)
	}
}

// ParseFloat reads a finite decimal number in [lo, hi].
func ParseFloat(s string, lo, hi float64) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < lo || v > hi {
		form := fmt.Sprintf("a number from %g to %g", lo, hi)
		if math.IsInf(hi, 1) {
			form = fmt.Sprintf("a number >= %g", lo)
		}
		return 0, wrong(form, s)
	}
	return v, nil
}

// ParseDuration reads a Go duration (10s, 1m30s, 500ms) of at least lo.
func ParseDuration(s string, lo time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < lo {
		form := "a Go duration such as 10s or 500ms"
		switch {
		case lo == time.Nanosecond:
			form = "a positive Go duration such as 10s or 500ms"
		case lo > 0:
			form = fmt.Sprintf("a Go duration of at least %s, such as 10s or 1m", lo)
		case lo == 0:
			form = "a Go duration >= 0 such as 10s or 500ms"
		}
		return 0, wrong(form, s)
	}
	return d, nil
}

// ParseBool reads 1, true, yes, on or 0, false, no, off, in any case.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, wrong("1|true|yes|on or 0|false|no|off", s)
}

// Partition is this process's share of the work: instances whose hash
// modulo Count is Index. The zero value is not valid; use Whole.
type Partition struct{ Index, Count int }

// Whole is the single-process partition 0/1.
var Whole = Partition{0, 1}

func (p Partition) String() string { return fmt.Sprintf("%d/%d", p.Index, p.Count) }

// ParsePartition reads "i/n" with 0 <= i < n, nothing else.
func ParsePartition(s string) (Partition, error) {
	const form = "i/n with 0 <= i < n, such as 0/1 or 2/4"
	is, ns, ok := strings.Cut(s, "/")
	if !ok {
		return Partition{}, wrong(form, s)
	}
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n ||
		strings.HasPrefix(is, "+") || strings.HasPrefix(ns, "+") {
		return Partition{}, wrong(form, s)
	}
	return Partition{Index: i, Count: n}, nil
}

// ParseList reads a comma-separated list of non-empty elements (blanks
// around elements are dropped).
func ParseList(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, wrong("a comma-separated list of non-empty elements, such as a,b", s)
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseURLs checks a comma-separated list of scheme://host[:port] URLs
// with one of schemes; "" (none) is accepted.
func ParseURLs(s string, schemes []string) error {
	if s == "" {
		return nil
	}
	form := "a comma-separated list of " + strings.Join(schemes, "|") + "://host:port URLs"
	parts, err := ParseList(s)
	if err != nil {
		return wrong(form, Redact(s))
	}
	for _, p := range parts {
		if err := checkURL(p, schemes); err != nil {
			return wrong(form, Redact(s))
		}
	}
	return nil
}

// ParseURL reads one scheme://host[:port][/path] URL with one of schemes.
func ParseURL(s string, schemes []string) error {
	if err := checkURL(s, schemes); err != nil {
		return wrong("a URL "+strings.Join(schemes, "|")+"://host[:port]", Redact(s))
	}
	return nil
}

// Retention registers a retention setting: how long something is kept, as
// days (90d), a Go duration (12h, 1h30m) or empty / 0 for "keep
// everything" (the zero value).
func (f *Flags) Retention(p *time.Duration, name, envVar, usage string) {
	*p = 0
	f.addText(name, envVar, "", usage, func(s string) error {
		d, err := ParseRetention(s)
		if err != nil {
			return err
		}
		*p = d
		return nil
	})
}

// ParseRetention reads a retention: whole days ("90d"), a positive Go
// duration ("12h", "1h30m"), or "" / "0" for none (0).
func ParseRetention(s string) (time.Duration, error) {
	const form = "a retention such as 90d, 12h or 1h30m (empty or 0 = keep everything)"
	if s == "" || s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n <= 0 || n > 100*365 {
			return 0, wrong(form, s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, wrong(form, s)
	}
	return d, nil
}
