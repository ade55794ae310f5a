package httpapi

import (
	"net/http"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

func parseActivityStatsParams(raw string) (query.ActivityFilter, *apiError) {
	var f query.ActivityFilter
	p, e := parseParams(raw, "orchestration", "since", "include_system")
	if e != nil {
		return f, e
	}
	if f.Orchestration, _, e = p.text("orchestration"); e != nil {
		return f, e
	}
	if _, f.Since, e = p.timeParam("since"); e != nil {
		return f, e
	}
	f.IncludeSystem, e = p.boolParam("include_system", false)
	return f, e
}

func (s *server) activityStats(w http.ResponseWriter, r *http.Request) {
	f, e := parseActivityStatsParams(r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return
	}
	st, err := s.cfg.ReadModel.ActivityStats(r.Context(), f)
	if err != nil {
		s.backendError(w, r, "activity stats", err)
		return
	}
	if st.Activities == nil {
		st.Activities = []api.ActivityStats{}
	}
	writeJSON(w, http.StatusOK, st)
}
