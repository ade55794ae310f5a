package httpapi

import (
	"context"
	"net/http"

	"github.com/duroscope/duroscope/api"
)

// queuesGetter answers GET /v1/queues.
type queuesGetter interface {
	Queues(ctx context.Context) (api.QueueMetrics, error)
}

func (s *server) queues(w http.ResponseWriter, r *http.Request) {
	if e := parseNoParams(r.URL.RawQuery); e != nil {
		writeError(w, e)
		return
	}
	m, err := s.cfg.Queues.Queues(r.Context())
	if err != nil {
		s.backendError(w, r, "queues", err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}
