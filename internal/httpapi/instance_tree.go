package httpapi

import (
	"net/http"
)

// getTree answers GET /v1/instances/{id}/tree (API.md "Additions").
func (s *server) getTree(w http.ResponseWriter, r *http.Request, id string) {
	if e := parseNoParams(r.URL.RawQuery); e != nil {
		writeError(w, e)
		return
	}
	t, found, err := s.cfg.ReadModel.Tree(r.Context(), id)
	if err != nil {
		s.backendError(w, r, "tree", err)
		return
	}
	if !found {
		writeError(w, notFound("no instance %s", quoteVal(id)))
		return
	}
	writeJSON(w, http.StatusOK, t)
}
