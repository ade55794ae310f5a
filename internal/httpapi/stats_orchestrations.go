package httpapi

import (
	"context"
	"net/http"

	"github.com/duroscope/duroscope/api"
)

// orchestrationStatsGetter answers GET /v1/stats/orchestrations;
// orchestration "" counts every instance.
type orchestrationStatsGetter interface {
	OrchestrationStats(ctx context.Context, orchestration string) (api.OrchestrationStats, error)
}

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
	st, err := s.cfg.OrchStats.OrchestrationStats(r.Context(), p.orchestration)
	if err != nil {
		s.backendError(w, r, "orchestration stats", err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
