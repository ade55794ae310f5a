package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

func TestCountInstances(t *testing.T) {
	m := newMem()
	m.add("a")
	m.add("b")
	h := testHandler(m, nil)

	rec := do(h, "GET", "/v1/instances/count?status=Running,Failed&orchestration=Order&created_after=2026-11-25T00:00:00Z&instance_prefix=a&group_by=status", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got := strings.TrimSpace(rec.Body.String()); got != `{"count":2,"groups":[{"key":"Running","count":2}]}` {
		t.Errorf("body %s", got)
	}
	f := m.lastList
	if f == nil || !slices.Equal(f.Statuses, []string{"Running", "Failed"}) || f.Orchestration != "Order" || f.InstancePrefix != "a" ||
		f.CreatedAfter == nil || *f.CreatedAfter != time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).UnixMilli() || *m.lastGroup != query.GroupByStatus {
		t.Errorf("filter %+v, group_by %v", f, *m.lastGroup)
	}

	rec = do(h, "GET", "/v1/instances/count", nil)
	if got := strings.TrimSpace(rec.Body.String()); rec.Code != http.StatusOK || got != `{"count":2}` || *m.lastGroup != "" {
		t.Errorf("no group_by: %d %s", rec.Code, got)
	}

	for _, c := range []struct{ query, param, has string }{
		{"group_by=kind", "group_by", "want status, orchestration or version"},
		{"group_by=status&group_by=version", "group_by", ""},
		{"limit=5", "limit", "unknown parameter"},
		{"page_token=x", "page_token", "unknown parameter"},
		{"status=running", "status", "exact case"},
	} {
		rec := do(h, "GET", "/v1/instances/count?"+c.query, nil)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", c.query, rec.Code)
			continue
		}
		e := errorOf(t, rec)
		if e.Code != api.CodeInvalidArgument || !strings.Contains(e.Message, c.param) || !strings.Contains(e.Message, c.has) {
			t.Errorf("%s: error %+v, want it to name %s (%s)", c.query, e, c.param, c.has)
		}
	}

	// An instance named "count" keeps its sub-resources.
	m.add("count")
	if rec := do(h, "GET", "/v1/instances/count/history", nil); rec.Code != http.StatusOK && rec.Code != http.StatusNotFound {
		t.Errorf("/v1/instances/count/history: status %d", rec.Code)
	} else if m.lastID != "count" {
		t.Errorf("/v1/instances/count/history looked up %q, want the instance count", m.lastID)
	}
	if rec := do(h, "POST", "/v1/instances/count", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/instances/count: status %d, want 405", rec.Code)
	}
}

// TestListFurtherFilters: version, updated range, custom status prefix,
// error kind and category and root_only reach the read model from the list,
// the export and the count alike; bad values name the parameter.
func TestListFurtherFilters(t *testing.T) {
	m := newMem()
	h := testHandler(m, nil)
	q := "version=2.0&updated_after=2026-11-25T00:00:00Z&updated_before=1796000000000&custom_status_prefix=phase%3A&error_kind=ActivityFailed&error_category=application&root_only=true&activity_tag=gpu"
	for _, path := range []string{"/v1/instances?", "/v1/instances/count?", "/v1/instances?format=ndjson&"} {
		m.lastList = nil
		rec := do(h, "GET", path+q, nil)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		f := m.lastList
		if path == "/v1/instances?format=ndjson&" {
			continue // the export's filter goes to reportBackend
		}
		want := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).UnixMilli()
		if f == nil || f.Version != "2.0" || f.UpdatedAfter == nil || *f.UpdatedAfter != want || f.UpdatedBefore == nil || *f.UpdatedBefore != 1796000000000 ||
			f.CustomStatusPrefix != "phase:" || f.ErrorKind != "ActivityFailed" || f.ErrorCategory != "application" || !f.RootOnly || f.ActivityTag != "gpu" {
			t.Errorf("%s: filter %+v", path, f)
		}
	}
	for _, c := range []struct{ query, param string }{
		{"root_only=yes", "root_only"},
		{"root_only=true&parent_instance=p", "root_only"},
		{"updated_after=2026-11-26T00:00:00Z&updated_before=2026-11-25T00:00:00Z", "updated_after"},
		{"updated_before=yesterday", "updated_before"},
		{"error_kind=", "error_kind"},
		{"activity_tag=", "activity_tag"},
	} {
		rec := do(h, "GET", "/v1/instances?"+c.query, nil)
		if rec.Code != 400 || !strings.Contains(errorOf(t, rec).Message, c.param) {
			t.Errorf("%s: %d %s, want a 400 naming %s", c.query, rec.Code, rec.Body, c.param)
		}
	}
}
