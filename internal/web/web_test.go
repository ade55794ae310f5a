package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func serve(h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerServesAssets(t *testing.T) {
	h := Handler()
	for _, c := range []struct {
		target, ctype, contains string
	}{
		{"/", "text/html", `<script src="static/app.js" defer></script>`},
		{"/static/app.js", "javascript", "escapeInstanceID"},
		{"/static/style.css", "text/css", ".gantt"},
		{"/static/favicon.svg", "image/svg+xml", "<svg"},
	} {
		rec := serve(h, "GET", c.target)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s = %d", c.target, rec.Code)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, c.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", c.target, ct, c.ctype)
		}
		if !strings.Contains(rec.Body.String(), c.contains) {
			t.Errorf("GET %s: body lacks %q", c.target, c.contains)
		}
		for _, k := range []string{"Content-Security-Policy", "X-Content-Type-Options", "ETag", "Cache-Control"} {
			if rec.Header().Get(k) == "" {
				t.Errorf("GET %s: no %s header", c.target, k)
			}
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q must allow only the page's own scripts", c.target, csp)
		}
	}
}

func TestHandlerConditionalAndMethods(t *testing.T) {
	h := Handler()
	first := serve(h, "GET", "/static/app.js")
	etag := first.Header().Get("ETag")
	if rec := serve(h, "GET", "/static/app.js", "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("GET with If-None-Match %s = %d, want 304", etag, rec.Code)
	}
	if rec := serve(h, "GET", "/static/app.js", "If-None-Match", `"other"`); rec.Code != http.StatusOK {
		t.Errorf("GET with a stale ETag = %d, want 200", rec.Code)
	}
	if rec := serve(h, "HEAD", "/"); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD / = %d with %d body bytes, want 200 and none", rec.Code, rec.Body.Len())
	}
	for _, c := range []struct {
		method, target string
		status         int
	}{
		{"POST", "/", http.StatusMethodNotAllowed},
		{"DELETE", "/static/app.js", http.StatusMethodNotAllowed},
		{"GET", "/static/", http.StatusNotFound},
		{"GET", "/static/nope.js", http.StatusNotFound},
		{"GET", "/static/../web.go", http.StatusNotFound},
		{"GET", "/web.go", http.StatusNotFound},
	} {
		rec := serve(h, c.method, c.target)
		if rec.Code != c.status {
			t.Errorf("%s %s = %d, want %d", c.method, c.target, rec.Code, c.status)
		}
		if rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s %s: no CSP on the error", c.method, c.target)
		}
	}
}

// TestAssetsAreSelfContained: the page must work offline and must not turn
// API data into markup, so the assets reference only each other and use no
// HTML-parsing sink.
func TestAssetsAreSelfContained(t *testing.T) {
	root := FS()
	index, err := fs.ReadFile(root, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllStringSubmatch(string(index), -1)
	if len(refs) < 3 {
		t.Fatalf("index.html references %d files, want at least the script, the stylesheet and the icon", len(refs))
	}
	for _, m := range refs {
		name, ok := strings.CutPrefix(m[1], "static/")
		if !ok {
			t.Errorf("index.html references %q; want a relative static/ path (the page may sit behind a path prefix)", m[1])
			continue
		}
		if _, err := fs.Stat(root, name); err != nil {
			t.Errorf("index.html references %q, which is not embedded", m[1])
		}
	}
	foreign := regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	sinks := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|@import`)
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		s := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "") // the SVG namespace is a name, not a fetch
		if m := foreign.FindString(s); m != "" {
			t.Errorf("%s refers to another origin (%q); the dashboard must work offline", p, m)
		}
		if m := sinks.FindString(s); m != "" {
			t.Errorf("%s uses %q; build DOM nodes with textContent instead", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
