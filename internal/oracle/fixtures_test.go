package oracle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/duroscope/duroscope/events"
)

const fixturesDir = "../../../shared/contract/fixtures"

// loadFixtures decodes every fixtures/*.jsonl line, in file order.
func loadFixtures(t *testing.T) []events.Event {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixturesDir, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures found in %s: %v", fixturesDir, err)
	}
	sort.Strings(files)
	var out []events.Event
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read fixture %s: %v", f, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 2<<20)
		for n := 1; sc.Scan(); n++ {
			// Decode's Raw aliases its input and the scanner reuses its
			// buffer: give every event its own copy.
			line := bytes.Clone(bytes.TrimSpace(sc.Bytes()))
			if len(line) == 0 {
				continue
			}
			e, err := events.Decode(line)
			if err != nil {
				t.Fatalf("decode %s line %d: %v", f, n, err)
			}
			out = append(out, e)
		}
	}
	return out
}

type expectedFile struct {
	Instances          map[string]json.RawMessage `json:"instances"`
	ActivityStats      json.RawMessage            `json:"activity_stats"`
	OrchestrationStats json.RawMessage            `json:"orchestration_stats"`
}

func loadExpected(t *testing.T) expectedFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixturesDir, "expected.json"))
	if err != nil {
		t.Fatalf("read expected.json: %v", err)
	}
	var x expectedFile
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatalf("parse expected.json: %v", err)
	}
	if len(x.Instances) == 0 || x.ActivityStats == nil || x.OrchestrationStats == nil {
		t.Fatalf("expected.json lacks instances, activity_stats or orchestration_stats")
	}
	return x
}

// assertSameJSON compares got (marshalled) with want canonically, so field
// names, nulls and [] vs null are all checked.
func assertSameJSON(t *testing.T, what string, got any, want json.RawMessage) {
	t.Helper()
	gb, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: marshal: %v", what, err)
	}
	var g, w any
	if err := json.Unmarshal(gb, &g); err != nil {
		t.Fatalf("%s: unmarshal ours: %v", what, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: unmarshal expected: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("%s differs\n got: %s\nwant: %s", what, gi, wi)
	}
}

// TestFixtures checks the oracle against the hand-checked expected.json, for
// the fixtures in file order, shuffled, and shuffled with duplicates.
func TestFixtures(t *testing.T) {
	base := loadFixtures(t)
	want := loadExpected(t)
	rng := rand.New(rand.NewPCG(1, 2))

	shuffled := append([]events.Event(nil), base...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })

	withDups := append([]events.Event(nil), base...)
	for i := range base {
		if rng.IntN(2) == 0 {
			withDups = append(withDups, base[i], base[i])
		}
	}
	rng.Shuffle(len(withDups), func(i, j int) { withDups[i], withDups[j] = withDups[j], withDups[i] })

	reversed := append([]events.Event(nil), base...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}

	for _, tc := range []struct {
		name string
		evts []events.Event
	}{
		{"file order", base},
		{"shuffled", shuffled},
		{"reversed", reversed},
		{"shuffled with duplicates", withDups},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := New(tc.evts)
			var ids []string
			for id := range want.Instances {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			if !reflect.DeepEqual(ids, o.ids) {
				t.Errorf("instances: got %q, want %q", o.ids, ids)
			}
			for _, id := range ids {
				d, ok := o.Details(id)
				if !ok {
					t.Errorf("details %q: not found", id)
					continue
				}
				assertSameJSON(t, "details "+id, d, want.Instances[id])

				// The other per-instance answers must agree with details.
				s, ok := o.Instance(id)
				if !ok || !reflect.DeepEqual(s, d.Summary) {
					t.Errorf("Instance(%q) = %+v, %v; want the details summary", id, s, ok)
				}
				xl, ok := o.Executions(id)
				if !ok || !reflect.DeepEqual(xl.Executions, d.Executions) {
					t.Errorf("Executions(%q) disagrees with details", id)
				}
			}
			assertSameJSON(t, "activity_stats", o.ActivityStats(nil, nil, false), want.ActivityStats)
			assertSameJSON(t, "orchestration_stats", o.OrchestrationStats(nil), want.OrchestrationStats)
		})
	}
}
