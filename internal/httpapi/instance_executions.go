package httpapi

import (
	"net/http"

	"github.com/duroscope/duroscope/api"
)

func (s *server) getExecutions(w http.ResponseWriter, r *http.Request, id string) {
	if e := parseNoParams(r.URL.RawQuery); e != nil {
		writeError(w, e)
		return
	}
	l, found, err := s.cfg.ReadModel.Executions(r.Context(), id)
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
