package httpapi

import (
	"net/http"
)

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
	sum, found, err := s.cfg.ReadModel.Instance(r.Context(), id)
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
