package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/duroscope/duroscope/api"
)

// Bulk bounds (API.md).
const (
	maxBulkBody = 1 << 20
	maxBulkIDs  = 10000
)

var tooLarge = &apiError{status: http.StatusRequestEntityTooLarge, code: api.CodeTooLarge,
	msg: fmt.Sprintf("body: at most %d bytes (1 MiB)", maxBulkBody)}

const bulkForm = `want {"instance_ids":["id", ...]}`

// parseBulkBody reads and validates the request body: exactly one JSON
// object whose only field is instance_ids, an array of 1..10000 non-empty
// UTF-8 strings of at most 1024 bytes.
func parseBulkBody(body io.Reader) ([]string, *apiError) {
	b, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, badParam("body", "could not be read: %v", err)
	}
	if len(b) > maxBulkBody {
		return nil, tooLarge
	}
	if !utf8.Valid(b) {
		// encoding/json would silently replace invalid bytes with U+FFFD and
		// answer for an id nobody asked about.
		return nil, badParam("body", "not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	// Field names are matched exactly: a map, unlike a struct, does not
	// accept "Instance_IDs" for instance_ids.
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		return nil, badParam("body", "%s: %v", bulkForm, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badParam("body", "%s and nothing after it", bulkForm)
	}
	if fields == nil {
		return nil, badParam("body", "%s, got null", bulkForm)
	}
	for k := range fields {
		if k != "instance_ids" {
			return nil, badParam("body", "unknown field %s; %s", quoteVal(k), bulkForm)
		}
	}
	raw, ok := fields["instance_ids"]
	if !ok {
		return nil, badParam("instance_ids", "required; %s", bulkForm)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || elems == nil {
		return nil, badParam("instance_ids", "want an array of strings")
	}
	if len(elems) == 0 || len(elems) > maxBulkIDs {
		return nil, badParam("instance_ids", "want 1 to %d ids, got %d", maxBulkIDs, len(elems))
	}
	ids := make([]string, len(elems))
	for i, el := range elems {
		if len(el) == 0 || el[0] != '"' {
			return nil, badParam(fmt.Sprintf("instance_ids[%d]", i), "want a string, got %s", quoteVal(string(el)))
		}
		if err := json.Unmarshal(el, &ids[i]); err != nil {
			return nil, badParam(fmt.Sprintf("instance_ids[%d]", i), "want a string: %v", err)
		}
		if ids[i] == "" || len(ids[i]) > maxInstanceIDBytes {
			return nil, badParam(fmt.Sprintf("instance_ids[%d]", i), "want an id of 1 to %d bytes, got %d bytes", maxInstanceIDBytes, len(ids[i]))
		}
	}
	return ids, nil
}

func (s *server) bulkStatus(w http.ResponseWriter, r *http.Request) {
	if e := parseNoParams(r.URL.RawQuery); e != nil {
		writeError(w, e)
		return
	}
	if r.ContentLength > maxBulkBody {
		writeError(w, tooLarge)
		return
	}
	ids, e := parseBulkBody(http.MaxBytesReader(w, r.Body, maxBulkBody))
	if e != nil {
		writeError(w, e)
		return
	}
	res, err := s.cfg.ReadModel.BulkStatus(r.Context(), ids)
	if err != nil {
		s.backendError(w, r, "bulk status", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
