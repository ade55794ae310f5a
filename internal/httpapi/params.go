package httpapi

import (
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Parameter parsing is strict (API.md "Precise rules"): unknown parameters,
// empty values, repeated single-valued parameters and malformed values are
// all 400s whose message names the parameter and the accepted form.

// maxParamBytes bounds free-text parameters (names, ids, prefixes): instance
// ids are at most 1024 bytes, and nothing longer can match.
const maxParamBytes = 1024

// params is a parsed query string restricted to the endpoint's parameters.
type params struct {
	v url.Values
}

// parseParams parses raw (the URL's RawQuery) and rejects parameters that
// are not in allowed, empty values, and malformed escapes.
func parseParams(raw string, allowed ...string) (params, *apiError) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return params{}, badParam("query string", "want name=value pairs joined by & with valid %%XX escapes: %v", err)
	}
	var unknown []string
	for name := range v {
		if !slices.Contains(allowed, name) {
			unknown = append(unknown, paramName(name))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		accepted := "none"
		if len(allowed) > 0 {
			accepted = strings.Join(allowed, ", ")
		}
		also := ""
		if len(unknown) > 1 {
			also = "; also unknown: " + strings.Join(unknown[1:], ", ")
		}
		return params{}, badParam(unknown[0], "unknown parameter%s; accepted: %s", also, accepted)
	}
	for name, vals := range v {
		for _, s := range vals {
			if s == "" {
				return params{}, badParam(name, "empty value; omit the parameter or give a value")
			}
			if !utf8.ValidString(s) {
				return params{}, badParam(name, "not valid UTF-8")
			}
		}
	}
	return params{v: v}, nil
}

// paramName renders a client-supplied parameter name for a message: as it
// is when it is short printable ASCII, quoted otherwise.
func paramName(s string) string {
	if len(s) == 0 || len(s) > 64 {
		return quoteVal(s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ',' || c == ';' || c == ':' || c == '"' {
			return quoteVal(s)
		}
	}
	return s
}

// single returns the parameter's only value; a repeated one is a 400.
func (p params) single(name string) (string, bool, *apiError) {
	vals := p.v[name]
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
		return vals[0], true, nil
	}
	return "", false, badParam(name, "given %d times; give it once", len(vals))
}

// text is a free-text parameter (an orchestration name, an id, a prefix).
func (p params) text(name string) (string, bool, *apiError) {
	s, ok, e := p.single(name)
	if e != nil || !ok {
		return "", ok, e
	}
	if len(s) > maxParamBytes {
		return "", false, badParam(name, "at most %d bytes, got %d", maxParamBytes, len(s))
	}
	return s, true, nil
}

// intRange parses a decimal integer in [lo, hi] (digits only: no sign, no
// spaces, no exponent).
func (p params) intRange(name string, lo, hi, def int) (int, *apiError) {
	s, ok, e := p.single(name)
	if e != nil {
		return 0, e
	}
	if !ok {
		return def, nil
	}
	n, ok := parseDigits(s)
	if !ok || n < uint64(lo) || n > uint64(hi) {
		return 0, badParam(name, "want an integer from %d to %d, got %s", lo, hi, quoteVal(s))
	}
	return int(n), nil
}

// parseDigits parses 1..19 ASCII digits (no sign, spaces or exponent); ok
// is false for anything else and for values above math.MaxInt64.
func parseDigits(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n <= math.MaxInt64
}

// timeFormat is the accepted form of time parameters, for messages.
const timeFormat = "want an RFC 3339 time (2026-11-25T21:38:00Z or 2026-11-25T21:38:00.123Z) or integer epoch milliseconds"

// timeParam parses RFC 3339 (with or without fraction, any offset) or
// integer epoch ms. It returns the instant (for range checks) and the epoch
// ms threshold to compare integer timestamps with: ⌈instant⌉ in ms, which is
// exact for both ">=" and "<" against integer milliseconds.
func (p params) timeParam(name string) (t time.Time, ms *int64, e *apiError) {
	s, ok, e := p.single(name)
	if e != nil || !ok {
		return time.Time{}, nil, e
	}
	if isDigits(s) {
		n, ok := parseDigits(s)
		if !ok {
			return time.Time{}, nil, badParam(name, "%s; %s is out of range", timeFormat, quoteVal(s))
		}
		v := int64(n)
		return time.UnixMilli(v), &v, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, nil, badParam(name, "%s, got %s", timeFormat, quoteVal(s))
	}
	v := t.UnixMilli()
	if t.Sub(time.UnixMilli(v)) > 0 {
		v++
	}
	return t, &v, nil
}

// durationParam parses a non-negative Go duration.
func (p params) durationParam(name string, def time.Duration) (time.Duration, *apiError) {
	s, ok, e := p.single(name)
	if e != nil {
		return 0, e
	}
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, badParam(name, "want a non-negative Go duration such as 90s, 15m or 24h, got %s", quoteVal(s))
	}
	return d, nil
}

// boolParam parses exactly true or false.
func (p params) boolParam(name string, def bool) (bool, *apiError) {
	s, ok, e := p.single(name)
	if e != nil {
		return false, e
	}
	if !ok {
		return def, nil
	}
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badParam(name, "want true or false, got %s", quoteVal(s))
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
