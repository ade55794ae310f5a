package httpapi

import (
	"context"
	"net/http"
)

// healthz: the process is up.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz: ClickHouse answers.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Limits.ReadyTimeout)
	defer cancel()
	if err := s.cfg.ReadModel.Ping(ctx); err != nil {
		s.log.Warn().Err(err).Msg("not ready: ClickHouse does not answer")
		s.unavailable(w, "ClickHouse does not answer")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
