package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// memBackend is an in-memory implementation of the handlers' narrow
// interfaces. These tests are about HTTP parsing and answers, not storage:
// the storage side is tested against ClickHouse in readmodel and in
// e2e_test.go. It records the arguments it was called with.
type memBackend struct {
	mu        sync.Mutex
	instances map[string]api.InstanceSummary
	history   map[string][]json.RawMessage

	err       error         // returned by every call when set
	panicMsg  string        // panics in every call when set
	block     chan struct{} // calls wait for it when set
	entered   chan struct{} // signalled when a call starts (if set)
	lastID    string
	lastExec  uint64
	lastRange *query.HistoryRange
	lastList  *query.ListFilter
	lastGroup *query.CountGroupBy
	lastAct   *query.ActivityFilter
	lastPerf  *query.PerformanceFilter
	lastSlow  *query.SlowInstancesFilter
	lastCalls *query.ActivityCallsFilter
	lastHP    *query.HealthParams
	lastPP    *query.ProblemsParams
	lastOrch  *string
	lastBulk  []string
	pingError error
}

func newMem() *memBackend {
	return &memBackend{instances: map[string]api.InstanceSummary{}, history: map[string][]json.RawMessage{}}
}

func (m *memBackend) add(id string) {
	m.instances[id] = api.InstanceSummary{InstanceID: id, Status: api.StatusRunning, CreatedAt: 1000, UpdatedAt: 2000,
		ExecutionCount: 1, CurrentExecutionID: 1}
}

func (m *memBackend) enter() error {
	if m.entered != nil {
		m.entered <- struct{}{}
	}
	if m.block != nil {
		<-m.block
	}
	if m.panicMsg != "" {
		panic(m.panicMsg)
	}
	return m.err
}

