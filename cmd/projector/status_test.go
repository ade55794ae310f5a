package main

import (
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHealthzReportsThePipeline checks that /healthz answers 200 while the
// pipeline is healthy and 503 with the reason once it is not.
func TestHealthzReportsThePipeline(t *testing.T) {
	var health error
	mux := statusMux(func(time.Time) error { return health }, func(w io.Writer) { fmt.Fprintln(w, "m 1") })
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthy: %d %q", code, body)
	}
	health = errors.New("pipeline failed: write stage: insert history: permanent read model failure")
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "unhealthy: pipeline failed: write stage") {
		t.Errorf("failed: %d %q", code, body)
	}
	if code, body := get("/metrics"); code != 200 || body != "m 1\n" {
		t.Errorf("metrics: %d %q", code, body)
	}
}
