package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/recount"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
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

// failingStore fails every call with err.
type failingStore struct{ err error }

func (s failingStore) WriteHistory(context.Context, []chwrite.HistoryRow) error { return s.err }
func (s failingStore) WriteRows(context.Context, []projection.Rows) (recount.Cells, error) {
	return recount.Cells{}, s.err
}
func (s failingStore) Recount(context.Context, recount.Cells) error { return s.err }
func (s failingStore) LoadHistories(context.Context, []string) (map[string][]events.Event, error) {
	return nil, s.err
}
func (s failingStore) WriteNotices(context.Context, []chwrite.NoticeRow) error { return s.err }
func (s failingStore) LoadNotices(context.Context, []string) (map[string][]events.Notice, error) {
	return nil, s.err
}
func (s failingStore) ScanInstanceIDs(context.Context, func(string) error) error { return s.err }
func (s failingStore) WriteQueueSnapshots(context.Context, []events.QueueSnapshot) error {
	return s.err
}

// TestRunPipelineReturnsTheProjectorsFailure: the process's result (hence
// its exit status) is the projector's failure, and the status server and
// the progress log end with it.
func TestRunPipelineReturnsTheProjectorsFailure(t *testing.T) {
	n := testenv.StartNATS(t)
	store := failingStore{fmt.Errorf("scan: %w", projector.ErrPermanent)}
	p, err := projector.New(projector.Config{JS: n.JS, Store: store, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runPipeline(context.Background(), p, ln, zerolog.Nop()) }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("runPipeline still runs 30s after the projector failed")
	}
	if !errors.Is(err, projector.ErrPermanent) {
		t.Fatalf("runPipeline = %v, want the projector's failure", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the status server still listens after the projector failed")
	}
}