func (m *memBackend) Instance(ctx context.Context, id string) (api.InstanceSummary, bool, error) {
	if err := m.enter(); err != nil {
		return api.InstanceSummary{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastID = id
	s, ok := m.instances[id]
	return s, ok, nil
}

// Tree: the instance and its direct children, by instance_id (the real
// walk is held to the oracle's by the query contract suite).
func (m *memBackend) Tree(ctx context.Context, id string) (api.InstanceTree, bool, error) {
	s, ok, err := m.Instance(ctx, id)
	if err != nil || !ok {
		return api.InstanceTree{}, ok, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := api.InstanceTree{RootID: id, Instances: []api.InstanceSummary{s}}
	for _, c := range m.instances {
		if c.ParentInstance != nil && *c.ParentInstance == id {
			t.Instances = append(t.Instances, c)
		}
	}
	sort.Slice(t.Instances[1:], func(i, j int) bool { return t.Instances[1+i].InstanceID < t.Instances[1+j].InstanceID })
	return t, true, nil
}

func (m *memBackend) Details(ctx context.Context, id string) (api.InstanceDetails, bool, error) {
	s, ok, err := m.Instance(ctx, id)
	if err != nil || !ok {
		return api.InstanceDetails{}, ok, err
	}
	return api.InstanceDetails{Summary: s}, true, nil
}

func (m *memBackend) Executions(ctx context.Context, id string) (api.ExecutionList, bool, error) {
	_, ok, err := m.Instance(ctx, id)
	return api.ExecutionList{}, ok, err
}

// History serves the stored events of execution 1 (any other is missing);
// it records the range and answers a limited page with a token.
func (m *memBackend) History(ctx context.Context, id string, r query.HistoryRange) (api.History, bool, error) {
	_, ok, err := m.Instance(ctx, id)
	m.mu.Lock()
	m.lastExec, m.lastRange = r.ExecutionID, &r
	h := m.history[id]
	m.mu.Unlock()
	if r.ExecutionID > 1 {
		return api.History{}, false, err
	}
	out := api.History{Events: h}
	if r.Limit > 0 && len(h) > r.Limit {
		tok := query.EncodeHistoryToken(query.EventKey{ExecutionID: 1, EventID: uint64(r.Limit)})
		out.Events, out.NextPageToken = h[:r.Limit], &tok
	}
	return out, ok, err
}

func (m *memBackend) ListInstances(ctx context.Context, f query.ListFilter) (api.InstanceList, error) {
	if err := m.enter(); err != nil {
		return api.InstanceList{}, err
	}
	m.mu.Lock()
	m.lastList = &f
	m.mu.Unlock()
	return api.InstanceList{}, nil
}

// CountInstances counts every stored instance (the filters are recorded,
// not applied), grouped by status when asked.
func (m *memBackend) CountInstances(ctx context.Context, f query.ListFilter, groupBy query.CountGroupBy) (api.InstanceCount, error) {
	if err := m.enter(); err != nil {
		return api.InstanceCount{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastList, m.lastGroup = &f, &groupBy
	out := api.InstanceCount{Count: int64(len(m.instances))}
	if groupBy != "" {
		out.Groups = []api.CountGroup{{Key: api.StatusRunning, Count: out.Count}}
	}
	return out, nil
}

func (m *memBackend) BulkStatus(ctx context.Context, ids []string) (api.BulkStatusResponse, error) {
	if err := m.enter(); err != nil {
		return api.BulkStatusResponse{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastBulk = ids
	out := api.BulkStatusResponse{Statuses: []api.InstanceStatus{}}
	for _, id := range ids {
		st := api.StatusNotFound
		if s, ok := m.instances[id]; ok {
			st = s.Status
		}
		out.Statuses = append(out.Statuses, api.InstanceStatus{InstanceID: id, Status: st})
	}
	return out, nil
}

func (m *memBackend) Instances(ctx context.Context, ids []string) ([]api.InstanceSummary, error) {
	if err := m.enter(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []api.InstanceSummary{}
	seen := map[string]bool{}
	for _, id := range ids {
		if s, ok := m.instances[id]; ok && !seen[id] {
			seen[id] = true
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].InstanceID < out[j].InstanceID })
	return out, nil
}

func (m *memBackend) ActivityTags(ctx context.Context, ids []string) (map[string][]string, error) {
	if err := m.enter(); err != nil {
		return nil, err
	}
	return map[string][]string{}, nil
}

func (m *memBackend) OrchestrationStats(ctx context.Context, o string) (api.OrchestrationStats, error) {
	if err := m.enter(); err != nil {
		return api.OrchestrationStats{}, err
	}
	m.mu.Lock()
	m.lastOrch = &o
	m.mu.Unlock()
	return api.OrchestrationStats{TotalCount: uint64(len(m.instances))}, nil
}

func (m *memBackend) ActivityStats(ctx context.Context, f query.ActivityFilter) (api.ActivityStatsList, error) {
	if err := m.enter(); err != nil {
		return api.ActivityStatsList{}, err
	}
	m.mu.Lock()
	m.lastAct = &f
	m.mu.Unlock()
	return api.ActivityStatsList{}, nil
}

func (m *memBackend) Performance(ctx context.Context, f query.PerformanceFilter) (api.PerformanceMetrics, error) {
	if err := m.enter(); err != nil {
		return api.PerformanceMetrics{}, err
	}
	m.mu.Lock()
	m.lastPerf = &f
	m.mu.Unlock()
	return api.PerformanceMetrics{}, nil
}

func (m *memBackend) SlowInstances(ctx context.Context, f query.SlowInstancesFilter) (api.SlowInstanceList, error) {
	if err := m.enter(); err != nil {
		return api.SlowInstanceList{}, err
	}
	m.mu.Lock()
	m.lastSlow = &f
	m.mu.Unlock()
	return api.SlowInstanceList{}, nil
}

func (m *memBackend) ActivityCalls(ctx context.Context, f query.ActivityCallsFilter) (api.ActivityCallList, error) {
	if err := m.enter(); err != nil {
		return api.ActivityCallList{}, err
	}
	m.mu.Lock()
	m.lastCalls = &f
	m.mu.Unlock()
	return api.ActivityCallList{}, nil
}

func (m *memBackend) Health(ctx context.Context, p query.HealthParams) (api.SystemHealth, error) {
	if err := m.enter(); err != nil {
		return api.SystemHealth{}, err
	}
	m.mu.Lock()
	m.lastHP = &p
	m.mu.Unlock()
	return api.SystemHealth{}, nil
}

func (m *memBackend) Problems(ctx context.Context, p query.ProblemsParams) (api.ProblematicInstances, error) {
	if err := m.enter(); err != nil {
		return api.ProblematicInstances{}, err
	}
	m.mu.Lock()
	m.lastPP = &p
	m.mu.Unlock()
	return api.ProblematicInstances{}, nil
}

func (m *memBackend) Queues(ctx context.Context) (api.QueueMetrics, error) {
	if err := m.enter(); err != nil {
		return api.QueueMetrics{}, err
	}
	return api.QueueMetrics{PendingActivities: 3}, nil
}

func (m *memBackend) Ping(ctx context.Context) error { return m.pingError }

// fixedWatermark is a watermark source with a set answer.
type fixedWatermark struct {
	wm  api.Watermark
	err error
}

func (f *fixedWatermark) Watermark(context.Context) (api.Watermark, error) { return f.wm, f.err }

var testNow = time.Date(2026, 11, 25, 21, 38, 0, 0, time.UTC)

// testModel is a query.ReadModel: the lookups, lists, stats and monitor
// reads of memBackend, the reports and exports of reportBackend.
type testModel struct {
	*memBackend
	*reportBackend
}

// testHandler serves m (and an empty report backend).
func testHandler(m *memBackend, mod func(*Config)) http.Handler {
	cfg := Config{
		ReadModel: testModel{m, &reportBackend{}},
		Now:       func() time.Time { return testNow },
		Logger:    zerolog.New(io.Discard),
	}
	if mod != nil {
		mod(&cfg)
	}
	return New(cfg)
}

// do sends one request through h the way net/http's server parses it
// (httptest.NewRequest reads the raw request line, keeping the escaped path).
func do(h http.Handler, method, target string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// errorOf decodes the contract's error body; it fails the test if the body
// is not one.
func errorOf(t *testing.T, rec *httptest.ResponseRecorder) api.ErrorInfo {
	t.Helper()
	var b api.ErrorBody
	dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("status %d: body %q is not an error body: %v", rec.Code, rec.Body.String(), err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	return b.Error
}

// errBackend is an outage as an adapter reports it; errDefect a query the
// store refused on its merits (not ErrUnavailable).
var (
	errBackend = query.Unavailable(errors.New("dial tcp 127.0.0.1:9000: connection refused"))
	errDefect  = errors.New("code: 47, message: Missing columns: 'nope'")
)
