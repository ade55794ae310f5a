package httpapi

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/api"
)

// openAPIDocument is the part of the document the tests read.
type openAPIDocument struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		} `json:"schemas"`
		Parameters map[string]json.RawMessage `json:"parameters"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) openAPIDocument {
	t.Helper()
	var d openAPIDocument
	if err := json.Unmarshal(openAPIDoc, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") {
		t.Fatalf("openapi.json: version %q, want 3.x", d.OpenAPI)
	}
	return d
}

// registeredRoutes lists "METHOD path" for every route the router serves:
// the fixed paths it registered and the instance routes it parses itself
// (instanceSubpaths).
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	s := testHandler(newMem(), nil).(*server)
	var out []string
	for path, method := range s.routes {
		out = append(out, method+" "+path)
	}
	out = append(out, "GET /v1/instances/{id}")
	for _, sub := range instanceSubpaths {
		out = append(out, "GET /v1/instances/{id}/"+sub)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPICoversRoutes fails when a route is missing from openapi.json or
// the document describes a route the router does not serve.
func TestOpenAPICoversRoutes(t *testing.T) {
	d := loadOpenAPI(t)
	var documented []string
	for path, item := range d.Paths {
		for method := range item {
			switch method {
			case "get", "post", "put", "delete", "patch", "head", "options":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(documented)
	routes := registeredRoutes(t)
	if len(routes) < 19 {
		t.Fatalf("only %d routes found: %v", len(routes), routes)
	}
	if !reflect.DeepEqual(routes, documented) {
		t.Errorf("routes and openapi.json differ:\nrouter:   %v\ndocument: %v", routes, documented)
	}
}

// TestOpenAPIRefsResolve checks every $ref points at a defined schema.
func TestOpenAPIRefsResolve(t *testing.T) {
	d := loadOpenAPI(t)
	var walk func(any)
	n := 0
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				n++
				defined := false
				if name, ok := strings.CutPrefix(ref, "#/components/schemas/"); ok {
					_, defined = d.Components.Schemas[name]
				} else if name, ok := strings.CutPrefix(ref, "#/components/parameters/"); ok {
					_, defined = d.Components.Parameters[name]
				}
				if !defined {
					t.Errorf("unresolved $ref %q", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	var all any
	if err := json.Unmarshal(openAPIDoc, &all); err != nil {
		t.Fatal(err)
	}
	walk(all)
	if n < 30 {
		t.Fatalf("only %d $refs: the document lost its schemas", n)
	}
}

// TestOpenAPISchemasMatchTypes checks that each schema lists exactly the
// JSON fields of its api type, all required (every field is always present,
// null when empty).
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	d := loadOpenAPI(t)
	types := map[string]any{
		"Error": api.Error{}, "InstanceSummary": api.InstanceSummary{}, "ExecutionSummary": api.ExecutionSummary{},
		"PendingActivity": api.PendingActivity{}, "PendingTimer": api.PendingTimer{}, "PendingEvent": api.PendingEvent{},
		"PendingSubOrchestration": api.PendingSubOrchestration{}, "ExecutionDetails": api.ExecutionDetails{},
		"InstanceDetails": api.InstanceDetails{}, "InstanceTree": api.InstanceTree{}, "InstanceList": api.InstanceList{}, "ExecutionList": api.ExecutionList{},
		"History": api.History{}, "BulkStatusRequest": api.BulkStatusRequest{}, "InstanceStatus": api.InstanceStatus{},
		"BulkStatusResponse": api.BulkStatusResponse{}, "OrchestrationStats": api.OrchestrationStats{},
		"ActivityStats": api.ActivityStats{}, "ActivityStatsList": api.ActivityStatsList{},
		"PerformanceMetrics": api.PerformanceMetrics{}, "SystemHealth": api.SystemHealth{},
		"ProblematicInstances": api.ProblematicInstances{}, "QueueMetrics": api.QueueMetrics{}, "Watermark": api.Watermark{},
		"ErrorBody": api.ErrorBody{}, "ErrorInfo": api.ErrorInfo{}, "ReportRow": api.ReportRow{}, "Timeseries": api.Timeseries{},
		"ErrorCount": api.ErrorCount{}, "ErrorGroup": api.ErrorGroup{}, "ErrorsReport": api.ErrorsReport{},
		"InstanceCount": api.InstanceCount{}, "CountGroup": api.CountGroup{},
		"InstanceChange": api.InstanceChange{}, "ChangesReset": api.ChangesReset{},
		"SlowInstance": api.SlowInstance{}, "SlowInstanceList": api.SlowInstanceList{},
		"ActivityCall": api.ActivityCall{}, "ActivityCallList": api.ActivityCallList{},
	}
	for name, v := range types {
		sc, ok := d.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s missing", name)
			continue
		}
		// Every field is a property; those without omitempty are required.
		var fields, required []string
		rt := reflect.TypeOf(v)
		for _, f := range reflect.VisibleFields(rt) {
			if f.Anonymous {
				continue // its fields are promoted: JSON flattens them
			}
			tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields = append(fields, tag)
			if opts != "omitempty" {
				required = append(required, tag)
			}
		}
		var props []string
		for p := range sc.Properties {
			props = append(props, p)
		}
		sort.Strings(fields)
		sort.Strings(required)
		sort.Strings(props)
		req := append([]string(nil), sc.Required...)
		sort.Strings(req)
		if !reflect.DeepEqual(fields, props) || !reflect.DeepEqual(required, req) {
			t.Errorf("schema %s: properties %v, required %v; the Go type has %v", name, props, req, fields)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	h := testHandler(newMem(), func(c *Config) { c.APIToken = "secret" })
	rec := do(h, "GET", "/openapi.json", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != string(openAPIDoc) {
		t.Fatalf("GET /openapi.json: %d %v", rec.Code, rec.Header())
	}
	if rec := do(h, "GET", "/openapi.json?x=1", nil); rec.Code != 400 {
		t.Errorf("unknown parameter: %d", rec.Code)
	}
}
