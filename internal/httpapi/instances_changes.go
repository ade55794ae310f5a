package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/duroscope/duroscope/internal/query"
)

// GET /v1/instances/changes (API.md "Additions"): Server-Sent Events from
// the shared change feed (query.ChangeFeed). Each change is
//
//	id: <seq>
//	data: {"instance_id","status","updated_at","seq"}
//
// sent once the change is queryable. Other events: `reset` (data
// {"reason"}: changes were missed, reload; its id continues the stream),
// `error` (data {"reason"}: the feed cut this subscriber off, e.g. for not
// reading fast enough; the connection then closes and a client reconnects
// with Last-Event-ID). Comments (": keepalive") keep proxies from closing
// an idle stream.

// parseLastEventID reads the Last-Event-ID header (EventSource sends it
// when it reconnects): a stream sequence.
func parseLastEventID(r *http.Request) (after uint64, resume bool, e *apiError) {
	v := r.Header.Values("Last-Event-ID")
	if len(v) == 0 {
		return 0, false, nil
	}
	if len(v) > 1 {
		return 0, false, badParam("Last-Event-ID", "given more than once; give it once")
	}
	after, err := strconv.ParseUint(v[0], 10, 64)
	if err != nil {
		return 0, false, badParam("Last-Event-ID", "want the id of an event of this stream (a stream sequence), got %s", quoteVal(v[0]))
	}
	return after, true, nil
}

// changes serves GET /v1/instances/changes. It holds no admission slot:
// a subscriber costs the store nothing (the feed resolves changes once for
// all of them).
func (s *server) changes(w http.ResponseWriter, r *http.Request) {
	p, e := parseParams(r.URL.RawQuery, listFilterParams()...)
	if e != nil {
		writeError(w, e)
		return
	}
	f, e := parseListFilters(p)
	if e != nil {
		writeError(w, e)
		return
	}
	after, resume, e := parseLastEventID(r)
	if e != nil {
		writeError(w, e)
		return
	}
	if s.cfg.Changes == nil {
		s.unavailable(w, "the live change feed is not configured")
		return
	}
	ctx := r.Context()
	sub, err := s.cfg.Changes.Subscribe(ctx, f, after, resume)
	if err != nil {
		s.backendError(w, r, "subscribe to changes", err)
		return
	}
	defer sub.Close()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// Reconnect after 2 s; the first bytes tell the client the stream is open.
	if !s.sseWrite(w, rc, []byte("retry: 2000\n: subscribed\n\n")) {
		return
	}
	var buf []byte
	for {
		wait, cancel := context.WithTimeout(ctx, s.cfg.Limits.Heartbeat)
		evs, err := sub.Next(wait)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return // the client went away
		case errors.Is(err, context.DeadlineExceeded):
			if !s.sseWrite(w, rc, []byte(": keepalive\n\n")) {
				return
			}
			continue
		default:
			s.log.Info().Err(err).Str("remote", r.RemoteAddr).Msg("change subscriber cut off")
			s.sseWrite(w, rc, sseEvent(nil, "error", "", map[string]string{"reason": err.Error()}))
			return
		}
		buf = buf[:0]
		for _, ev := range evs {
			id := strconv.FormatUint(ev.Seq, 10)
			if ev.Reset != nil {
				buf = sseEvent(buf, "reset", id, ev.Reset)
			} else {
				buf = sseEvent(buf, "", id, ev.Change)
			}
		}
		if !s.sseWrite(w, rc, buf) {
			return
		}
	}
}

// sseEvent appends one event: its type (empty: the default "message"),
// id and JSON data.
func sseEvent(buf []byte, typ, id string, data any) []byte {
	if typ != "" {
		buf = fmt.Appendf(buf, "event: %s\n", typ)
	}
	if id != "" {
		buf = fmt.Appendf(buf, "id: %s\n", id)
	}
	b, _ := json.Marshal(data) // plain structs and maps of strings: cannot fail
	buf = append(buf, "data: "...)
	buf = append(buf, b...)
	return append(buf, "\n\n"...)
}

// sseWrite writes and flushes b within Limits.SSEWriteWait (a client that
// does not read for that long is dropped); false when the stream is over.
func (s *server) sseWrite(w io.Writer, rc *http.ResponseController, b []byte) bool {
	if err := rc.SetWriteDeadline(time.Now().Add(s.cfg.Limits.SSEWriteWait)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return false
	}
	if _, err := w.Write(b); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// changeFeedMetrics renders the feed's figures for /metrics.
func writeChangeFeedMetrics(w io.Writer, m query.ChangeFeedMetrics) {
	following := 0
	if m.Following {
		following = 1
	}
	for _, g := range []struct {
		name, typ, help string
		v               uint64
	}{
		{"duroscope_query_changes_following", "gauge", "1 while the live change feed follows the history stream.", uint64(following)},
		{"duroscope_query_changes_subscribers", "gauge", "Open GET /v1/instances/changes subscriptions.", uint64(m.Subscribers)},
		{"duroscope_query_changes_position", "gauge", "Stream sequence up to which every change was handed to the subscribers.", m.Position},
		{"duroscope_query_changes_pending", "gauge", "Changes read from the stream, waiting for the projection.", m.Pending},
		{"duroscope_query_changes_cut_off_total", "counter", "Subscribers cut off for not reading fast enough.", m.CutOff},
		{"duroscope_query_changes_resets_total", "counter", "Reset events sent (changes missed: reload).", m.Resets},
		{"duroscope_query_changes_events_total", "counter", "Change events queued for subscribers.", m.Sent},
		{"duroscope_query_changes_lookups_total", "counter", "Read-model lookups of changed instances (one per batch, shared by every subscriber).", m.Lookups},
	} {
		header(w, g.name, g.typ, g.help)
		fmt.Fprintf(w, "%s %d\n", g.name, g.v)
	}
}
