// Package httpapi serves the query API (../shared/contract/API.md) over
// HTTP/JSON. Each endpoint lives in its own file with its parameters, their
// parser and its handler. The handlers read through the query side's port,
// query.ReadModel (implemented by the ClickHouse reader and by the replay
// oracle); this package never imports an adapter.
//
// A read that fails with query.ErrUnavailable is answered 503 with
// Retry-After (retry later); any other failure is a defect, answered 500
// with a generic message while its text goes to the log.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// Config wires the handlers to their backends. ReadModel is required (New
// panics without it: a wiring defect, found at start); Watermark may be nil
// (no projection headers, /v1/watermark answers 503).
type Config struct {
	ReadModel query.ReadModel
	Watermark watermarkSource
	// Changes serves GET /v1/instances/changes (nil: that route answers
	// 503).
	Changes query.ChangeFeed

	// Now is the clock for /v1/health and /v1/problems (default time.Now).
	Now func() time.Time
	// Logger receives request and error logs (zero value: none).
	Logger zerolog.Logger
	// APIToken, when set, is required as "Authorization: Bearer <token>" on
	// /v1 (compared in constant time). /healthz and /readyz stay open.
	APIToken string
	Limits   Limits
	// Dashboard, when set, serves the web dashboard (package web) at "/"
	// and "/static/"; /v1 and the probes are unaffected.
	Dashboard http.Handler
}

// Limits bound the work the service accepts.
type Limits struct {
	// MaxInFlight is the number of ClickHouse-backed requests served at
	// once (default 64).
	MaxInFlight int
	// MaxScans is the number of those that scan a table (lists, stats,
	// health, problems, queues, reports) served at once (default 8). A scan
	// costs ClickHouse 10-1000 times a key lookup and runs on one server
	// thread, so beyond about twice the server's cores more of them only
	// share it more thinly; bounding them apart keeps the lookups (instance,
	// details, executions, history, bulk status) fast under a scan overload.
	MaxScans int
	// QueueWait is how long a request may wait for a slot before it is
	// refused with 503 (default 100ms).
	QueueWait time.Duration
	// RetryAfter is the Retry-After of 503 answers (default 1s).
	RetryAfter time.Duration
	// ReadyTimeout bounds /readyz's ping (default 2s).
	ReadyTimeout time.Duration
	// MinSeqTimeout is the longest a request with min_seq waits for the
	// projection to reach it before a 503 (default 10s, the query timeout's
	// default; cmd/query sets DUROSCOPE_QUERY_TIMEOUT).
	MinSeqTimeout time.Duration
	// Heartbeat is the longest a change stream stays silent: a comment is
	// sent then (default 15s).
	Heartbeat time.Duration
	// SSEWriteWait is the longest one write to a change stream may take;
	// a client that reads nothing for that long is dropped (default 10s).
	SSEWriteWait time.Duration
}

// watermarkSource gives the projection watermark (cached by the source).
type watermarkSource interface {
	Watermark(ctx context.Context) (api.Watermark, error)
}

type server struct {
	cfg        Config
	mux        *http.ServeMux
	sem        chan struct{}
	scanSem    chan struct{} // a slot of sem is taken too
	log        zerolog.Logger
	tokenSum   [32]byte
	retryAfter string
	// routes maps the fixed paths to their method, for 405 answers.
	routes map[string]string
	// metrics feeds GET /metrics (metrics.go).
	metrics *metrics
	// chain is route wrapped in the cross-cutting decorators (middleware.go).
	chain http.Handler
}

