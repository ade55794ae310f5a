// Package web is the query service's dashboard: one HTML page, a stylesheet
// and vanilla JavaScript (no framework, no build step, nothing loaded from
// other origins), embedded in the binary. The page reads the /v1 API of the
// same origin with fetch; this package serves only the static files.
//
// Routes (relative to where the handler is mounted):
//
//	/               index.html
//	/static/<file>  the assets below static/
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// contentSecurityPolicy allows nothing but the page's own files and same-origin
// API calls: every text the page shows comes from the API, so a policy that
// forbids inline scripts and foreign origins backs up the page's rule of
// never parsing data as HTML.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one embedded file with its precomputed validator.
type asset struct {
	name  string
	body  []byte
	etag  string
	ctype string
}

// handler serves the embedded assets.
type handler struct {
	index  *asset
	assets map[string]*asset // by path below static/
}

// FS returns the embedded assets (index.html, app.js, style.css, ...) rooted
// at the static directory, for tools that want the files themselves.
func FS() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		// fs.Sub fails only for an invalid directory name: a build defect.
		panic(fmt.Sprintf("web: embedded static directory: %v", err))
	}
	return sub
}

// Handler serves the dashboard: index.html at "/" and the assets at
// "/static/". It answers GET and HEAD; anything else under its paths is 405,
// an unknown asset 404. Every answer carries a strict Content-Security-Policy.
func Handler() http.Handler {
	h := &handler{assets: map[string]*asset{}}
	root := FS()
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = http.DetectContentType(b)
		}
		h.assets[p] = &asset{name: p, body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("web: reading embedded assets: %v", err))
	}
	h.index = h.assets["index.html"]
	if h.index == nil {
		panic("web: embedded assets lack index.html")
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the dashboard's files accept GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	var a *asset
	switch p := r.URL.Path; {
	case p == "/":
		a = h.index
	case strings.HasPrefix(p, "/static/"):
		a = h.assets[strings.TrimPrefix(p, "/static/")]
	}
	if a == nil {
		http.Error(w, "no such dashboard file", http.StatusNotFound)
		return
	}
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	// The files change only with the binary: revalidate every time (cheap,
	// the ETag answers 304), so an upgraded service never serves a page
	// with a stale script.
	hd.Set("Cache-Control", "no-cache")
	// ServeContent answers If-None-Match with 304 and handles Range and
	// HEAD; the zero modification time leaves Last-Modified out.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
