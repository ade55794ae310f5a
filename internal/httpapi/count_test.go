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
