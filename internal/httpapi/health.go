package httpapi

import (
	"net/http"
	"time"

	"github.com/duroscope/duroscope/internal/query"
)

// parseHealthParams parses /v1/health's query; now is the service's clock.
func parseHealthParams(raw string, now time.Time) (query.HealthParams, *apiError) {
	hp := query.HealthParams{Now: now}
	p, e := parseParams(raw, "long_running_after", "recent_failure_window")
	if e != nil {
		return hp, e
	}
	if hp.LongRunningAfter, e = p.durationParam("long_running_after", 24*time.Hour); e != nil {
		return hp, e
	}
	hp.RecentFailureWindow, e = p.durationParam("recent_failure_window", time.Hour)
	return hp, e
}

func (s *server) health(w http.ResponseWriter, r *http.Request) {
	hp, e := parseHealthParams(r.URL.RawQuery, s.cfg.Now())
	if e != nil {
		writeError(w, e)
		return
	}
	h, err := s.cfg.ReadModel.Health(r.Context(), hp)
	if err != nil {
		s.backendError(w, r, "health", err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}
