package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// minSeqPoll is how often a request waiting for min_seq looks at the
// watermark again. The source caches its value (watermark.Config.TTL), so
// waiting requests share one computation per TTL whatever their number.
const minSeqPoll = 50 * time.Millisecond

// takeMinSeq removes the min_seq parameter from raw (the URL's RawQuery),
// leaving the other parameters byte for byte for the handler's own parsing.
// present is false without one; a repeated, empty or non-u64 value is a 400.
func takeMinSeq(raw string) (rest string, seq uint64, present bool, e *apiError) {
	if raw == "" {
		return raw, 0, false, nil
	}
	parts := strings.Split(raw, "&")
	kept := parts[:0:0]
	for _, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		if name, err := url.QueryUnescape(k); err != nil || name != "min_seq" {
			kept = append(kept, p)
			continue
		}
		if present {
			return "", 0, false, badParam("min_seq", "given more than once; give it once")
		}
		present = true
		val, err := url.QueryUnescape(v)
		if err == nil {
			seq, err = strconv.ParseUint(val, 10, 64)
		}
		if err != nil || val == "" {
			return "", 0, false, badParam("min_seq", "want a stream sequence, an unsigned 64-bit decimal integer; got %s", quoteVal(v))
		}
	}
	return strings.Join(kept, "&"), seq, present, nil
}

// waitMinSeq serves min_seq (API.md "Additions") for every /v1 GET, before
// the handler runs: it strips the parameter and waits until the watermark
// says the read model holds everything up to that stream sequence, for at
// most Limits.MinSeqTimeout. It returns false when it has answered (400, or
// 503 with Retry-After when the sequence is not reached in time).
func (s *server) waitMinSeq(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return true
	}
	rest, seq, present, e := takeMinSeq(r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return false
	}
	if !present {
		return true
	}
	r.URL.RawQuery = rest
	if s.cfg.Watermark == nil {
		s.unavailable(w, "min_seq: the projection watermark is not configured")
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Limits.MinSeqTimeout)
	defer cancel()
	tick := time.NewTicker(minSeqPoll)
	defer tick.Stop()
	for {
		wm, err := s.cfg.Watermark.Watermark(ctx)
		if err == nil && wm.StreamLastSeq-wm.LagEvents >= seq {
			return true
		}
		select {
		case <-ctx.Done():
			if r.Context().Err() != nil {
				s.unavailable(w, "request cancelled")
				return false
			}
			msg := "min_seq: the read model has not projected stream sequence " + strconv.FormatUint(seq, 10) +
				" within " + s.cfg.Limits.MinSeqTimeout.String()
			if err != nil {
				s.log.Warn().Err(err).Msg("watermark unavailable while waiting for min_seq")
				msg += " (the history stream is unavailable)"
			}
			s.unavailable(w, msg+"; retry later")
			return false
		case <-tick.C:
		}
	}
}
