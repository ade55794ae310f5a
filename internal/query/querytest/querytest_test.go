package querytest

import (
	"context"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/query"
)

// oneWrongQueue answers the queues one pending timer off.
type oneWrongQueue struct{ query.ReadModel }

func (m oneWrongQueue) Queues(ctx context.Context) (api.QueueMetrics, error) {
	q, err := m.ReadModel.Queues(ctx)
	q.PendingTimers++
	return q, err
}

// TestDiffFindsADifference: the comparison is not vacuous — equal models
// agree on every question, and one wrong answer is found and named.
func TestDiffFindsADifference(t *testing.T) {
	w := FixturesWorkload(t, "../../../../shared/contract/fixtures")
	subjects := []Subject{{Name: "a"}, {Name: "b"}}
	same, asked := Diff(w, subjects, []query.ReadModel{oracle.NewReadModel(w.Events, w.Snapshots), oracle.NewReadModel(w.Events, w.Snapshots)})
	if len(same) != 0 || asked < 100 {
		t.Fatalf("two oracles over the same workload: %d questions, differences %v", asked, same)
	}
	rm := oracle.NewReadModel(w.Events, w.Snapshots)
	diffs, _ := Diff(w, subjects, []query.ReadModel{rm, oneWrongQueue{rm}})
	if len(diffs) != 1 || !strings.Contains(diffs[0], "queues differs") {
		t.Fatalf("one wrong answer: differences %v", diffs)
	}
}
