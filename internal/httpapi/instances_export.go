package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// parseListRequest parses GET /v1/instances: the list's parameters plus
// format (json, the default paged answer, or csv / ndjson, a streamed export
// of every matching instance). An export has no pages: limit, offset and
// page_token are refused with it rather than silently ignored.
func parseListRequest(raw string) (query.ListFilter, string, *apiError) {
	v, err := url.ParseQuery(raw)
	fv, has := v["format"]
	if err != nil || !has {
		f, e := parseListParams(raw)
		return f, formatJSON, e
	}
	format, e := exportFormat(params{v: url.Values{"format": fv}})
	if e != nil {
		return query.ListFilter{}, "", e
	}
	delete(v, "format")
	if format != formatJSON {
		for _, name := range []string{"limit", "offset", "page_token"} {
			if _, paged := v[name]; paged {
				return query.ListFilter{}, "", badParam(name, "not allowed with format=%s: the export streams every matching instance, in the list's order", format)
			}
		}
	}
	f, e := parseListParams(v.Encode())
	return f, format, e
}

// exportInstances streams the instances matching f as CSV or NDJSON.
func (s *server) exportInstances(w http.ResponseWriter, r *http.Request, f query.ListFilter, format string) {
	ex := newExport(w, format, "instances", instanceCSVHeader)
	err := s.cfg.ReadModel.StreamInstances(r.Context(), f, func(sum api.InstanceSummary) error {
		return ex.row(sum, instanceCSVRecord(sum))
	})
	s.finishExport(w, r, ex, "instances export", err)
}

// instanceCSVHeader names the CSV columns of an instance export: the
// InstanceSummary fields, error flattened. Null is an empty cell.
var instanceCSVHeader = []string{"instance_id", "orchestration_name", "version", "status", "created_at", "updated_at",
	"execution_count", "current_execution_id", "parent_instance", "parent_id", "output",
	"error_category", "error_kind", "error_message", "error_retryable", "custom_status"}

// instanceCSVRecord renders one summary as a CSV record.
func instanceCSVRecord(s api.InstanceSummary) []string {
	opt := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	rec := []string{s.InstanceID, s.OrchestrationName, s.Version, s.Status, s.CreatedAt.Format(), s.UpdatedAt.Format(),
		strconv.FormatUint(s.ExecutionCount, 10), strconv.FormatUint(s.CurrentExecutionID, 10),
		opt(s.ParentInstance), "", opt(s.Output), "", "", "", "", opt(s.CustomStatus)}
	if s.ParentID != nil {
		rec[9] = strconv.FormatUint(*s.ParentID, 10)
	}
	if e := s.Error; e != nil {
		rec[11], rec[12], rec[13], rec[14] = e.Category, e.Kind, e.Message, strconv.FormatBool(e.Retryable)
	}
	return rec
}
