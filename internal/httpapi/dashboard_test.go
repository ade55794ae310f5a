package httpapi

import (
	"net/http"
	"testing"
)

// TestDashboardRoutes checks that Config.Dashboard gets exactly "/" and the
// files below "/static/", without the API token (the page asks for it), and
// that nothing else changes: no redirects, /v1 still needs the token.
func TestDashboardRoutes(t *testing.T) {
	dash := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Dashboard", r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	h := testHandler(newMem(), func(c *Config) {
		c.Dashboard = dash
		c.APIToken = "secret"
	})
	for _, c := range []struct {
		method, target string
		dashboard      bool
		status         int // when not the dashboard's
	}{
		{"GET", "/", true, 0},
		{"HEAD", "/", true, 0},
		{"GET", "/static/app.js", true, 0},
		{"GET", "/static/style.css", true, 0},
		{"POST", "/", false, 404},
		{"GET", "/static", false, 404},
		{"GET", "/static/", false, 404},
		{"GET", "/static/a/b.js", false, 404},
		{"GET", "/static/../v1/health", false, 404},
		{"GET", "/index.html", false, 404},
		{"GET", "/v1/health", false, 401},
		{"GET", "/healthz", false, 200},
	} {
		rec := do(h, c.method, c.target, nil)
		got := rec.Header().Get("X-Dashboard") != ""
		if got != c.dashboard {
			t.Errorf("%s %s: served by the dashboard = %v, want %v (status %d)", c.method, c.target, got, c.dashboard, rec.Code)
			continue
		}
		if !c.dashboard && rec.Code != c.status {
			t.Errorf("%s %s = %d %s; want %d", c.method, c.target, rec.Code, rec.Body, c.status)
		}
	}
	// Without a dashboard "/" stays the API's JSON 404.
	if rec := do(testHandler(newMem(), nil), "GET", "/", nil); rec.Code != http.StatusNotFound {
		t.Errorf("GET / without a dashboard = %d, want 404", rec.Code)
	}
}
