package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// The percentile drill-downs (API.md "Additions"): the rows at or above a
// duration shown by /v1/stats/performance or /v1/stats/activities.

// parseDrillDownPage reads min_duration_ms (a signed integer: durations
// may be negative; absent = no bound), limit and page_token.
func parseDrillDownPage(p params, endpoint string) (minMs *int64, limit int, after *query.SlowCursor, e *apiError) {
	s, ok, e := p.single("min_duration_ms")
	if e != nil {
		return nil, 0, nil, e
	}
	if ok {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || strings.HasPrefix(s, "+") || (len(s) > 1 && (s[0] == '0' || strings.HasPrefix(s, "-0"))) {
			return nil, 0, nil, badParam("min_duration_ms", "want an integer number of milliseconds (negative allowed), got %s", quoteVal(s))
		}
		minMs = &n
	}
	if limit, e = p.intRange("limit", 1, maxListLimit, defaultListLimit); e != nil {
		return nil, 0, nil, e
	}
	tok, hasTok, e := p.single("page_token")
	if e != nil || !hasTok {
		return minMs, limit, nil, e
	}
	c, err := query.DecodeSlowToken(tok)
	if err != nil {
		return nil, 0, nil, badParam("page_token", "want a next_page_token returned by GET %s, got %s", endpoint, quoteVal(tok))
	}
	return minMs, limit, &c, nil
}

func parseSlowInstancesParams(raw string) (query.SlowInstancesFilter, *apiError) {
	var f query.SlowInstancesFilter
	p, e := parseParams(raw, "orchestration", "since", "min_duration_ms", "limit", "page_token")
	if e != nil {
		return f, e
	}
	o, ok, e := p.text("orchestration")
	if e != nil {
		return f, e
	}
	if !ok {
		return f, badParam("orchestration", "required: the orchestration name whose instance durations to list")
	}
	f.Orchestration = o
	if _, f.Since, e = p.timeParam("since"); e != nil {
		return f, e
	}
	f.MinDurationMs, f.Limit, f.After, e = parseDrillDownPage(p, "/v1/stats/performance/instances")
	return f, e
}

// slowInstances serves GET /v1/stats/performance/instances.
func (s *server) slowInstances(w http.ResponseWriter, r *http.Request) {
	f, e := parseSlowInstancesParams(r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return
	}
	l, err := s.cfg.ReadModel.SlowInstances(r.Context(), f)
	if err != nil {
		s.backendError(w, r, "slow instances", err)
		return
	}
	if l.Instances == nil {
		l.Instances = []api.SlowInstance{}
	}
	writeJSON(w, http.StatusOK, l)
}

func parseActivityCallsParams(raw string) (query.ActivityCallsFilter, *apiError) {
	var f query.ActivityCallsFilter
	p, e := parseParams(raw, "activity", "orchestration", "since", "include_system", "min_duration_ms", "limit", "page_token")
	if e != nil {
		return f, e
	}
	a, ok, e := p.text("activity")
	if e != nil {
		return f, e
	}
	if !ok {
		return f, badParam("activity", "required: the activity name whose calls to list")
	}
	f.Activity = a
	if f.Orchestration, _, e = p.text("orchestration"); e != nil {
		return f, e
	}
	if _, f.Since, e = p.timeParam("since"); e != nil {
		return f, e
	}
	if f.IncludeSystem, e = p.boolParam("include_system", false); e != nil {
		return f, e
	}
	f.MinDurationMs, f.Limit, f.After, e = parseDrillDownPage(p, "/v1/stats/activities/calls")
	return f, e
}

// activityCalls serves GET /v1/stats/activities/calls.
func (s *server) activityCalls(w http.ResponseWriter, r *http.Request) {
	f, e := parseActivityCallsParams(r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return
	}
	l, err := s.cfg.ReadModel.ActivityCalls(r.Context(), f)
	if err != nil {
		s.backendError(w, r, "activity calls", err)
		return
	}
	if l.Calls == nil {
		l.Calls = []api.ActivityCall{}
	}
	writeJSON(w, http.StatusOK, l)
}
