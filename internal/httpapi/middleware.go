package httpapi

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/duroscope/duroscope/api"
)

// The cross-cutting concerns, each wrapped once around the router (New)
// rather than repeated in it. Admission (limited, scan in server.go) wraps
// the individual routes that read the store.

// observe feeds the request metrics (in flight; latency and status by
// route) and logs every request at debug level. Outermost, so a panic's 500
// is counted too.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		s.metrics.inFlight.Add(1)
		defer func() {
			s.metrics.inFlight.Add(-1)
			s.metrics.observe(s.routeOf(r.URL.EscapedPath()), rec.status, time.Since(start))
			s.log.Debug().Str("method", r.Method).Str("path", r.URL.EscapedPath()).Int("status", rec.status).
				Dur("duration", time.Since(start)).Msg("request")
		}()
		next.ServeHTTP(rec, r)
	})
}

// recoverPanics turns a handler's panic into a logged 500 (when the answer
// has not started yet; after that only the log tells). http.ErrAbortHandler
// passes through: it is how a streamed export aborts on purpose.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, ok := w.(*statusRecorder)
		if !ok {
			rec = &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error().Str("method", r.Method).Str("path", r.URL.EscapedPath()).
				Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("handler panicked")
			if !rec.wrote {
				writeError(rec, &apiError{status: http.StatusInternalServerError, code: api.CodeInternal, msg: "internal error; it has been logged"})
			}
		}()
		next.ServeHTTP(rec, r)
	})
}
