package projector

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// derivedSample derives a generated instance with more than one execution
// (continue-as-new), so that the executions compared are several.
func derivedSample(t *testing.T) projection.Rows {
	t.Helper()
	for h := range gen.Histories(gen.Config{Seed: 5, Instances: 200}) {
		r, err := projection.Derive(h)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Executions) > 1 && !r.Instance.Deleted {
			return r
		}
	}
	t.Fatal("no generated instance with several executions")
	return projection.Rows{}
}

// storedOf is what the read model holds after r was written (one copy of
// every row at r's version).
func storedOf(r projection.Rows) *chwrite.StoredInstance {
	s := &chwrite.StoredInstance{
		Instance:   chwrite.Stored[projection.InstanceRow]{Version: r.Version, Copies: []projection.InstanceRow{r.Instance}},
		Executions: map[uint64]*chwrite.Stored[projection.ExecutionRow]{},
	}
	for _, e := range r.Executions {
		s.Executions[e.ExecutionID] = &chwrite.Stored[projection.ExecutionRow]{Version: r.Version, Copies: []projection.ExecutionRow{e}}
	}
	return s
}

func TestCompareDrift(t *testing.T) {
	base := derivedSample(t)
	n := base.Version
	firstExec := base.Executions[0].ExecutionID
	tests := []struct {
		name    string
		derived func(r *projection.Rows) *projection.Rows
		stored  func(s *chwrite.StoredInstance) *chwrite.StoredInstance
		want    driftVerdict
		why     string // a part of the reason
	}{
		{name: "written as derived", want: inStep},
		{name: "unmerged identical copy", want: inStep, stored: func(s *chwrite.StoredInstance) *chwrite.StoredInstance {
			s.Instance.Copies = append(s.Instance.Copies, s.Instance.Copies[0])
			return s
		}},
		{name: "no row at all", want: behind, why: "instance row missing", stored: func(*chwrite.StoredInstance) *chwrite.StoredInstance { return nil }},
		{name: "instance row missing", want: behind, why: "instance row missing", stored: func(s *chwrite.StoredInstance) *chwrite.StoredInstance {
			s.Instance = chwrite.Stored[projection.InstanceRow]{}
			return s
		}},
		{name: "older version", want: behind, why: "the history has", stored: func(s *chwrite.StoredInstance) *chwrite.StoredInstance {
			s.Instance.Version = n - 1
			s.Instance.Copies[0].Status = "Running"
			return s
		}},
		{name: "execution missing", want: behind, why: "missing", stored: func(s *chwrite.StoredInstance) *chwrite.StoredInstance {
			delete(s.Executions, firstExec)
			return s
		}},
		{name: "same version, other status", want: drifted, why: "status stored Bogus", stored: func(s *chwrite.StoredInstance) *chwrite.StoredInstance {
			s.Instance.Copies[0].Status = "Bogus"
			return s
		}},
		{name: "one of two copies differs", want: drifted, why: "custom_status", stored: func(s *chwrite.StoredInstance) *chwrite.StoredInstance {
			c := s.Instance.Copies[0]
			c.CustomStatus = events.OptString{Value: "planted", Valid: true}
			s.Instance.Copies = append(s.Instance.Copies, c)
			return s
		}},
		{name: "version above the history", want: drifted, why: "above the", stored: func(s *chwrite.StoredInstance) *chwrite.StoredInstance {
			s.Instance.Version = n + 100
			return s
		}},
		{name: "behind and drifted: drifted wins", want: drifted, why: "execution", stored: func(s *chwrite.StoredInstance) *chwrite.StoredInstance {
			s.Instance.Version = n - 1
			s.Executions[firstExec].Copies[0].EventCount++
			return s
		}},
		{name: "stored tombstone, derived live", want: drifted, why: "stored deleted", stored: func(s *chwrite.StoredInstance) *chwrite.StoredInstance {
			s.Instance.Copies[0] = projection.InstanceRow{InstanceID: base.Instance.InstanceID, Deleted: true}
			return s
		}},
		{name: "live execution the history lacks", want: drifted, why: "not in the history", stored: func(s *chwrite.StoredInstance) *chwrite.StoredInstance {
			e := *s.Executions[firstExec]
			e.Copies = []projection.ExecutionRow{e.Copies[0]}
			e.Copies[0].ExecutionID = 999
			s.Executions[999] = &e
			return s
		}},
		{name: "tombstone of an execution the history lacks", want: inStep, stored: func(s *chwrite.StoredInstance) *chwrite.StoredInstance {
			s.Executions[999] = &chwrite.Stored[projection.ExecutionRow]{Version: 3,
				Copies: []projection.ExecutionRow{{InstanceID: base.Instance.InstanceID, ExecutionID: 999, Deleted: true}}}
			return s
		}},
		{name: "derived tombstone not stored", want: inStep, derived: func(r *projection.Rows) *projection.Rows {
			r.Executions = append(r.Executions, projection.ExecutionRow{InstanceID: r.Instance.InstanceID, ExecutionID: 77, Deleted: true})
			return r
		}},
		{name: "no history, live rows", want: drifted, why: "without history", derived: func(*projection.Rows) *projection.Rows { return nil }},
		{name: "no history, tombstones", want: inStep, derived: func(*projection.Rows) *projection.Rows { return nil },
			stored: func(s *chwrite.StoredInstance) *chwrite.StoredInstance {
				s.Instance.Copies[0] = projection.InstanceRow{InstanceID: base.Instance.InstanceID, Deleted: true}
				s.Executions = nil
				return s
			}},
		{name: "no history, no rows", want: inStep, derived: func(*projection.Rows) *projection.Rows { return nil },
			stored: func(*chwrite.StoredInstance) *chwrite.StoredInstance { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := derivedSample(t) // fresh copies: the cases modify them
			var derived *projection.Rows = &d
			stored := storedOf(d)
			if tc.derived != nil {
				derived = tc.derived(derived)
			}
			if tc.stored != nil {
				stored = tc.stored(stored)
			}
			got := compareDrift(derived, stored)
			if got.verdict != tc.want || !strings.Contains(got.why, tc.why) {
				t.Fatalf("compareDrift = %d %q, want %d with %q", got.verdict, got.why, tc.want, tc.why)
			}
			if tc.want != inStep && got.why == "" {
				t.Fatal("no reason given")
			}
		})
	}
}

// TestCompareDriftErrorRoundTrip: an error as chwrite stores it (JSON,
// invalid UTF-8 replaced) compares equal to the derived error, and a
// column that is not the writer's JSON does not.
func TestCompareDriftErrorRoundTrip(t *testing.T) {
	d := derivedSample(t)
	d.Instance.Error = &events.ErrorDetails{Category: "application", Kind: "ActivityFailed", Message: "bad \xff byte <b>", Retryable: true}
	stored := storedOf(d)
	b, err := json.Marshal(d.Instance.Error)
	if err != nil {
		t.Fatal(err)
	}
	var back events.ErrorDetails
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	stored.Instance.Copies[0].Error = &back
	if got := compareDrift(&d, stored); got.verdict != inStep {
		t.Fatalf("round-tripped error: %q", got.why)
	}
	stored.Instance.Copies[0].Error = &events.ErrorDetails{Kind: chwrite.StoredErrorInvalid, Message: "{not json"}
	if got := compareDrift(&d, stored); got.verdict != drifted || !strings.Contains(got.why, "error stored") {
		t.Fatalf("invalid error column: %d %q", got.verdict, got.why)
	}
}
