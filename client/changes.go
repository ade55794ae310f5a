package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/duroscope/duroscope/api"
)

// ChangeEvent is one event of WatchChanges: a change (Change set) or a
// reset (Reset set: changes were missed, reload what you show). ID is the
// event's stream sequence, the position WatchChanges resumes from.
type ChangeEvent struct {
	Change *api.InstanceChange
	Reset  *api.ChangesReset
	ID     uint64
}

// WatchParams selects GET /v1/instances/changes.
type WatchParams struct {
	// Filters are the list's filters; Limit, Offset and PageToken must be
	// zero (a change stream has no pages).
	Filters ListParams
	// LastEventID resumes after this event id (0 = from now on).
	LastEventID uint64
	// OnReconnect, when set, learns why the stream ended before
	// WatchChanges reconnects (after wait).
	OnReconnect func(err error, wait time.Duration)
}

// Reconnection backoff of WatchChanges.
const (
	watchRetryBase = time.Second
	watchRetryMax  = 30 * time.Second
)

// errStreamEnded is a stream that ended without saying why.
var errStreamEnded = errors.New("the change stream ended")

// WatchChanges streams GET /v1/instances/changes and calls fn for every
// event, in order, until ctx ends (it returns ctx's error) or fn returns an
// error (returned as is). When the stream ends (the service cut this
// subscriber off for reading too slowly, restarted, or the network failed)
// it reconnects with Last-Event-ID set to the last event's id, so no change
// is lost (or a reset says to reload), waiting 1 s, doubling up to 30 s
// while reconnecting fails. Only refusals no retry cures end it: a bad
// filter (400), a wrong token (401). WithTimeout does not apply to the
// stream.
func (c *Client) WatchChanges(ctx context.Context, p WatchParams, fn func(ChangeEvent) error) error {
	if p.Filters.Limit != 0 || p.Filters.Offset != 0 || p.Filters.PageToken != "" {
		return errors.New("duroscope: WatchChanges: Limit, Offset and PageToken do not apply to a change stream")
	}
	last, resume := p.LastEventID, p.LastEventID > 0
	wait := watchRetryBase
	for {
		got, err := c.watchOnce(ctx, p.Filters, last, resume, func(ev ChangeEvent) error {
			last, resume = ev.ID, true
			return fn(ev)
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fnErr callbackError
		if errors.As(err, &fnErr) {
			return fnErr.err
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.StatusCode != http.StatusServiceUnavailable && ae.StatusCode < 500 {
			return err
		}
		if got {
			wait = watchRetryBase
		}
		if p.OnReconnect != nil {
			p.OnReconnect(err, wait)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, watchRetryMax)
	}
}

// callbackError carries fn's error out of watchOnce.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// watchOnce reads one connection's events; got reports whether any came.
func (c *Client) watchOnce(ctx context.Context, f ListParams, last uint64, resume bool, fn func(ChangeEvent) error) (got bool, err error) {
	r := get("/v1/instances/changes", f.values())
	r.accept, r.untimed = "text/event-stream", true
	if resume {
		r.header = http.Header{"Last-Event-ID": {strconv.FormatUint(last, 10)}}
	}
	resp, done, err := c.send(ctx, r)
	if err != nil {
		return false, err
	}
	defer done()
	defer resp.Body.Close()
	err = readEvents(resp.Body, func(typ, id, data string) error {
		ev, err := parseChangeEvent(typ, id, data)
		if err != nil {
			return err
		}
		if ev.Change == nil && ev.Reset == nil {
			return nil // an event type this client does not know
		}
		got = true
		if err := fn(ev); err != nil {
			return callbackError{err}
		}
		return nil
	})
	return got, err
}

// parseChangeEvent decodes one event; the service's "error" event (it cut
// the subscriber off) becomes the error naming its reason.
func parseChangeEvent(typ, id, data string) (ChangeEvent, error) {
	var ev ChangeEvent
	switch typ {
	case "error":
		var e struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal([]byte(data), &e)
		return ev, fmt.Errorf("duroscope: the service ended the change stream: %s", e.Reason)
	case "reset":
		ev.Reset = new(api.ChangesReset)
		if err := json.Unmarshal([]byte(data), ev.Reset); err != nil {
			return ev, fmt.Errorf("duroscope: change stream: reset %q: %w", data, err)
		}
	case "", "message":
		ev.Change = new(api.InstanceChange)
		if err := json.Unmarshal([]byte(data), ev.Change); err != nil {
			return ev, fmt.Errorf("duroscope: change stream: event %q: %w", data, err)
		}
	default:
		return ev, nil // a type this client does not know: skipped
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return ev, fmt.Errorf("duroscope: change stream: event id %q: %w", id, err)
	}
	ev.ID = n
	return ev, nil
}

// readEvents parses Server-Sent Events (comments and retry hints are
// skipped; multi-line data is joined with newlines) and calls fn per
// event. It returns errStreamEnded at the end of the body, or the error.
func readEvents(body io.Reader, fn func(typ, id, data string) error) error {
	br := bufio.NewReader(body)
	var (
		typ, id string
		data    []string
	)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errStreamEnded
			}
			return err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if len(data) > 0 {
				if err := fn(typ, id, strings.Join(data, "\n")); err != nil {
					return err
				}
			}
			typ, id, data = "", "", nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			typ = value
		case "id":
			id = value
		case "data":
			data = append(data, value)
		}
	}
}
