package httpapi

import (
	"context"
	"net/http"

	"github.com/duroscope/duroscope/api"
)

// instanceGetter answers GET /v1/instances/{id}.
type instanceGetter interface {
	Instance(ctx context.Context, id string) (api.InstanceSummary, bool, error)
}

// parseNoParams accepts an empty query string only.
func parseNoParams(raw string) *apiError {
	_, e := parseParams(raw)
	return e
}

func (s *server) getInstance(w http.ResponseWriter, r *http.Request, id string) {
	if e := parseNoParams(r.URL.RawQuery); e != nil {
		writeError(w, e)
		return
	}
	sum, found, err := s.cfg.Instance.Instance(r.Context(), id)
	if err != nil {
		s.backendError(w, r, "instance", err)
		return
	}
	if !found {
		writeError(w, notFound("no instance %s", quoteVal(id)))
		return
	}
	writeJSON(w, http.StatusOK, sum)
}
