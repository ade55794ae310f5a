package httpapi

import (
	"net/http"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// parseProblemsParams parses /v1/problems' query; now is the service's clock.
func parseProblemsParams(raw string, now time.Time) (query.ProblemsParams, *apiError) {
	pp := query.ProblemsParams{Now: now}
	p, e := parseParams(raw, "long_running_after", "stuck_after", "recent_failure_window", "limit")
	if e != nil {
		return pp, e
	}
	if pp.LongRunningAfter, e = p.durationParam("long_running_after", 24*time.Hour); e != nil {
		return pp, e
	}
	if pp.StuckAfter, e = p.durationParam("stuck_after", time.Hour); e != nil {
		return pp, e
	}
	if pp.RecentFailureWindow, e = p.durationParam("recent_failure_window", 24*time.Hour); e != nil {
		return pp, e
	}
	pp.Limit, e = p.intRange("limit", 1, maxListLimit, defaultListLimit)
	return pp, e
}

func (s *server) problems(w http.ResponseWriter, r *http.Request) {
	pp, e := parseProblemsParams(r.URL.RawQuery, s.cfg.Now())
	if e != nil {
		writeError(w, e)
		return
	}
	res, err := s.cfg.ReadModel.Problems(r.Context(), pp)
	if err != nil {
		s.backendError(w, r, "problems", err)
		return
	}
	for _, l := range []*[]api.InstanceSummary{&res.LongRunning, &res.PotentiallyStuck, &res.RecentFailures, &res.SlowerThanUsual} {
		if *l == nil {
			*l = []api.InstanceSummary{}
		}
	}
	writeJSON(w, http.StatusOK, res)
}
