package httpapi

import (
	"context"
	"net/http"

	"github.com/duroscope/duroscope/api"
)

// executionsGetter answers GET /v1/instances/{id}/executions.
type executionsGetter interface {
	Executions(ctx context.Context, id string) (api.ExecutionList, bool, error)
}

func (s *server) getExecutions(w http.ResponseWriter, r *http.Request, id string) {
	if e := parseNoParams(r.URL.RawQuery); e != nil {
		writeError(w, e)
		return
	}
	l, found, err := s.cfg.Executions.Executions(r.Context(), id)
	if err != nil {
		s.backendError(w, r, "executions", err)
		return
	}
	if !found {
		writeError(w, notFound("no instance %s", quoteVal(id)))
		return
	}
	if l.Executions == nil {
		l.Executions = []api.ExecutionSummary{}
	}
	writeJSON(w, http.StatusOK, l)
}
