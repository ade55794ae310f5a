package chread

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/query"
)

// instanceRow receives one row of the instance_cols fragment
// (sql/fragments.sql).
type instanceRow struct {
	id, name, version, status string
	created, updated          int64
	execCount, currentExec    uint64
	parentInstance            *string
	parentID                  *uint64
	output, errJSON, custom   *string
}

func (x *instanceRow) dest() []any {
	return []any{&x.id, &x.name, &x.version, &x.status, &x.created, &x.updated,
		&x.execCount, &x.currentExec, &x.parentInstance, &x.parentID, &x.output, &x.errJSON, &x.custom}
}

func (x *instanceRow) summary() (api.InstanceSummary, error) {
	e, err := parseError(x.errJSON)
	if err != nil {
		return api.InstanceSummary{}, fmt.Errorf("instance %q: %w", x.id, err)
	}
	return api.InstanceSummary{
		InstanceID:         x.id,
		OrchestrationName:  x.name,
		Version:            x.version,
		Status:             x.status,
		CreatedAt:          api.Time(x.created),
		UpdatedAt:          api.Time(x.updated),
		ExecutionCount:     x.execCount,
		CurrentExecutionID: x.currentExec,
		ParentInstance:     x.parentInstance,
		ParentID:           x.parentID,
		Output:             x.output,
		Error:              e,
		CustomStatus:       x.custom,
	}, nil
}

// parseError decodes an `error` column ({"category","kind","message","retryable"}).
func parseError(s *string) (*api.Error, error) {
	if s == nil {
		return nil, nil
	}
	var e api.Error
	if err := json.Unmarshal([]byte(*s), &e); err != nil {
		return nil, fmt.Errorf("error column %q: %w", *s, err)
	}
	return &e, nil
}

// Instance answers GET /v1/instances/{id}: the newest version of the
// instance's row, found by primary key; a tombstone (docs/deletions.md) is
// not found.
func (r *Reader) Instance(ctx context.Context, id string) (api.InstanceSummary, bool, error) {
	var (
		row     instanceRow
		deleted uint8
		found   bool
	)
	err := r.query(ctx, queryOpts{pointLookup: true}, fmt.Sprintf("instance %q", id),
		"instance.sql", dbData{r.db}, []any{clickhouse.Named("id", id)}, func(rows driver.Rows) error {
			found = true
			return rows.Scan(append(row.dest(), &deleted)...)
		})
	if err != nil || !found || deleted != 0 || !r.retained(row.updated) {
		return api.InstanceSummary{}, false, err
	}
	s, err := row.summary()
	return s, err == nil, err
}

// instanceExists reports whether the instance's newest row is live (not a
// tombstone) and retained (retention.go).
func (r *Reader) instanceExists(ctx context.Context, id string) (bool, error) {
	found := false
	err := r.query(ctx, queryOpts{pointLookup: true}, fmt.Sprintf("instance %q exists", id),
		"instance_exists.sql", dbData{r.db}, []any{clickhouse.Named("id", id)}, func(rows driver.Rows) error {
			var (
				deleted uint8
				updated int64
			)
			if err := rows.Scan(&deleted, &updated); err != nil {
				return err
			}
			found = deleted == 0 && r.retained(updated)
			return nil
		})
	return found, err
}

// executionRow receives one row of executions.sql.
type executionRow struct {
	id          uint64
	status      string
	started     int64
	completed   *int64
	lastEvent   int64
	eventCount  uint64
	duration    *int64
	output, err *string
}

func (x *executionRow) dest() []any {
	return []any{&x.id, &x.status, &x.started, &x.completed, &x.lastEvent, &x.eventCount, &x.duration, &x.output, &x.err}
}

func (r *Reader) executions(ctx context.Context, id string) ([]executionRow, error) {
	var out []executionRow
	err := r.query(ctx, queryOpts{pointLookup: true}, fmt.Sprintf("executions of %q", id),
		"executions.sql", dbData{r.db}, []any{clickhouse.Named("id", id)}, func(rows driver.Rows) error {
			var x executionRow
			if err := rows.Scan(x.dest()...); err != nil {
				return err
			}
			out = append(out, x)
			return nil
		})
	return out, err
}

func (x *executionRow) summary(instance string) (api.ExecutionSummary, error) {
	e, err := parseError(x.err)
	if err != nil {
		return api.ExecutionSummary{}, fmt.Errorf("instance %q execution %d: %w", instance, x.id, err)
	}
	s := api.ExecutionSummary{
		ExecutionID: x.id,
		Status:      x.status,
		StartedAt:   api.Time(x.started),
		EventCount:  x.eventCount,
		DurationMs:  x.duration,
		Output:      x.output,
		Error:       e,
	}
	if x.completed != nil {
		t := api.Time(*x.completed)
		s.CompletedAt = &t
	}
	return s, nil
}

