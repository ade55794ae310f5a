package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// GET /metrics: the query service's Prometheus metrics in the text
// exposition format, written by hand (no client library in go.mod). Names
// follow the projector's (duroscope_projector_*): duroscope_query_* for the
// HTTP side, duroscope_readmodel_* for gauges read from ClickHouse.

// latencyBuckets are the upper bounds (seconds) of the latency histogram.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// statusLabels are the HTTP statuses counted per route; anything else
// counts as "other".
var statusLabels = []int{200, 400, 401, 404, 405, 413, 500, 503}

// errorCodes maps error statuses to the contract's error codes.
var errorCodes = map[int]string{
	400: api.CodeInvalidArgument, 405: api.CodeInvalidArgument, 401: api.CodeUnauthenticated,
	404: api.CodeNotFound, 413: api.CodeTooLarge, 503: api.CodeUnavailable, 500: api.CodeInternal,
}

// routeOther labels requests that match no route.
const routeOther = "other"

// gaugeMaxAge is how long read-model gauges are served before they are read
// again: a scrape costs at most one ClickHouse scan per 10 s.
const gaugeMaxAge = 10 * time.Second

// routeMetrics are one route's counters. The histogram buckets are not
// cumulative here; the exposition sums them.
type routeMetrics struct {
	buckets  []atomic.Uint64 // len(latencyBuckets)+1, the last is +Inf
	count    atomic.Uint64
	sumNanos atomic.Int64
	statuses []atomic.Uint64 // len(statusLabels)+1, the last is "other"
}

// metrics holds the service's counters. Routes are fixed when the server is
// built, so the maps are only read afterwards.
type metrics struct {
	routes   map[string]*routeMetrics
	inFlight atomic.Int64
	errors   map[string]*atomic.Uint64
	gauges   gaugeCache
}

func newMetrics(routes []string) *metrics {
	m := &metrics{routes: map[string]*routeMetrics{}, errors: map[string]*atomic.Uint64{}}
	for _, r := range append(routes, routeOther) {
		m.routes[r] = &routeMetrics{
			buckets:  make([]atomic.Uint64, len(latencyBuckets)+1),
			statuses: make([]atomic.Uint64, len(statusLabels)+1),
		}
	}
	for _, c := range errorCodes {
		if m.errors[c] == nil {
			m.errors[c] = new(atomic.Uint64)
		}
	}
	return m
}

// observe records one finished request.
func (m *metrics) observe(route string, status int, d time.Duration) {
	rm := m.routes[route]
	if rm == nil {
		rm = m.routes[routeOther]
	}
	secs := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets, secs) // first bound >= secs
	rm.buckets[i].Add(1)
	rm.count.Add(1)
	rm.sumNanos.Add(int64(d))
	j := len(statusLabels)
	for k, s := range statusLabels {
		if s == status {
			j = k
			break
		}
	}
	rm.statuses[j].Add(1)
	if c, ok := errorCodes[status]; ok {
		m.errors[c].Add(1)
	}
}

// routeOf is the route label of a request path: the registered path, the
// pattern of an instance route, or "other".
func (s *server) routeOf(path string) string {
	if _, ok := s.routes[path]; ok {
		return path
	}
	if rest, ok := strings.CutPrefix(path, "/v1/instances/"); ok {
		id, sub, hasSub := strings.Cut(rest, "/")
		if id == "" {
			return routeOther
		}
		if !hasSub {
			return "/v1/instances/{id}"
		}
		for _, known := range instanceSubpaths {
			if sub == known {
				return "/v1/instances/{id}/" + sub
			}
		}
		return routeOther
	}
	if _, ok := s.routes[path]; ok {
		return path
	}
	return routeOther
}

// gaugeCache holds the read-model gauges, read at most every gaugeMaxAge.
type gaugeCache struct {
	mu       sync.Mutex
	readAt   time.Time
	ok       bool
	stats    api.OrchestrationStats
	queues   api.QueueMetrics
	failures atomic.Uint64
}

// get returns the cached gauges, reading them again when stale. A failed
// read keeps the previous values (ok=false before the first success) and is
// not retried before gaugeMaxAge either.
func (g *gaugeCache) get(ctx context.Context, now time.Time, stats query.StatsReader, queues query.MonitorReader) (api.OrchestrationStats, api.QueueMetrics, time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.readAt.IsZero() || now.Sub(g.readAt) >= gaugeMaxAge {
		g.readAt = now
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := stats.OrchestrationStats(ctx, "")
		var q api.QueueMetrics
		if err == nil {
			q, err = queues.Queues(ctx)
		}
		if err != nil {
			g.failures.Add(1)
		} else {
			g.stats, g.queues, g.ok = st, q, true
		}
	}
	return g.stats, g.queues, g.readAt, g.ok
}

