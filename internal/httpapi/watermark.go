package httpapi

import (
	"net/http"
)

// watermark answers GET /v1/watermark from the watermark source (NATS).
func (s *server) watermark(w http.ResponseWriter, r *http.Request) {
	if e := parseNoParams(r.URL.RawQuery); e != nil {
		writeError(w, e)
		return
	}
	if s.cfg.Watermark == nil {
		s.unavailable(w, "the projection watermark is not configured")
		return
	}
	wm, err := s.cfg.Watermark.Watermark(r.Context())
	if err != nil {
		s.log.Warn().Err(err).Msg("watermark unavailable")
		s.unavailable(w, "the history stream (NATS JetStream) is unavailable; retry later")
		return
	}
	writeJSON(w, http.StatusOK, wm)
}
