package chwrite

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chconn"
)

// What the projector's drift self-check reads and repairs (its port is
// projector.DriftStore): a sample of instance ids, every stored copy of
// their instance and execution rows, and the deletion of those rows.

// Stored is what a table holds of one row key at its newest version: every
// copy of that version (a table not yet merged may hold several, and a
// reader's argMax or FINAL may answer any of them).
type Stored[T any] struct {
	Version uint64
	Copies  []T
}

// add records a copy of version v: a newer version replaces the copies
// kept, an older one is ignored.
func (s *Stored[T]) add(v uint64, row T) {
	switch {
	case len(s.Copies) == 0 || v > s.Version:
		s.Version, s.Copies = v, append(s.Copies[:0], row)
	case v == s.Version:
		s.Copies = append(s.Copies, row)
	}
}

// StoredInstance is what the read model holds of one instance: its
// instance row and each of its executions' rows, at their newest versions,
// tombstones (Deleted) included.
type StoredInstance struct {
	Instance   Stored[projection.InstanceRow]
	Executions map[uint64]*Stored[projection.ExecutionRow]
}

// SampleInstanceIDs returns up to n distinct instance ids greater than
// after, ascending, taken from the history and the instances table. It
// reads a few index granules, not the tables: each side stops at n rows
// from the first data parts in key order, so successive calls (after = the
// last id returned) sweep the ids in order but may skip ids held only by
// small recent parts, which a later sweep reaches once they are merged.
// Fewer than n ids means the sweep reached the end.
func (w *Writer) SampleInstanceIDs(ctx context.Context, after string, n int) ([]string, error) {
	q, err := statements.Render("drift_sample.sql", dbData{w.db})
	if err != nil {
		return nil, err
	}
	ctx = chconn.WithSettings(ctx, clickhouse.Settings{"max_threads": 1, "priority": chconn.PriorityRows})
	rows, err := w.conn.Query(ctx, q, clickhouse.Named("after", after), clickhouse.Named("n", n))
	if err != nil {
		return nil, fmt.Errorf("sample instance ids of %s: %w", w.db, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sample instance ids of %s: %w", w.db, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sample instance ids of %s: %w", w.db, err)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return ids[:min(len(ids), n)], nil
}

// StoredInstances returns what the instances and executions tables hold
// of the given instances (every copy at each key's newest version).
// Instances with no row in either table are absent from the map.
func (w *Writer) StoredInstances(ctx context.Context, instanceIDs []string) (map[string]*StoredInstance, error) {
	out := make(map[string]*StoredInstance)
	of := func(id string) *StoredInstance {
		s := out[id]
		if s == nil {
			s = &StoredInstance{Executions: map[uint64]*Stored[projection.ExecutionRow]{}}
			out[id] = s
		}
		return s
	}
	err := inChunks(instanceIDs, func(chunk []any) error {
		if err := w.storedInstanceRows(ctx, chunk, of); err != nil {
			return err
		}
		return w.storedExecutionRows(ctx, chunk, of)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (w *Writer) storedInstanceRows(ctx context.Context, ids []any, of func(string) *StoredInstance) error {
	q, err := statements.Render("drift_instances.sql", dbData{w.db})
	if err != nil {
		return err
	}
	rows, err := w.conn.Query(ctx, q, clickhouse.Named("ids", clickhouse.GroupSet{Value: ids}))
	if err != nil {
		return fmt.Errorf("read %s.instances: %w", w.db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r                              projection.InstanceRow
			v                              uint64
			deleted                        uint8
			parentInstance, output, custom *string
			errJSON                        *string
			parentID                       *uint64
			duration                       *int64
		)
		if err := rows.Scan(&r.InstanceID, &v, &deleted, &r.OrchestrationName, &r.OrchestrationVersion, &r.Status,
			&r.CreatedAtMs, &r.UpdatedAtMs, &r.ExecutionCount, &r.CurrentExecutionID, &parentInstance, &parentID,
			&output, &errJSON, &custom, &duration, &r.PendingActivities, &r.PendingTimers, &r.PendingEvents,
			&r.PendingSubOrchestrations, &r.EventCount); err != nil {
			return fmt.Errorf("read %s.instances: %w", w.db, err)
		}
		r.Deleted = deleted != 0
		r.ParentInstance, r.Output, r.CustomStatus = optStr(parentInstance), optStr(output), optStr(custom)
		if parentID != nil {
			r.ParentID = events.OptUint{Value: *parentID, Valid: true}
		}
		r.DurationMs = optI64(duration)
		r.Error = storedError(errJSON)
		of(r.InstanceID).Instance.add(v, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s.instances: %w", w.db, err)
	}
	return nil
}

func (w *Writer) storedExecutionRows(ctx context.Context, ids []any, of func(string) *StoredInstance) error {
	q, err := statements.Render("drift_executions.sql", dbData{w.db})
	if err != nil {
		return err
	}
	rows, err := w.conn.Query(ctx, q, clickhouse.Named("ids", clickhouse.GroupSet{Value: ids}))
	if err != nil {
		return fmt.Errorf("read %s.executions: %w", w.db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r                   projection.ExecutionRow
			v                   uint64
			deleted             uint8
			completed, duration *int64
			output, errJSON     *string
		)
		if err := rows.Scan(&r.InstanceID, &r.ExecutionID, &v, &deleted, &r.OrchestrationName, &r.Status, &r.StartedAtMs,
			&completed, &r.LastEventAtMs, &r.EventCount, &duration, &output, &errJSON); err != nil {
			return fmt.Errorf("read %s.executions: %w", w.db, err)
		}
		r.Deleted = deleted != 0
		r.CompletedAtMs, r.DurationMs = optI64(completed), optI64(duration)
		r.Output = optStr(output)
		r.Error = storedError(errJSON)
		s := of(r.InstanceID)
		e := s.Executions[r.ExecutionID]
		if e == nil {
			e = &Stored[projection.ExecutionRow]{}
			s.Executions[r.ExecutionID] = e
		}
		e.add(v, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s.executions: %w", w.db, err)
	}
	return nil
}

// StoredErrorInvalid is the Kind of the error StoredInstances answers for
// an error column that is not the writer's JSON: Message holds the column's
// text, so it differs from every derived error.
const StoredErrorInvalid = "duroscope:invalid-error-column"

// storedError decodes an error column (errorDetailsJSON's form).
func storedError(s *string) *events.ErrorDetails {
	if s == nil {
		return nil
	}
	var d events.ErrorDetails
	if err := json.Unmarshal([]byte(*s), &d); err != nil {
		return &events.ErrorDetails{Kind: StoredErrorInvalid, Message: *s}
	}
	return &d
}

func optStr(s *string) events.OptString {
	if s == nil {
		return events.OptString{}
	}
	return events.OptString{Value: *s, Valid: true}
}

func optI64(v *int64) projection.OptInt {
	if v == nil {
		return projection.OptInt{}
	}
	return projection.OptInt{Value: *v, Valid: true}
}

// mutationPoll is how often DeleteInstances looks whether its mutations
// are done.
const mutationPoll = 50 * time.Millisecond

// DeleteInstances deletes every row of the given instances from the
// instances and executions tables, and returns once ClickHouse has applied
// the deletion (or ctx ends). It is a mutation (ALTER TABLE ... DELETE):
// ClickHouse rewrites every data part that holds rows of those tables, a
// cost in proportion to the tables, not to the instances; rows inserted
// after the call starts are kept. The drift self-check uses it only for rows
// that a rewrite cannot replace (a version above what the history backs).
func (w *Writer) DeleteInstances(ctx context.Context, instanceIDs []string) error {
	if len(instanceIDs) == 0 {
		return nil
	}
	for _, table := range []string{"executions", "instances"} {
		q, err := statements.Render("drift_delete.sql", struct{ DB, Table string }{w.db, table})
		if err != nil {
			return err
		}
		err = inChunks(instanceIDs, func(chunk []any) error {
			return w.conn.Exec(ctx, q, clickhouse.Named("ids", clickhouse.GroupSet{Value: chunk}))
		})
		if err != nil {
			return fmt.Errorf("delete drifted instances from %s.%s: %w", w.db, table, err)
		}
	}
	q, err := statements.Render("drift_mutations.sql", dbData{w.db})
	if err != nil {
		return err
	}
	for {
		var pending uint64
		if err := w.conn.QueryRow(ctx, q, clickhouse.Named("db", w.db)).Scan(&pending); err != nil {
			return fmt.Errorf("wait for the deletion of drifted instances in %s: %w", w.db, err)
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the deletion of drifted instances in %s: %w", w.db, ctx.Err())
		case <-time.After(mutationPoll):
		}
	}
}