// metricsHandler answers GET /metrics.
func (s *server) metricsHandler(w http.ResponseWriter, r *http.Request) {
	if e := parseNoParams(r.URL.RawQuery); e != nil {
		writeError(w, e)
		return
	}
	var b strings.Builder
	s.metrics.write(&b)
	now := s.cfg.Now()
	st, q, at, ok := s.metrics.gauges.get(r.Context(), now, s.cfg.ReadModel, s.cfg.ReadModel)
	writeReadModelGauges(&b, st, q, now.Sub(at), ok, s.metrics.gauges.failures.Load())
	if s.cfg.Changes != nil {
		writeChangeFeedMetrics(&b, s.cfg.Changes.Metrics())
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, b.String())
}

// promFloat formats a float the way Prometheus reads it.
func promFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func header(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// write renders the HTTP metrics.
func (m *metrics) write(w io.Writer) {
	routes := make([]string, 0, len(m.routes))
	for r := range m.routes {
		routes = append(routes, r)
	}
	sort.Strings(routes)

	const lat = "duroscope_query_request_duration_seconds"
	header(w, lat, "histogram", "Latency of query API requests by route.")
	for _, r := range routes {
		rm := m.routes[r]
		var cum uint64
		for i := range rm.buckets {
			cum += rm.buckets[i].Load()
			le := "+Inf"
			if i < len(latencyBuckets) {
				le = promFloat(latencyBuckets[i])
			}
			fmt.Fprintf(w, "%s_bucket{route=%q,le=%q} %d\n", lat, r, le, cum)
		}
		fmt.Fprintf(w, "%s_sum{route=%q} %s\n", lat, r, promFloat(time.Duration(rm.sumNanos.Load()).Seconds()))
		fmt.Fprintf(w, "%s_count{route=%q} %d\n", lat, r, rm.count.Load())
	}

	const reqs = "duroscope_query_requests_total"
	header(w, reqs, "counter", "Query API requests by route and HTTP status.")
	for _, r := range routes {
		rm := m.routes[r]
		for i := range rm.statuses {
			status := "other"
			if i < len(statusLabels) {
				status = strconv.Itoa(statusLabels[i])
			}
			if n := rm.statuses[i].Load(); n > 0 {
				fmt.Fprintf(w, "%s{route=%q,status=%q} %d\n", reqs, r, status, n)
			}
		}
	}

	header(w, "duroscope_query_requests_in_flight", "gauge", "Query API requests being served.")
	fmt.Fprintf(w, "duroscope_query_requests_in_flight %d\n", m.inFlight.Load())

	const errs = "duroscope_query_errors_total"
	header(w, errs, "counter", "Error answers by the contract's error code.")
	codes := make([]string, 0, len(m.errors))
	for c := range m.errors {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "%s{code=%q} %d\n", errs, c, m.errors[c].Load())
	}
}

// writeReadModelGauges renders the gauges read from ClickHouse; without a
// successful read only the failure counter and age are written.
func writeReadModelGauges(w io.Writer, st api.OrchestrationStats, q api.QueueMetrics, age time.Duration, ok bool, failures uint64) {
	header(w, "duroscope_readmodel_gauge_errors_total", "counter", "Failed reads of the read-model gauges.")
	fmt.Fprintf(w, "duroscope_readmodel_gauge_errors_total %d\n", failures)
	if !ok {
		return
	}
	header(w, "duroscope_readmodel_gauges_age_seconds", "gauge", "Age of the read-model gauges (read at most every 10 s).")
	fmt.Fprintf(w, "duroscope_readmodel_gauges_age_seconds %s\n", promFloat(age.Seconds()))
	header(w, "duroscope_readmodel_instances", "gauge", "Instances in the read model by status.")
	for _, s := range []struct {
		name string
		n    uint64
	}{{api.StatusRunning, st.RunningCount}, {api.StatusCompleted, st.CompletedCount}, {api.StatusFailed, st.FailedCount}} {
		fmt.Fprintf(w, "duroscope_readmodel_instances{status=%q} %d\n", s.name, s.n)
	}
	header(w, "duroscope_readmodel_pending_work", "gauge", "Pending work of Running instances by kind.")
	for _, k := range []struct {
		kind string
		n    uint64
	}{{"activity", q.PendingActivities}, {"timer", q.PendingTimers}, {"event", q.PendingEvents},
		{"sub_orchestration", q.PendingSubOrchestrations}} {
		fmt.Fprintf(w, "duroscope_readmodel_pending_work{kind=%q} %d\n", k.kind, k.n)
	}
	header(w, "duroscope_readmodel_queue_depth", "gauge", "Duroxide queue depths from the newest queue snapshot.")
	fmt.Fprintf(w, "duroscope_readmodel_queue_depth{queue=\"orchestrator\"} %d\n", q.OrchestratorQueueDepth)
	fmt.Fprintf(w, "duroscope_readmodel_queue_depth{queue=\"activity\"} %d\n", q.ActivityQueueDepth)
}

// routeLabels lists every route label: the registered paths and the
// instance routes.
func (s *server) routeLabels() []string {
	out := []string{"/v1/instances/{id}"}
	for _, sub := range instanceSubpaths {
		out = append(out, "/v1/instances/{id}/"+sub)
	}
	for p := range s.routes {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
