package oracle

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/query"
)

// ReadModel is the oracle behind the query side's port (query.ReadModel),
// so the contract tests (query/querytest) hold the ClickHouse reader and the
// oracle to the same answers. It translates the port's parameters into the
// oracle's own and pages lists the way the contract says; every answer is
// still derived by the replay alone. It never fails: the oracle has no store
// to lose.
type ReadModel struct {
	o         *Oracle
	snapshots []events.QueueSnapshot
	// reports answers the reports: o, or under a retention the replay of
	// every instance (the reports are never cut).
	reports *Oracle
	// retainFrom is the retention's first kept time (epoch ms), nil =
	// none: the activity stats' since is at least it.
	retainFrom *int64
}

var _ query.ReadModel = (*ReadModel)(nil)

// NewReadModel replays evts (as New) and keeps the queue snapshots for
// Queues.
func NewReadModel(evts []events.Event, snapshots []events.QueueSnapshot) *ReadModel {
	o := New(evts)
	return &ReadModel{o: o, reports: o, snapshots: append([]events.QueueSnapshot(nil), snapshots...)}
}

// NewRetainedReadModel is NewReadModel under a retention (README
// "Retention") that keeps what was updated at or after fromMs: the
// management answers are those of a replay of only the instances whose
// last update (updated_at) is at or after fromMs, as if the others had
// never existed; the activity stats keep only the activities scheduled at
// or after fromMs; the reports are the replay of everything.
func NewRetainedReadModel(evts []events.Event, snapshots []events.QueueSnapshot, fromMs int64) *ReadModel {
	all := New(evts)
	keep := map[string]bool{}
	var kept []events.Event
	for _, e := range evts {
		k, seen := keep[e.InstanceID]
		if !seen {
			s, ok := all.Instance(e.InstanceID)
			k = ok && int64(s.UpdatedAt) >= fromMs
			keep[e.InstanceID] = k
		}
		if k {
			kept = append(kept, e)
		}
	}
	return &ReadModel{o: New(kept), reports: all, retainFrom: &fromMs,
		snapshots: append([]events.QueueSnapshot(nil), snapshots...)}
}

// Oracle is the replay behind m.
func (m *ReadModel) Oracle() *Oracle { return m.o }

func (m *ReadModel) Instance(_ context.Context, id string) (api.InstanceSummary, bool, error) {
	s, ok := m.o.Instance(id)
	return s, ok, nil
}

func (m *ReadModel) Details(_ context.Context, id string) (api.InstanceDetails, bool, error) {
	d, ok := m.o.Details(id)
	return d, ok, nil
}

func (m *ReadModel) Executions(_ context.Context, id string) (api.ExecutionList, bool, error) {
	l, ok := m.o.Executions(id)
	return l, ok, nil
}

func (m *ReadModel) Tree(_ context.Context, id string) (api.InstanceTree, bool, error) {
	t, ok := m.o.Tree(id)
	return t, ok, nil
}

// History: ExecutionID 0 means every execution (the port's convention);
// the page is cut from the whole history by the events' keys.
func (m *ReadModel) History(_ context.Context, id string, r query.HistoryRange) (api.History, bool, error) {
	var x *uint64
	if r.ExecutionID != 0 {
		x = &r.ExecutionID
	}
	evs, ok := m.o.HistoryEvents(id, x)
	if !ok {
		return api.History{}, false, nil
	}
	h := api.History{Events: []json.RawMessage{}}
	for i, e := range evs {
		k := query.EventKey{ExecutionID: e.ExecutionID, EventID: e.EventID}
		if r.After != nil && !r.After.Less(k) {
			continue
		}
		if r.Limit > 0 && len(h.Events) == r.Limit {
			last := evs[i-1]
			tok := query.EncodeHistoryToken(query.EventKey{ExecutionID: last.ExecutionID, EventID: last.EventID})
			h.NextPageToken = &tok
			break
		}
		h.Events = append(h.Events, json.RawMessage(e.Raw))
	}
	return h, true, nil
}

func (m *ReadModel) BulkStatus(_ context.Context, ids []string) (api.BulkStatusResponse, error) {
	return m.o.BulkStatus(ids), nil
}

