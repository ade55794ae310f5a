package httpapi

import (
	"net/http"
)

func (s *server) queues(w http.ResponseWriter, r *http.Request) {
	if e := parseNoParams(r.URL.RawQuery); e != nil {
		writeError(w, e)
		return
	}
	m, err := s.cfg.ReadModel.Queues(r.Context())
	if err != nil {
		s.backendError(w, r, "queues", err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}
