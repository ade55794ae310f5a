package httpapi

import (
	"net/http"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// Errors report bounds: errors listed per orchestration / activity.
const (
	defaultErrorsLimit = 20
	maxErrorsLimit     = 1000
)

// parseErrorsParams parses GET /v1/reports/errors' query string; from and
// to are widened to whole hours (the report's cells are hours and days).
func parseErrorsParams(raw string) (query.ErrorsQuery, *apiError) {
	var q query.ErrorsQuery
	p, e := parseParams(raw, "from", "to", "orchestration", "activity", "include_system", "limit")
	if e != nil {
		return q, e
	}
	from, to, e := reportRange(p)
	if e != nil {
		return q, e
	}
	q.FromMs, q.ToMs = query.AlignRange(api.BucketHour, from, to)
	if q.Orchestration, _, e = p.text("orchestration"); e != nil {
		return q, e
	}
	if q.Activity, _, e = p.text("activity"); e != nil {
		return q, e
	}
	if q.IncludeSystem, e = p.boolParam("include_system", false); e != nil {
		return q, e
	}
	q.Limit, e = p.intRange("limit", 1, maxErrorsLimit, defaultErrorsLimit)
	return q, e
}

func (s *server) errorsReport(w http.ResponseWriter, r *http.Request) {
	q, e := parseErrorsParams(r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return
	}
	rep, err := s.cfg.ReadModel.Errors(r.Context(), q)
	if err != nil {
		s.backendError(w, r, "errors report", err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
