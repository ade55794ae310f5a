package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// jsonDiff compares two answers as canonical JSON (so field names, nulls
// versus empty lists and number forms are all checked) and returns one line
// per differing leaf, naming its path: "$.executions[1].event_count:
// service 3, oracle 4" (la and lb name the sides). At most max lines; nil
// when equal.
func jsonDiff(got, want any, la, lb string, max int) []string {
	a, errA := canonical(got)
	b, errB := canonical(want)
	if errA != nil || errB != nil {
		return []string{fmt.Sprintf("cannot encode: %s %v, %s %v", la, errA, lb, errB)}
	}
	w := differ{la: la, lb: lb, max: max}
	w.walk("$", a, b)
	return w.out
}

type differ struct {
	la, lb string
	max    int
	out    []string
}

func canonical(v any) (any, error) {
	raw, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var out any
	err := d.Decode(&out)
	return out, err
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 160 {
		return string(b[:160]) + "..."
	}
	return string(b)
}

func (w *differ) walk(path string, a, b any) {
	if len(w.out) >= w.max {
		return
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			x, inA := av[k]
			y, inB := bv[k]
			switch {
			case !inA:
				w.out = append(w.out, fmt.Sprintf("%s.%s: missing in %s, %s %s", path, k, w.la, w.lb, short(y)))
			case !inB:
				w.out = append(w.out, fmt.Sprintf("%s.%s: %s %s, missing in %s", path, k, w.la, short(x), w.lb))
			default:
				w.walk(path+"."+k, x, y)
			}
		}
		return
	case []any:
		bv, ok := b.([]any)
		if !ok {
			break
		}
		if len(av) != len(bv) {
			w.out = append(w.out, fmt.Sprintf("%s: %s has %d elements, %s %d", path, w.la, len(av), w.lb, len(bv)))
		}
		for i := 0; i < min(len(av), len(bv)); i++ {
			w.walk(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])
		}
		return
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		w.out = append(w.out, fmt.Sprintf("%s: %s %s, %s %s", path, w.la, short(a), w.lb, short(b)))
	}
}

// diffReport collects differences across many (concurrent) comparisons and
// fails the test with the first few of them, grouped by endpoint.
type diffReport struct {
	*reportState
	// prefix is put in front of every endpoint name (see prefixed).
	prefix string
	// got and want name the compared sides ("service", "oracle").
	got, want string
}

type reportState struct {
	t        *testing.T
	mu       sync.Mutex
	checks   map[string]int
	failures map[string]int
	spent    map[string]time.Duration
	calls    map[string]int
	shown    int
}

func newDiffReport(t *testing.T) *diffReport {
	return &diffReport{reportState: &reportState{t: t, checks: map[string]int{}, failures: map[string]int{},
		spent: map[string]time.Duration{}, calls: map[string]int{}}, got: "service", want: "oracle"}
}

// prefixed is a view of r that files its comparisons under prefix+endpoint.
func (r *diffReport) prefixed(prefix string) *diffReport {
	return &diffReport{reportState: r.reportState, prefix: r.prefix + prefix, got: r.got, want: r.want}
}

// sides is a view of r whose comparisons name their sides got and want.
func (r *diffReport) sides(got, want string) *diffReport {
	return &diffReport{reportState: r.reportState, prefix: r.prefix, got: got, want: want}
}

// equal compares one answer; what names the call (endpoint and arguments).
func (r *diffReport) equal(endpoint, what string, got, want any) bool {
	d := jsonDiff(got, want, r.got, r.want, 8)
	endpoint = r.prefix + endpoint
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[endpoint]++
	if len(d) == 0 {
		return true
	}
	r.failures[endpoint]++
	if r.failures[endpoint] <= 3 && r.shown < 30 {
		r.shown++
		r.t.Errorf("%s %s: %s and %s differ:\n  %s", endpoint, what, r.got, r.want, strings.Join(d, "\n  "))
	}
	return false
}

// fail records a failure that is not a value difference (an error, a
// missing 404).
func (r *diffReport) fail(endpoint, format string, args ...any) {
	endpoint = r.prefix + endpoint
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[endpoint]++
	r.failures[endpoint]++
	if r.failures[endpoint] <= 3 && r.shown < 30 {
		r.shown++
		r.t.Errorf("%s: %s", endpoint, fmt.Sprintf(format, args...))
	}
}

func (r *diffReport) ok(endpoint string) {
	endpoint = r.prefix + endpoint
	r.mu.Lock()
	r.checks[endpoint]++
	r.mu.Unlock()
}

// took records the latency of one call (the summary shows the mean).
func (r *diffReport) took(endpoint string, since time.Time) {
	d := time.Since(since)
	endpoint = r.prefix + endpoint
	r.mu.Lock()
	r.spent[endpoint] += d
	r.calls[endpoint]++
	r.mu.Unlock()
}

// summary logs the number of comparisons per endpoint and the failures.
func (r *diffReport) summary() {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.checks))
	for k := range r.checks {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "\n  %-56s %6d compared", k, r.checks[k])
		if n := r.calls[k]; n > 0 {
			fmt.Fprintf(&b, ", mean %v", (r.spent[k] / time.Duration(n)).Round(10*time.Microsecond))
		}
		if f := r.failures[k]; f > 0 {
			fmt.Fprintf(&b, ", %d DIFFER", f)
		}
	}
	r.t.Logf("differential comparisons:%s", b.String())
}
