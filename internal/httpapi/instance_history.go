package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/duroscope/duroscope/internal/query"
)

// historyParams are /history's parameters: the range asked for, and
// whether the events' payloads are left out (include_payloads=false).
type historyParams struct {
	r            query.HistoryRange
	omitPayloads bool
}

func parseHistoryParams(raw string) (historyParams, *apiError) {
	var hp historyParams
	p, e := parseParams(raw, "execution_id", "after_event", "limit", "page_token", "include_payloads")
	if e != nil {
		return hp, e
	}
	if s, ok, e := p.single("execution_id"); e != nil {
		return hp, e
	} else if ok {
		n, valid := parseDigits(s)
		if !valid || n == 0 {
			return hp, badParam("execution_id", "want a positive integer, got %s", quoteVal(s))
		}
		hp.r.ExecutionID = n
	}
	after, hasAfter, e := p.single("after_event")
	if e != nil {
		return hp, e
	}
	tok, hasTok, e := p.single("page_token")
	if e != nil {
		return hp, e
	}
	switch {
	case hasAfter && hasTok:
		return hp, badParam("after_event", "not allowed together with page_token (the token already says where the page starts)")
	case hasAfter:
		k, err := query.ParseEventKey(after)
		if err != nil {
			return hp, badParam("after_event", "%v, got %s", err, quoteVal(after))
		}
		hp.r.After = &k
	case hasTok:
		k, err := query.DecodeHistoryToken(tok)
		if err != nil {
			return hp, badParam("page_token", "want a next_page_token returned by this history, got %s", quoteVal(tok))
		}
		hp.r.After = &k
	}
	if hp.r.Limit, e = p.intRange("limit", 1, query.MaxHistoryLimit, 0); e != nil {
		return hp, e
	}
	include, e := p.boolParam("include_payloads", true)
	if e != nil {
		return hp, e
	}
	hp.omitPayloads = !include
	return hp, nil
}

func (s *server) getHistory(w http.ResponseWriter, r *http.Request, id string) {
	p, e := parseHistoryParams(r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return
	}
	h, found, err := s.cfg.ReadModel.History(r.Context(), id, p.r)
	if err != nil {
		s.backendError(w, r, "history", err)
		return
	}
	if !found {
		if p.r.ExecutionID != 0 {
			writeError(w, notFound("instance %s has no execution %d", quoteVal(id), p.r.ExecutionID))
		} else {
			writeError(w, notFound("no instance %s", quoteVal(id)))
		}
		return
	}
	// The events are served exactly as published: json.Encoder would
	// re-format them (compact, escape <>&), so the body is assembled here.
	var buf bytes.Buffer
	buf.WriteString(`{"events":[`)
	for i, ev := range h.Events {
		if !json.Valid(ev) {
			s.backendError(w, r, "history", fmt.Errorf("instance %q: stored event %d is not JSON", id, i))
			return
		}
		if p.omitPayloads {
			var err error
			if ev, err = query.OmitPayloads(ev); err != nil {
				s.backendError(w, r, "history", fmt.Errorf("instance %q: stored event %d: %w", id, i, err))
				return
			}
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(ev)
	}
	buf.WriteByte(']')
	if h.NextPageToken != nil {
		tok, _ := json.Marshal(*h.NextPageToken)
		buf.WriteString(`,"next_page_token":`)
		buf.Write(tok)
	}
	buf.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