// New returns the API's handler.
func New(cfg Config) http.Handler {
	if isNil(cfg.ReadModel) {
		panic("httpapi.New: Config.ReadModel is nil")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &cfg.Limits
	if l.MaxInFlight <= 0 {
		l.MaxInFlight = 64
	}
	if l.MaxScans <= 0 {
		l.MaxScans = 8
	}
	l.MaxScans = min(l.MaxScans, l.MaxInFlight)
	if l.QueueWait <= 0 {
		l.QueueWait = 100 * time.Millisecond
	}
	if l.RetryAfter <= 0 {
		l.RetryAfter = time.Second
	}
	if l.ReadyTimeout <= 0 {
		l.ReadyTimeout = 2 * time.Second
	}
	if l.MinSeqTimeout <= 0 {
		l.MinSeqTimeout = 10 * time.Second
	}
	if l.Heartbeat <= 0 {
		l.Heartbeat = 15 * time.Second
	}
	if l.SSEWriteWait <= 0 {
		l.SSEWriteWait = 10 * time.Second
	}
	s := &server{
		cfg:        cfg,
		mux:        http.NewServeMux(),
		sem:        make(chan struct{}, l.MaxInFlight),
		scanSem:    make(chan struct{}, l.MaxScans),
		log:        cfg.Logger,
		tokenSum:   sha256.Sum256([]byte(cfg.APIToken)),
		retryAfter: strconv.Itoa(int((l.RetryAfter + time.Second - 1) / time.Second)),
		routes:     map[string]string{},
	}
	s.handle("GET", "/healthz", s.healthz)
	s.handle("GET", "/readyz", s.readyz)
	s.handle("GET", "/v1/instances", s.scan(s.listInstances))
	s.handle("GET", "/v1/instances/count", s.scan(s.countInstances))
	s.handle("GET", "/v1/instances/changes", s.changes)
	s.handle("POST", "/v1/bulk/status", s.limited(s.bulkStatus))
	s.handle("GET", "/v1/stats/orchestrations", s.scan(s.orchestrationStats))
	s.handle("GET", "/v1/stats/activities", s.scan(s.activityStats))
	s.handle("GET", "/v1/stats/performance", s.scan(s.performance))
	s.handle("GET", "/v1/stats/performance/instances", s.scan(s.slowInstances))
	s.handle("GET", "/v1/stats/activities/calls", s.scan(s.activityCalls))
	s.handle("GET", "/v1/health", s.scan(s.health))
	s.handle("GET", "/v1/problems", s.scan(s.problems))
	s.handle("GET", "/v1/queues", s.scan(s.queues))
	s.handle("GET", "/v1/watermark", s.watermark)
	s.handle("GET", "/v1/reports/timeseries", s.scan(s.timeseries))
	s.handle("GET", "/v1/reports/errors", s.scan(s.errorsReport))
	s.handle("GET", "/metrics", s.metricsHandler)
	s.handle("GET", "/openapi.json", s.openAPI)
	s.metrics = newMetrics(s.routeLabels())
	// Everything else: a JSON 404 (or 405 for a known path). Registering
	// "/" also keeps ServeMux from answering with its own plain-text pages.
	s.mux.HandleFunc("/", s.fallback)
	if cfg.Dashboard != nil {
		s.mux.Handle("GET /{$}", cfg.Dashboard)
		s.mux.Handle("GET /static/{file}", cfg.Dashboard) // one segment: no subtree redirect
	}
	s.chain = s.observe(s.recoverPanics(http.HandlerFunc(s.route)))
	return s
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	// A typed nil (e.g. a nil pointer to an adapter) is missing too.
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Interface, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

func (s *server) handle(method, path string, h http.HandlerFunc) {
	s.routes[path] = method
	s.mux.HandleFunc(method+" "+path, h)
}

// ServeHTTP serves a request through the decorators New wrapped around
// route: metrics and the request log outermost, then panic recovery.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.chain.ServeHTTP(w, r) }

// route routes a request. Paths are never cleaned or redirected: the
// instance routes are parsed from the escaped path here, because their id
// segment may decode to anything ("a/..", "."), and ServeMux would clean
// such a path and redirect. Only clean paths reach ServeMux, so it never
// redirects either.
func (s *server) route(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if path == "/v1" || strings.HasPrefix(path, "/v1/") {
		if !s.authorized(r) {
			// No projection headers: they are data, for callers with the token.
			w.Header().Set("WWW-Authenticate", `Bearer realm="duroscope"`)
			writeError(w, &apiError{status: http.StatusUnauthorized, code: api.CodeUnauthenticated,
				msg: "Authorization: want \"Bearer <token>\" with the service's API token"})
			return
		}
		if !s.waitMinSeq(w, r) {
			return
		}
		s.projectionHeaders(w, r)
		// /v1/instances/count and /v1/instances/changes are the count and
		// the change stream (API.md "Additions"), not the instances "count"
		// and "changes", whose other paths (.../count/details) stay.
		if rest, ok := strings.CutPrefix(path, "/v1/instances/"); ok && rest != "count" && rest != "changes" {
			s.instanceRoute(w, r, rest)
			return
		}
	}
	if !cleanPath(path) {
		writeError(w, notFound("no such path %s", quoteVal(path)))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// cleanPath reports whether p is a path ServeMux leaves as it is: absolute,
// with no empty, "." or ".." segment.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	if p == "/" {
		return true
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func (s *server) fallback(w http.ResponseWriter, r *http.Request) {
	if m, ok := s.routes[r.URL.Path]; ok {
		w.Header().Set("Allow", m)
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: api.CodeInvalidArgument,
			msg: fmt.Sprintf("method %s: %s accepts %s only", r.Method, r.URL.Path, m)})
		return
	}
	writeError(w, notFound("no such path %s", quoteVal(r.URL.EscapedPath())))
}

// authorized checks the bearer token in constant time (comparing SHA-256
// sums, so that not even the token's length leaks).
func (s *server) authorized(r *http.Request) bool {
	if s.cfg.APIToken == "" {
		return true
	}
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) == 1
}

// projectionHeaders sets X-Projection-Lag-Events and X-Projected-Through
// once anything has been projected (the watermark source caches, so this
// costs nothing per request).
func (s *server) projectionHeaders(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Watermark == nil {
		return
	}
	wm, err := s.cfg.Watermark.Watermark(r.Context())
	if err != nil || wm.ProjectedThrough == nil {
		return
	}
	h := w.Header()
	h.Set("X-Projection-Lag-Events", strconv.FormatUint(wm.LagEvents, 10))
	h.Set("X-Projected-Through", wm.ProjectedThrough.Format())
}

// limited admits at most Limits.MaxInFlight requests at once; a request that
// cannot get a slot within Limits.QueueWait is refused with 503.
func (s *server) limited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.acquire(w, r, s.sem, "too many requests in flight") {
			return
		}
		defer func() { <-s.sem }()
		h(w, r)
	}
}

