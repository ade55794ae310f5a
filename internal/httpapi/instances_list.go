package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// List bounds (API.md).
const (
	defaultListLimit = 100
	maxListLimit     = 1000
	maxListOffset    = 100000
)

var instanceStatuses = []string{api.StatusRunning, api.StatusCompleted, api.StatusFailed}

// parseListParams parses GET /v1/instances' query string into the reader's
// filter. Every field of the result is within the contract's bounds.
func parseListParams(raw string) (query.ListFilter, *apiError) {
	p, e := parseParams(raw, append(listFilterParams(), "limit", "offset", "page_token")...)
	if e != nil {
		return query.ListFilter{}, e
	}
	f, e := parseListFilters(p)
	if e != nil {
		return f, e
	}
	if f.Limit, e = p.intRange("limit", 1, maxListLimit, defaultListLimit); e != nil {
		return f, e
	}
	if f.Offset, e = p.intRange("offset", 0, maxListOffset, 0); e != nil {
		return f, e
	}
	tok, hasTok, e := p.single("page_token")
	if e != nil {
		return f, e
	}
	if hasTok {
		if _, hasOffset := p.v["offset"]; hasOffset {
			return f, badParam("offset", "not allowed together with page_token")
		}
		c, err := query.DecodePageToken(tok)
		if err != nil {
			return f, badParam("page_token", "want a next_page_token returned by GET /v1/instances, got %s", quoteVal(tok))
		}
		f.After = &c
	}
	return f, nil
}

// listFilterParams are the list's filters (GET /v1/instances without its
// paging), shared with the count.
func listFilterParams() []string {
	return []string{"status", "orchestration", "created_after", "created_before", "parent_instance", "instance_prefix",
		"version", "updated_after", "updated_before", "custom_status_prefix", "error_kind", "error_category", "root_only", "activity_tag"}
}

// parseListFilters reads the list's filters from p.
func parseListFilters(p params) (query.ListFilter, *apiError) {
	var f query.ListFilter
	var e *apiError
	if f.Statuses, e = parseStatuses(p.v["status"]); e != nil {
		return f, e
	}
	if f.Orchestration, _, e = p.text("orchestration"); e != nil {
		return f, e
	}
	if f.ParentInstance, _, e = p.text("parent_instance"); e != nil {
		return f, e
	}
	if f.InstancePrefix, _, e = p.text("instance_prefix"); e != nil {
		return f, e
	}
	after, afterMs, e := p.timeParam("created_after")
	if e != nil {
		return f, e
	}
	before, beforeMs, e := p.timeParam("created_before")
	if e != nil {
		return f, e
	}
	if afterMs != nil && beforeMs != nil && !after.Before(before) {
		return f, badParam("created_after", "must be before created_before (the range is created_after <= created_at < created_before)")
	}
	f.CreatedAfter, f.CreatedBefore = afterMs, beforeMs
	uAfter, uAfterMs, e := p.timeParam("updated_after")
	if e != nil {
		return f, e
	}
	uBefore, uBeforeMs, e := p.timeParam("updated_before")
	if e != nil {
		return f, e
	}
	if uAfterMs != nil && uBeforeMs != nil && !uAfter.Before(uBefore) {
		return f, badParam("updated_after", "must be before updated_before (the range is updated_after <= updated_at < updated_before)")
	}
	f.UpdatedAfter, f.UpdatedBefore = uAfterMs, uBeforeMs
	for _, t := range []struct {
		name string
		dst  *string
	}{{"version", &f.Version}, {"custom_status_prefix", &f.CustomStatusPrefix}, {"error_kind", &f.ErrorKind}, {"error_category", &f.ErrorCategory}, {"activity_tag", &f.ActivityTag}} {
		if *t.dst, _, e = p.text(t.name); e != nil {
			return f, e
		}
	}
	if f.RootOnly, e = p.boolParam("root_only", false); e != nil {
		return f, e
	}
	if f.RootOnly && f.ParentInstance != "" {
		return f, badParam("root_only", "not allowed together with parent_instance (a root has no parent)")
	}
	return f, nil
}

// countInstances serves GET /v1/instances/count.
func (s *server) countInstances(w http.ResponseWriter, r *http.Request) {
	p, e := parseParams(r.URL.RawQuery, append(listFilterParams(), "group_by")...)
	if e != nil {
		writeError(w, e)
		return
	}
	f, e := parseListFilters(p)
	if e != nil {
		writeError(w, e)
		return
	}
	by, has, e := p.single("group_by")
	if e != nil {
		writeError(w, e)
		return
	}
	groupBy := query.CountGroupBy(by)
	if has && !slices.Contains(query.CountGroupBys(), groupBy) {
		writeError(w, badParam("group_by", "want status, orchestration or version, got %s", quoteVal(by)))
		return
	}
	c, err := s.cfg.ReadModel.CountInstances(r.Context(), f, groupBy)
	if err != nil {
		s.backendError(w, r, "count instances", err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// parseStatuses accepts status=Running&status=Failed and status=Running,Failed
// (exact case); duplicates collapse.
func parseStatuses(vals []string) ([]string, *apiError) {
	var out []string
	seen := map[string]bool{}
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			ok := false
			for _, st := range instanceStatuses {
				ok = ok || s == st
			}
			if !ok {
				return nil, badParam("status", "want Running, Completed or Failed (exact case; repeat the parameter or separate with commas), got %s", quoteVal(s))
			}
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func (s *server) listInstances(w http.ResponseWriter, r *http.Request) {
	f, format, e := parseListRequest(r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return
	}
	if format != formatJSON {
		s.exportInstances(w, r, f, format)
		return
	}
	l, err := s.cfg.ReadModel.ListInstances(r.Context(), f)
	if err != nil {
		s.backendError(w, r, "list instances", err)
		return
	}
	if l.Instances == nil {
		l.Instances = []api.InstanceSummary{}
	}
	writeJSON(w, http.StatusOK, l)
}
