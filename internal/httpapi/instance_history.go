package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// historyParams are /history's parameters.
type historyParams struct {
	executionID uint64 // 0 = all executions
}

func parseHistoryParams(raw string) (historyParams, *apiError) {
	p, e := parseParams(raw, "execution_id")
	if e != nil {
		return historyParams{}, e
	}
	s, ok, e := p.single("execution_id")
	if e != nil || !ok {
		return historyParams{}, e
	}
	n, valid := parseDigits(s)
	if !valid || n == 0 {
		return historyParams{}, badParam("execution_id", "want a positive integer, got %s", quoteVal(s))
	}
	return historyParams{executionID: n}, nil
}

func (s *server) getHistory(w http.ResponseWriter, r *http.Request, id string) {
	p, e := parseHistoryParams(r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return
	}
	h, found, err := s.cfg.ReadModel.History(r.Context(), id, p.executionID)
	if err != nil {
		s.backendError(w, r, "history", err)
		return
	}
	if !found {
		if p.executionID != 0 {
			writeError(w, notFound("instance %s has no execution %d", quoteVal(id), p.executionID))
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
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(ev)
	}
	buf.WriteString("]}\n")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
