package chread

import (
	"context"

	"github.com/duroscope/duroscope/internal/query"
)

// Retention (ReaderConfig.Retention, README "Retention"): the management
// answers leave out every instance whose newest row was updated before
// now − Retention, exactly, whatever the projector has dropped yet. Lists,
// counts and exports take it as a lower bound of the updated_at filter;
// scans (health, problems, orchestration stats, performance, queue
// counters) as a condition beside deleted = 0; the lookups of instances
// by id (summary, details, executions, history, tree, bulk status, the
// change feed's batch) as "not found"; the activity stats as a lower bound of since (an activity of a
// retained instance scheduled before the cutoff is left out as well). The
// reports are not cut.

// retainFrom returns the first updated_at (epoch ms) an answer keeps, and
// false when nothing is cut (no retention).
func (r *Reader) retainFrom() (int64, bool) {
	if r.retention <= 0 {
		return 0, false
	}
	return cutoffMs(r.now(), r.retention), true
}

// retained reports whether an instance updated at updatedMs is in the
// management answers.
func (r *Reader) retained(updatedMs int64) bool {
	from, ok := r.retainFrom()
	return !ok || updatedMs >= from
}

// retainList tightens a list filter's updated_at lower bound to the
// retention.
func (r *Reader) retainList(f query.ListFilter) query.ListFilter {
	if from, ok := r.retainFrom(); ok && (f.UpdatedAfter == nil || *f.UpdatedAfter < from) {
		f.UpdatedAfter = &from
	}
	return f
}

// retainSince tightens a since (epoch ms, nil = all) to the retention.
func (r *Reader) retainSince(since *int64) *int64 {
	if from, ok := r.retainFrom(); ok && (since == nil || *since < from) {
		return &from
	}
	return since
}

// instanceRetained reports whether id is a live instance in the management
// answers; without a retention it is always true (the callers have their
// own existence rules then).
func (r *Reader) instanceRetained(ctx context.Context, id string) (bool, error) {
	if _, ok := r.retainFrom(); !ok {
		return true, nil
	}
	return r.instanceExists(ctx, id)
}
