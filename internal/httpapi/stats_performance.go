package httpapi

import (
	"net/http"

	"github.com/duroscope/duroscope/internal/query"
)

func parsePerformanceParams(raw string) (query.PerformanceFilter, *apiError) {
	var f query.PerformanceFilter
	p, e := parseParams(raw, "orchestration", "since")
	if e != nil {
		return f, e
	}
	o, ok, e := p.text("orchestration")
	if e != nil {
		return f, e
	}
	if !ok {
		return f, badParam("orchestration", "required: the orchestration name whose instance durations to measure")
	}
	f.Orchestration = o
	_, f.Since, e = p.timeParam("since")
	return f, e
}

func (s *server) performance(w http.ResponseWriter, r *http.Request) {
	f, e := parsePerformanceParams(r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return
	}
	m, err := s.cfg.ReadModel.Performance(r.Context(), f)
	if err != nil {
		s.backendError(w, r, "performance", err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}