// scan is limited for requests that scan a table: at most Limits.MaxScans
// of them at once, each also holding one of the MaxInFlight slots.
func (s *server) scan(h http.HandlerFunc) http.HandlerFunc {
	inner := s.limited(h)
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.acquire(w, r, s.scanSem, "too many scans (lists, stats, reports) in flight") {
			return
		}
		defer func() { <-s.scanSem }()
		inner(w, r)
	}
}

// acquire takes a slot of sem, waiting at most Limits.QueueWait; otherwise
// it answers 503 with Retry-After and returns false.
func (s *server) acquire(w http.ResponseWriter, r *http.Request, sem chan struct{}, what string) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(s.cfg.Limits.QueueWait)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return true
	case <-t.C:
		s.unavailable(w, "overloaded: "+what+"; retry later")
	case <-r.Context().Done():
		s.unavailable(w, "request cancelled while waiting for a slot")
	}
	return false
}

func (s *server) unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", s.retryAfter)
	writeError(w, &apiError{status: http.StatusServiceUnavailable, code: api.CodeUnavailable, msg: msg})
}

// backendError answers a failed read by its class (package query): the
// store unavailable → 503 with Retry-After; anything else is a defect → 500.
// The cause is logged, never shown (it may contain SQL).
func (s *server) backendError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		s.log.Debug().Err(err).Str("what", what).Msg("request cancelled")
		s.unavailable(w, "request cancelled")
		return
	}
	if !errors.Is(err, query.ErrUnavailable) {
		s.log.Error().Err(err).Str("what", what).Str("path", r.URL.EscapedPath()).Msg("read failed: a defect, not an outage")
		writeError(w, &apiError{status: http.StatusInternalServerError, code: api.CodeInternal,
			msg: "internal error reading the read model; it has been logged"})
		return
	}
	s.log.Warn().Err(err).Str("what", what).Str("path", r.URL.EscapedPath()).Msg("read model unavailable")
	msg := "the read model (ClickHouse) is unavailable; retry later"
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "the read model (ClickHouse) did not answer in time; retry later"
	}
	s.unavailable(w, msg)
}

// statusRecorder remembers the status for the request log and whether the
// answer has started (a panic after that cannot send a 500).
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
