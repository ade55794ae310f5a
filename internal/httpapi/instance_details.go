package httpapi

import (
	"context"
	"net/http"

	"github.com/duroscope/duroscope/api"
)

// detailsGetter answers GET /v1/instances/{id}/details.
type detailsGetter interface {
	Details(ctx context.Context, id string) (api.InstanceDetails, bool, error)
}

func (s *server) getDetails(w http.ResponseWriter, r *http.Request, id string) {
	if e := parseNoParams(r.URL.RawQuery); e != nil {
		writeError(w, e)
		return
	}
	d, found, err := s.cfg.Details.Details(r.Context(), id)
	if err != nil {
		s.backendError(w, r, "details", err)
		return
	}
	if !found {
		writeError(w, notFound("no instance %s", quoteVal(id)))
		return
	}
	if d.Executions == nil {
		d.Executions = []api.ExecutionSummary{}
	}
	writeJSON(w, http.StatusOK, d)
}
