package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWatchChanges: events are parsed in order; when the service cuts the
// stream off (an error event, or the connection just ends) the client
// reconnects with Last-Event-ID of the last event; a reset is handed over;
// fn's error ends the watch; a 400 is not retried.
func TestWatchChanges(t *testing.T) {
	var (
		mu    sync.Mutex
		calls []string // "query|Last-Event-ID"
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(calls)
		calls = append(calls, r.URL.RawQuery+"|"+r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		if r.URL.Path != "/v1/instances/changes" || r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "bad request", 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		switch n {
		case 0:
			fmt.Fprint(w, "retry: 2000\n: subscribed\n\n"+
				"id: 5\ndata: {\"instance_id\":\"a\",\"status\":\"Running\",\"updated_at\":\"2026-11-25T21:38:00.000Z\",\"seq\":5}\n\n"+
				": keepalive\n\n"+
				"event: future\ndata: {}\n\n"+
				"id: 9\ndata: {\"instance_id\":\"b\",\"status\":\"Deleted\",\"updated_at\":\"2026-11-25T21:38:00.001Z\",\"seq\":9}\n\n"+
				"event: error\ndata: {\"reason\":\"subscription cut off: slow consumer\"}\n\n")
		case 1:
			fmt.Fprint(w, "event: reset\nid: 12\ndata: {\"reason\":\"reload\"}\n\n")
		default:
			fmt.Fprint(w, "id: 13\ndata: {\"instance_id\":\"c\",\"status\":\"Completed\",\"updated_at\":\"2026-11-25T21:38:00.002Z\",\"seq\":13}\n\n")
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, WithTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	var (
		got     []string
		reasons []string
	)
	stop := errors.New("enough")
	err = c.WatchChanges(context.Background(), WatchParams{Filters: ListParams{Statuses: []string{"Running"}, InstancePrefix: "x"},
		OnReconnect: func(err error, _ time.Duration) { reasons = append(reasons, err.Error()) }},
		func(ev ChangeEvent) error {
			switch {
			case ev.Change != nil:
				got = append(got, fmt.Sprintf("%d:%s:%s", ev.ID, ev.Change.InstanceID, ev.Change.Status))
			case ev.Reset != nil:
				got = append(got, fmt.Sprintf("%d:reset:%s", ev.ID, ev.Reset.Reason))
			}
			if len(got) == 4 {
				return stop
			}
			return nil
		})
	if !errors.Is(err, stop) {
		t.Fatalf("WatchChanges: %v; want fn's error", err)
	}
	want := []string{"5:a:Running", "9:b:Deleted", "12:reset:reload", "13:c:Completed"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %v; want %v", got, want)
	}
	wantCalls := []string{"instance_prefix=x&status=Running|", "instance_prefix=x&status=Running|9", "instance_prefix=x&status=Running|12"}
	if strings.Join(calls, " ") != strings.Join(wantCalls, " ") {
		t.Errorf("requests %v; want %v (resumed with the last id)", calls, wantCalls)
	}
	if len(reasons) != 2 || !strings.Contains(reasons[0], "slow consumer") || !strings.Contains(reasons[1], "ended") {
		t.Errorf("reconnect reasons %q", reasons)
	}
	if len(waits) != 2 || waits[0] != time.Second || waits[1] != time.Second {
		t.Errorf("waits %v; want 1s each (events came, so no backoff)", waits)
	}

	// A 400 is final; paging parameters are refused before any request.
	c2, _ := New(srv.URL + "/nope")
	if err := c2.WatchChanges(context.Background(), WatchParams{}, func(ChangeEvent) error { return nil }); !hasStatus(err, 400) {
		t.Errorf("on a 400: %v", err)
	}
	if err := c.WatchChanges(context.Background(), WatchParams{Filters: ListParams{Limit: 5}}, func(ChangeEvent) error { return nil }); err == nil {
		t.Error("Limit accepted")
	}
}