// Instances: each live id's summary, ordered by id, each once.
func (m *ReadModel) Instances(_ context.Context, ids []string) ([]api.InstanceSummary, error) {
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	out := []api.InstanceSummary{}
	for i, id := range sorted {
		if i > 0 && sorted[i-1] == id {
			continue
		}
		if s, ok := m.o.Instance(id); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// ActivityTags: each id's tags, for the ids that have some.
func (m *ReadModel) ActivityTags(_ context.Context, ids []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, id := range ids {
		if tags := m.o.ActivityTags(id); len(tags) > 0 {
			out[id] = tags
		}
	}
	return out, nil
}

// retainedSince is since cut to the retention (the activity stats and
// their calls count only what was scheduled from its first kept time on).
func (m *ReadModel) retainedSince(since *int64) *int64 {
	if m.retainFrom != nil && (since == nil || *since < *m.retainFrom) {
		return m.retainFrom
	}
	return since
}

// listFilter is the oracle's filter for the port's ("" = any).
func listFilter(f query.ListFilter) ListFilter {
	return ListFilter{
		Statuses:           f.Statuses,
		Orchestration:      optional(f.Orchestration),
		CreatedAfter:       f.CreatedAfter,
		CreatedBefore:      f.CreatedBefore,
		ParentInstance:     optional(f.ParentInstance),
		InstancePrefix:     optional(f.InstancePrefix),
		Version:            f.Version,
		UpdatedAfter:       f.UpdatedAfter,
		UpdatedBefore:      f.UpdatedBefore,
		CustomStatusPrefix: f.CustomStatusPrefix,
		ErrorKind:          f.ErrorKind,
		ErrorCategory:      f.ErrorCategory,
		RootOnly:           f.RootOnly,
		ActivityTag:        f.ActivityTag,
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ListInstances pages the whole ordered list: from After (every row
// strictly after the cursor in the order created_at desc, instance_id asc)
// or from Offset; a token for the last row whenever rows remain.
func (m *ReadModel) ListInstances(_ context.Context, f query.ListFilter) (api.InstanceList, error) {
	if f.Limit <= 0 {
		return api.InstanceList{}, fmt.Errorf("oracle list: limit %d: must be positive", f.Limit)
	}
	all := m.o.ListInstances(listFilter(f))
	start := min(max(f.Offset, 0), len(all))
	if c := f.After; c != nil {
		start = sort.Search(len(all), func(i int) bool {
			s := all[i]
			return int64(s.CreatedAt) < c.CreatedAtMs || (int64(s.CreatedAt) == c.CreatedAtMs && s.InstanceID > c.InstanceID)
		})
	}
	page := all[start:min(start+f.Limit, len(all))]
	out := api.InstanceList{Instances: append([]api.InstanceSummary{}, page...)}
	if n := len(page); n > 0 && start+n < len(all) {
		tok := query.EncodePageToken(query.PageCursor{CreatedAtMs: int64(page[n-1].CreatedAt), InstanceID: page[n-1].InstanceID})
		out.NextPageToken = &tok
	}
	return out, nil
}

func (m *ReadModel) StreamInstances(_ context.Context, f query.ListFilter, emit func(api.InstanceSummary) error) error {
	for _, s := range m.o.ListInstances(listFilter(f)) {
		if err := emit(s); err != nil {
			return err
		}
	}
	return nil
}

// CountInstances counts the whole filtered list, grouped by the summary's
// field for the key.
func (m *ReadModel) CountInstances(_ context.Context, f query.ListFilter, groupBy query.CountGroupBy) (api.InstanceCount, error) {
	all := m.o.ListInstances(listFilter(f))
	out := api.InstanceCount{Count: int64(len(all))}
	if groupBy == "" {
		return out, nil
	}
	counts := map[string]int64{}
	for _, s := range all {
		var k string
		switch groupBy {
		case query.GroupByStatus:
			k = s.Status
		case query.GroupByOrchestration:
			k = s.OrchestrationName
		case query.GroupByVersion:
			k = s.Version
		default:
			return api.InstanceCount{}, fmt.Errorf("oracle count: group_by %q", groupBy)
		}
		counts[k]++
	}
	out.Groups = []api.CountGroup{}
	for k, c := range counts {
		out.Groups = append(out.Groups, api.CountGroup{Key: k, Count: c})
	}
	sort.Slice(out.Groups, func(i, j int) bool { return out.Groups[i].Key < out.Groups[j].Key })
	return out, nil
}

func (m *ReadModel) OrchestrationStats(_ context.Context, orchestration string) (api.OrchestrationStats, error) {
	return m.o.OrchestrationStats(optional(orchestration)), nil
}

func (m *ReadModel) ActivityStats(_ context.Context, f query.ActivityFilter) (api.ActivityStatsList, error) {
	return m.o.ActivityStats(optional(f.Orchestration), m.retainedSince(f.Since), f.IncludeSystem), nil
}

func (m *ReadModel) Performance(_ context.Context, f query.PerformanceFilter) (api.PerformanceMetrics, error) {
	return m.o.Performance(f.Orchestration, f.Since), nil
}

func (m *ReadModel) Health(_ context.Context, p query.HealthParams) (api.SystemHealth, error) {
	return m.o.Health(p.Now.UnixMilli(), p.LongRunningAfter, p.RecentFailureWindow), nil
}

func (m *ReadModel) Problems(_ context.Context, p query.ProblemsParams) (api.ProblematicInstances, error) {
	if p.Limit <= 0 {
		return api.ProblematicInstances{}, fmt.Errorf("oracle problems: limit %d: must be positive", p.Limit)
	}
	return m.o.Problems(p.Now.UnixMilli(), p.LongRunningAfter, p.StuckAfter, p.RecentFailureWindow, p.Limit), nil
}

func (m *ReadModel) Queues(context.Context) (api.QueueMetrics, error) {
	return m.o.Queues(m.snapshots), nil
}

func (m *ReadModel) Timeseries(_ context.Context, q query.TimeseriesQuery, emit func(api.ReportRow) error) error {
	ts := m.reports.Timeseries(ReportQuery{Bucket: q.Bucket, FromMs: q.FromMs, ToMs: q.ToMs, GroupBy: q.GroupBy,
		Orchestration: optional(q.Orchestration), Activity: optional(q.Activity), Statuses: q.Statuses,
		IncludeSystem: q.IncludeSystem})
	for _, row := range ts.Rows {
		if err := emit(row); err != nil {
			return err
		}
	}
	return nil
}

func (m *ReadModel) Errors(_ context.Context, q query.ErrorsQuery) (api.ErrorsReport, error) {
	return m.reports.ErrorsReport(ErrorsQuery{FromMs: q.FromMs, ToMs: q.ToMs, Orchestration: optional(q.Orchestration),
		Activity: optional(q.Activity), IncludeSystem: q.IncludeSystem, Limit: q.Limit}), nil
}

// Ping always succeeds: the replay is in memory.
func (m *ReadModel) Ping(context.Context) error { return nil }
