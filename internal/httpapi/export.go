package httpapi

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"time"
)

// Streamed exports (format=csv|ndjson on GET /v1/instances and
// GET /v1/reports/timeseries): rows go out as the read model produces them,
// flushed every exportFlushRows rows, so memory stays flat and the client
// sees the first rows while the query still runs.

// Answer formats.
const (
	formatJSON   = "json"
	formatCSV    = "csv"
	formatNDJSON = "ndjson"
)

const (
	// exportFlushRows is how many rows are written between flushes.
	exportFlushRows = 512
	// exportWriteTimeout is how long one flush may take: it replaces the
	// server's WriteTimeout (meant for ordinary answers) while an export
	// streams, so a long export completes and a stalled client is still
	// cut off.
	exportWriteTimeout = time.Minute
)

// exportFormat parses the optional format parameter (default json).
func exportFormat(p params) (string, *apiError) {
	f, ok, e := p.single("format")
	if e != nil || !ok {
		return formatJSON, e
	}
	switch f {
	case formatJSON, formatCSV, formatNDJSON:
		return f, nil
	}
	return "", badParam("format", "want json, csv or ndjson, got %s", quoteVal(f))
}

// export writes one streamed answer. Nothing is sent before the first row
// (or finish), so that a query failing at once still gets a JSON error.
type export struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	format  string
	name    string
	header  []string
	csv     *csv.Writer
	line    bytes.Buffer
	enc     *json.Encoder
	started bool
	rows    int
}

// newExport prepares an export of format (csv or ndjson) named name (the
// download's file name without extension); header names the CSV columns.
func newExport(w http.ResponseWriter, format, name string, header []string) *export {
	ex := &export{w: w, rc: http.NewResponseController(w), format: format, name: name, header: header}
	ex.enc = json.NewEncoder(&ex.line)
	ex.enc.SetEscapeHTML(false)
	return ex
}

// start sends the status and headers (and the CSV header line).
func (ex *export) start() error {
	if ex.started {
		return nil
	}
	ex.started = true
	h := ex.w.Header()
	if ex.format == formatCSV {
		h.Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/x-ndjson")
	}
	h.Set("Content-Disposition", `attachment; filename="`+ex.name+`.`+ex.format+`"`)
	h.Set("Cache-Control", "no-store")
	_ = ex.rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
	ex.w.WriteHeader(http.StatusOK)
	if ex.format == formatCSV {
		ex.csv = csv.NewWriter(ex.w)
		return ex.csv.Write(ex.header)
	}
	return nil
}

// row writes one row: record for CSV, v as one JSON line for NDJSON.
func (ex *export) row(v any, record []string) error {
	if err := ex.start(); err != nil {
		return err
	}
	if ex.format == formatCSV {
		if err := ex.csv.Write(record); err != nil {
			return err
		}
	} else {
		ex.line.Reset()
		if err := ex.enc.Encode(v); err != nil {
			return err
		}
		if _, err := ex.w.Write(ex.line.Bytes()); err != nil {
			return err
		}
	}
	ex.rows++
	if ex.rows%exportFlushRows == 0 {
		return ex.flush()
	}
	return nil
}

// flush pushes everything written so far to the client and gives the next
// flush another exportWriteTimeout.
func (ex *export) flush() error {
	if ex.csv != nil {
		ex.csv.Flush()
		if err := ex.csv.Error(); err != nil {
			return err
		}
	}
	_ = ex.rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
	if err := ex.rc.Flush(); err != nil && err != http.ErrNotSupported {
		return err
	}
	return nil
}

// finishExport ends an export after the read model's stream ended with err.
// A failure before the first row is an ordinary error answer; after it the
// status is already sent, so the connection is aborted: the client sees a
// truncated transfer, never a short file that looks complete.
func (s *server) finishExport(w http.ResponseWriter, r *http.Request, ex *export, what string, err error) {
	if err == nil {
		if err = ex.start(); err == nil {
			err = ex.flush()
		}
		if err == nil {
			return
		}
	}
	if !ex.started {
		s.backendError(w, r, what, err)
		return
	}
	if r.Context().Err() == nil {
		s.log.Error().Err(err).Str("what", what).Int("rows_sent", ex.rows).Msg("export failed midway; aborting the response")
	}
	panic(http.ErrAbortHandler)
}
