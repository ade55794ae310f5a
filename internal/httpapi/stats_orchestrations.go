package httpapi

import (
	"net/http"
)

// orchestrationStatsParams are /v1/stats/orchestrations' parameters.
type orchestrationStatsParams struct {
	orchestration string // "" = all
}

func parseOrchestrationStatsParams(raw string) (orchestrationStatsParams, *apiError) {
	p, e := parseParams(raw, "orchestration")
	if e != nil {
		return orchestrationStatsParams{}, e
	}
	o, _, e := p.text("orchestration")
	return orchestrationStatsParams{orchestration: o}, e
}

func (s *server) orchestrationStats(w http.ResponseWriter, r *http.Request) {
	p, e := parseOrchestrationStatsParams(r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return
	}
	st, err := s.cfg.ReadModel.OrchestrationStats(r.Context(), p.orchestration)
	if err != nil {
		s.backendError(w, r, "orchestration stats", err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
