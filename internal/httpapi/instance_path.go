package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/duroscope/duroscope/api"
)

// maxInstanceIDBytes is the contract's bound on instance ids.
const maxInstanceIDBytes = 1024

// instanceSubpaths are the routes below /v1/instances/{id} (besides the
// instance itself); the OpenAPI test and the metrics read them too.
var instanceSubpaths = []string{"details", "executions", "history", "tree"}

// instancePath is a parsed /v1/instances/{id}[/details|/executions|/history|/tree].
type instancePath struct {
	id  string
	sub string // "", "details", "executions", "history" or "tree"
}

// parseInstancePath parses the escaped path after "/v1/instances/". The id
// segment is percent-decoded exactly once ("a%2F.." is the id "a/..",
// "%252F" is "%2F"); a raw "/" ends the segment.
func parseInstancePath(rest string) (instancePath, *apiError) {
	idEsc, sub, hasSub := strings.Cut(rest, "/")
	if hasSub {
		switch {
		case slices.Contains(instanceSubpaths, sub):
		default:
			return instancePath{}, notFound("no such path below /v1/instances/{id}: %s; want /details, /executions, /history or /tree, and / inside an id sent as %%2F",
				quoteVal(sub))
		}
	}
	if idEsc == "" {
		return instancePath{}, notFound("no instance id in the path; want /v1/instances/{id} with the id percent-encoded")
	}
	id, err := url.PathUnescape(idEsc)
	if err != nil {
		return instancePath{}, badParam("instance id", "want a percent-encoded path segment: %v", err)
	}
	if len(id) > maxInstanceIDBytes {
		return instancePath{}, badParam("instance id", "at most %d bytes, got %d", maxInstanceIDBytes, len(id))
	}
	if !utf8.ValidString(id) {
		return instancePath{}, badParam("instance id", "not valid UTF-8 once percent-decoded")
	}
	return instancePath{id: id, sub: sub}, nil
}

// instanceRoute serves /v1/instances/{id}[/...].
func (s *server) instanceRoute(w http.ResponseWriter, r *http.Request, rest string) {
	p, e := parseInstancePath(rest)
	if e != nil {
		writeError(w, e)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: api.CodeInvalidArgument,
			msg: fmt.Sprintf("method %s: instance paths accept GET only", r.Method)})
		return
	}
	var h func(http.ResponseWriter, *http.Request, string)
	switch p.sub {
	case "":
		h = s.getInstance
	case "details":
		h = s.getDetails
	case "executions":
		h = s.getExecutions
	case "history":
		h = s.getHistory
	}
	limit := s.limited
	if p.sub == "tree" {
		h = s.getTree
		limit = s.scan // one scan of the instances per level
	}
	limit(func(w http.ResponseWriter, r *http.Request) { h(w, r, p.id) })(w, r)
}