func summaries(instance string, xs []executionRow) ([]api.ExecutionSummary, error) {
	out := make([]api.ExecutionSummary, 0, len(xs))
	for i := range xs {
		s, err := xs[i].summary(instance)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Executions answers GET /v1/instances/{id}/executions, ascending.
func (r *Reader) Executions(ctx context.Context, id string) (api.ExecutionList, bool, error) {
	xs, err := r.executions(ctx, id)
	if err != nil {
		return api.ExecutionList{}, false, err
	}
	if len(xs) == 0 || r.retention > 0 {
		// The projector writes executions before instances, so an instance
		// without execution rows is one that does not exist (yet); under a
		// retention, the instance decides whether its executions show.
		ok, err := r.instanceExists(ctx, id)
		if err != nil || !ok {
			return api.ExecutionList{}, false, err
		}
	}
	s, err := summaries(id, xs)
	if err != nil {
		return api.ExecutionList{}, false, err
	}
	return api.ExecutionList{Executions: s}, true, nil
}

// Details answers GET /v1/instances/{id}/details.
func (r *Reader) Details(ctx context.Context, id string) (api.InstanceDetails, bool, error) {
	// The instance row and the executions are independent point reads:
	// issue them together (one round trip of latency instead of two).
	var (
		xs   []executionRow
		xerr error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		xs, xerr = r.executions(ctx, id)
	}()
	sum, found, err := r.Instance(ctx, id)
	<-done
	if err != nil || !found {
		return api.InstanceDetails{}, found, err
	}
	if xerr != nil {
		return api.InstanceDetails{}, false, xerr
	}
	// Executions newer than the instance row belong to a derivation whose
	// instance row is not written yet (the writer writes instances last):
	// leave them out so that the answer agrees with its own summary.
	n := 0
	for _, x := range xs {
		if x.id <= sum.CurrentExecutionID {
			xs[n] = x
			n++
		}
	}
	xs = xs[:n]
	execs, err := summaries(id, xs)
	if err != nil {
		return api.InstanceDetails{}, false, err
	}
	d := api.InstanceDetails{Summary: sum, Executions: execs}
	if sum.Status != api.StatusRunning {
		return d, true, nil
	}
	var cur *executionRow
	for i := range xs {
		if xs[i].id == sum.CurrentExecutionID {
			cur = &xs[i]
		}
	}
	if cur == nil {
		return api.InstanceDetails{}, false, fmt.Errorf("instance %q: current execution %d has no executions row", id, sum.CurrentExecutionID)
	}
	ce := &api.ExecutionDetails{
		ExecutionID:              cur.id,
		Status:                   cur.status,
		LastEventAt:              api.Time(cur.lastEvent),
		PendingActivities:        []api.PendingActivity{},
		PendingTimers:            []api.PendingTimer{},
		PendingEvents:            []api.PendingEvent{},
		PendingSubOrchestrations: []api.PendingSubOrchestration{},
	}
	// Pending work exists only while the execution runs: one that ended with
	// ContinuedAsNew (the next has not started yet) has none (EVENTS.md).
	if cur.status == api.StatusRunning {
		if err := r.pending(ctx, id, cur.id, ce); err != nil {
			return api.InstanceDetails{}, false, err
		}
	}
	d.CurrentExecution = ce
	return d, true, nil
}

func (r *Reader) pending(ctx context.Context, id string, exec uint64, ce *api.ExecutionDetails) error {
	return r.query(ctx, queryOpts{pointLookup: true}, fmt.Sprintf("pending work of %q execution %d", id, exec),
		"pending_work.sql", dbData{r.db}, []any{clickhouse.Named("id", id), clickhouse.Named("execution_id", exec)}, func(rows driver.Rows) error {
			var (
				kind, name, input, child string
				corr                     uint64
				tag                      *string
				persistent               uint8
				scheduled, fireAt, delay int64
			)
			if err := rows.Scan(&kind, &corr, &name, &input, &tag, &child, &persistent, &scheduled, &fireAt, &delay); err != nil {
				return err
			}
			switch kind {
			case "activity":
				ce.PendingActivities = append(ce.PendingActivities, api.PendingActivity{
					CorrelationID: corr, Name: name, Input: input, Tag: tag, ScheduledAt: api.Time(scheduled)})
			case "timer":
				ce.PendingTimers = append(ce.PendingTimers, api.PendingTimer{
					CorrelationID: corr, DelayMs: delay, ScheduledAt: api.Time(scheduled), FireAt: api.Time(fireAt)})
			case "event":
				ce.PendingEvents = append(ce.PendingEvents, api.PendingEvent{
					CorrelationID: corr, Name: name, Persistent: persistent != 0, SubscribedAt: api.Time(scheduled)})
			case "sub_orchestration":
				ce.PendingSubOrchestrations = append(ce.PendingSubOrchestrations, api.PendingSubOrchestration{
					CorrelationID: corr, Name: name, Instance: child, ScheduledAt: api.Time(scheduled)})
			default:
				return fmt.Errorf("unknown work kind %q (correlation id %d)", kind, corr)
			}
			return nil
		})
}

// History answers GET /v1/instances/{id}/history: one point-lookup range
// of history_v3 in key order, at most Limit+1 rows (the extra one says
// whether a next page follows), pruned executions excluded in the query so
// they never use up a page.
func (r *Reader) History(ctx context.Context, id string, hr query.HistoryRange) (api.History, bool, error) {
	if ok, err := r.instanceRetained(ctx, id); err != nil || !ok {
		return api.History{}, false, err
	}
	deletedThrough, pruned, err := r.notices(ctx, id)
	if err != nil {
		return api.History{}, false, err
	}
	if pruned[hr.ExecutionID] {
		return api.History{}, false, nil
	}
	data := struct {
		DB                       string
		Execution, Pruned, After bool
		Limit                    bool
	}{r.db, hr.ExecutionID != 0, len(pruned) > 0, hr.After != nil, hr.Limit > 0}
	args := []any{clickhouse.Named("id", id), clickhouse.Named("execution_id", hr.ExecutionID),
		clickhouse.Named("deleted_through", deletedThrough)}
	if data.Pruned {
		xs := make([]uint64, 0, len(pruned))
		for x := range pruned {
			xs = append(xs, x)
		}
		args = append(args, clickhouse.Named("pruned", inList(xs)))
	}
	if data.After {
		args = append(args, clickhouse.Named("after_x", hr.After.ExecutionID), clickhouse.Named("after_e", hr.After.EventID))
	}
	if data.Limit {
		args = append(args, clickhouse.Named("limit", hr.Limit+1))
	}
	evs := []json.RawMessage{}
	var last query.EventKey
	more := false
	err = r.query(ctx, queryOpts{pointLookup: true, maxBytes: r.historyBytes}, fmt.Sprintf("history of %q", id), "history.sql", data, args,
		func(rows driver.Rows) error {
			var (
				k query.EventKey
				p string
			)
			if err := rows.Scan(&k.ExecutionID, &k.EventID, &p); err != nil {
				return err
			}
			if hr.Limit > 0 && len(evs) == hr.Limit {
				more = true
				return nil
			}
			evs = append(evs, json.RawMessage(p))
			last = k
			return nil
		})
	if err != nil {
		return api.History{}, false, err
	}
	h := api.History{Events: evs}
	if more {
		tok := query.EncodeHistoryToken(last)
		h.NextPageToken = &tok
	}
	if len(evs) == 0 {
		if hr.After != nil {
			// Past the end of a page: found if the range without it is.
			_, found, err := r.History(ctx, id, query.HistoryRange{ExecutionID: hr.ExecutionID, Limit: 1})
			if err != nil || !found {
				return api.History{}, false, err
			}
			return h, true, nil
		}
		if hr.ExecutionID != 0 {
			return api.History{}, false, nil
		}
		ok, err := r.instanceExists(ctx, id)
		if err != nil || !ok {
			return api.History{}, false, err
		}
	}
	return h, true, nil
}

// notices reads what an instance's source notices hide from its history
// (docs/deletions.md): every event at or before deletedThrough (the latest
// InstanceDeleted, 0 without one), and the executions pruned by the
// ExecutionsPruned notices after it.
func (r *Reader) notices(ctx context.Context, id string) (deletedThrough uint64, pruned map[uint64]bool, err error) {
	type prune struct {
		ts  uint64
		ids []uint64
	}
	var prunes []prune
	err = r.query(ctx, queryOpts{pointLookup: true}, fmt.Sprintf("notices of %q", id),
		"notices.sql", dbData{r.db}, []any{clickhouse.Named("id", id)}, func(rows driver.Rows) error {
			var (
				typ string
				ts  uint64
				ids []uint64
			)
			if err := rows.Scan(&typ, &ts, &ids); err != nil {
				return err
			}
			switch typ {
			case events.TypeInstanceDeleted:
				deletedThrough = max(deletedThrough, ts)
			case events.TypeExecutionsPruned:
				prunes = append(prunes, prune{ts, ids})
			}
			return nil
		})
	if err != nil {
		return 0, nil, err
	}
	pruned = map[uint64]bool{}
	for _, p := range prunes {
		if p.ts > deletedThrough {
			for _, x := range p.ids {
				pruned[x] = true
			}
		}
	}
	return deletedThrough, pruned, nil
}

// uniqueIDTable returns the distinct ids, sorted, and their external table
// _ids (nil when there are none).
func uniqueIDTable(ids []string) ([]string, *ext.Table, error) {
	uniq := slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(uniq) == 0 {
		return nil, nil, nil
	}
	t, err := idTable(uniq)
	return uniq, t, err
}

// Instances answers many instance lookups at once (the live change feed's
// batches): the live summaries among ids, ordered by instance_id. The ids
// travel as an external table, as for BulkStatus.
func (r *Reader) Instances(ctx context.Context, ids []string) ([]api.InstanceSummary, error) {
	out := []api.InstanceSummary{}
	uniq, t, err := uniqueIDTable(ids)
	if err != nil || t == nil {
		return out, err
	}
	err = r.query(ctx, queryOpts{pointLookup: true, external: []*ext.Table{t}, maxRows: uint64(len(uniq))},
		fmt.Sprintf("instances by id (%d ids)", len(uniq)), "instances_by_id.sql", dbData{r.db}, nil, func(rows driver.Rows) error {
			var (
				row     instanceRow
				deleted uint8
			)
			if err := rows.Scan(append(row.dest(), &deleted)...); err != nil {
				return err
			}
			if deleted != 0 || !r.retained(row.updated) {
				return nil
			}
			s, err := row.summary()
			if err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ActivityTags answers, for the live change feed's activity_tag filter,
// the distinct activity tags of each of ids that has any (sorted); the ids
// travel as an external table.
func (r *Reader) ActivityTags(ctx context.Context, ids []string) (map[string][]string, error) {
	out := map[string][]string{}
	uniq, t, err := uniqueIDTable(ids)
	if err != nil || t == nil {
		return out, err
	}
	err = r.query(ctx, queryOpts{pointLookup: true, external: []*ext.Table{t}, maxRows: uint64(len(uniq))},
		fmt.Sprintf("activity tags by id (%d ids)", len(uniq)), "activity_tags_by_id.sql", dbData{r.db}, nil, func(rows driver.Rows) error {
			var (
				id   string
				tags []string
			)
			if err := rows.Scan(&id, &tags); err != nil {
				return err
			}
			out[id] = tags
			return nil
		})
	if err != nil {
		return nil, err
	}
	if _, ok := r.retainFrom(); ok && len(out) > 0 {
		// Under a retention, only the instances the answers keep.
		kept, err := r.Instances(ctx, slices.Collect(maps.Keys(out)))
		if err != nil {
			return nil, err
		}
		keep := make(map[string]bool, len(kept))
		for _, s := range kept {
			keep[s.InstanceID] = true
		}
		maps.DeleteFunc(out, func(id string, _ []string) bool { return !keep[id] })
	}
	return out, nil
}

// BulkStatus answers POST /v1/bulk/status: one status per requested id, in
// request order, duplicates included; NotFound for unknown ids. The ids
// travel as an external table (10,000 ids of up to 1 KiB would not fit in a
// query text).
func (r *Reader) BulkStatus(ctx context.Context, ids []string) (api.BulkStatusResponse, error) {
	uniq := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	status := make(map[string]string, len(uniq))
	if len(uniq) > 0 {
		t, err := idTable(uniq)
		if err != nil {
			return api.BulkStatusResponse{}, err
		}
		err = r.query(ctx, queryOpts{pointLookup: true, external: []*ext.Table{t}, maxRows: uint64(len(uniq))},
			fmt.Sprintf("bulk status of %d ids", len(uniq)), "bulk_status.sql", dbData{r.db}, nil, func(rows driver.Rows) error {
				var (
					id, st  string
					deleted uint8
					updated int64
				)
				if err := rows.Scan(&id, &st, &deleted, &updated); err != nil {
					return err
				}
				if deleted == 0 && r.retained(updated) {
					status[id] = st
				}
				return nil
			})
		if err != nil {
			return api.BulkStatusResponse{}, err
		}
	}
	out := make([]api.InstanceStatus, len(ids))
	for i, id := range ids {
		st, ok := status[id]
		if !ok {
			st = api.StatusNotFound
		}
		out[i] = api.InstanceStatus{InstanceID: id, Status: st}
	}
	return api.BulkStatusResponse{Statuses: out}, nil
}
