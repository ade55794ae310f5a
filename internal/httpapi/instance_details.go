package httpapi

import (
	"net/http"

	"github.com/duroscope/duroscope/api"
)

func (s *server) getDetails(w http.ResponseWriter, r *http.Request, id string) {
	if e := parseNoParams(r.URL.RawQuery); e != nil {
		writeError(w, e)
		return
	}
	d, found, err := s.cfg.ReadModel.Details(r.Context(), id)
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
