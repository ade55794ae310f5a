package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"

	"github.com/duroscope/duroscope/api"
)

// ErrEmptyInstanceID is returned, without a request, for an empty instance id.
var ErrEmptyInstanceID = errors.New("duroscope: instance id is empty")

func instancePath(id, suffix string) (string, error) {
	if id == "" {
		return "", ErrEmptyInstanceID
	}
	return "/v1/instances/" + EscapeInstanceID(id) + suffix, nil
}

func get(path string, q url.Values) request {
	return request{method: http.MethodGet, path: path, query: q}
}

// ListInstances returns one page of GET /v1/instances.
func (c *Client) ListInstances(ctx context.Context, p ListParams) (api.InstanceList, error) {
	var out api.InstanceList
	err := c.getJSON(ctx, get("/v1/instances", p.values()), &out)
	return out, err
}

// CountInstances calls GET /v1/instances/count: how many instances match
// p's filters (its Limit, Offset and PageToken must be zero: the service
// refuses paging here), and with groupBy ("status", "orchestration" or
// "version"; "" = none) the count per key.
func (c *Client) CountInstances(ctx context.Context, p ListParams, groupBy string) (api.InstanceCount, error) {
	if p.Limit != 0 || p.Offset != 0 || p.PageToken != "" {
		return api.InstanceCount{}, fmt.Errorf("duroscope: count instances: Limit, Offset and PageToken do not apply to a count")
	}
	q := p.values()
	setString(q, "group_by", groupBy)
	var out api.InstanceCount
	err := c.getJSON(ctx, get("/v1/instances/count", q), &out)
	return out, err
}

// Instances iterates over every instance that matches p, following
// next_page_token page by page. An error is yielded once, as the last
// element. p.Offset (if any) applies to the first page only: the contract
// forbids it together with a page token.
func (c *Client) Instances(ctx context.Context, p ListParams) iter.Seq2[api.InstanceSummary, error] {
	return func(yield func(api.InstanceSummary, error) bool) {
		for {
			page, err := c.ListInstances(ctx, p)
			if err != nil {
				yield(api.InstanceSummary{}, err)
				return
			}
			for _, s := range page.Instances {
				if !yield(s, nil) {
					return
				}
			}
			if page.NextPageToken == nil {
				return
			}
			// A token that repeats the one just sent would loop forever.
			if *page.NextPageToken == p.PageToken {
				yield(api.InstanceSummary{}, fmt.Errorf("duroscope: GET /v1/instances: the service returned page token %q again", p.PageToken))
				return
			}
			p.PageToken, p.Offset = *page.NextPageToken, 0
		}
	}
}

// Instance returns GET /v1/instances/{id}.
func (c *Client) Instance(ctx context.Context, id string) (api.InstanceSummary, error) {
	var out api.InstanceSummary
	path, err := instancePath(id, "")
	if err != nil {
		return out, err
	}
	err = c.getJSON(ctx, get(path, nil), &out)
	return out, err
}

// Details returns GET /v1/instances/{id}/details.
func (c *Client) Details(ctx context.Context, id string) (api.InstanceDetails, error) {
	var out api.InstanceDetails
	path, err := instancePath(id, "/details")
	if err != nil {
		return out, err
	}
	err = c.getJSON(ctx, get(path, nil), &out)
	return out, err
}

// Executions returns GET /v1/instances/{id}/executions (ascending).
func (c *Client) Executions(ctx context.Context, id string) ([]api.ExecutionSummary, error) {
	path, err := instancePath(id, "/executions")
	if err != nil {
		return nil, err
	}
	var out api.ExecutionList
	err = c.getJSON(ctx, get(path, nil), &out)
	return out.Executions, err
}

// Tree returns GET /v1/instances/{id}/tree: the instance's root and every
// descendant, root first.
func (c *Client) Tree(ctx context.Context, id string) (api.InstanceTree, error) {
	var out api.InstanceTree
	path, err := instancePath(id, "/tree")
	if err != nil {
		return out, err
	}
	err = c.getJSON(ctx, get(path, nil), &out)
	return out, err
}

// History returns the stored events of GET /v1/instances/{id}/history,
// exactly as published, ordered by (execution_id, event_id).
func (c *Client) History(ctx context.Context, id string, p HistoryParams) ([]json.RawMessage, error) {
	path, err := instancePath(id, "/history")
	if err != nil {
		return nil, err
	}
	var out api.History
	err = c.getJSON(ctx, get(path, p.values()), &out)
	return out.Events, err
}

// HistoryPage returns one page of GET /v1/instances/{id}/history: with
// p.Limit set, NextPageToken is non-nil while more events follow (pass it
// as p.PageToken for the next page).
func (c *Client) HistoryPage(ctx context.Context, id string, p HistoryParams) (api.History, error) {
	path, err := instancePath(id, "/history")
	if err != nil {
		return api.History{}, err
	}
	var out api.History
	err = c.getJSON(ctx, get(path, p.values()), &out)
	return out, err
}

// BulkStatus returns POST /v1/bulk/status: one status per id, in request
// order (duplicates included); unknown ids are "NotFound".
func (c *Client) BulkStatus(ctx context.Context, ids []string) ([]api.InstanceStatus, error) {
	body, err := json.Marshal(api.BulkStatusRequest{InstanceIDs: ids})
	if err != nil {
		return nil, fmt.Errorf("duroscope: encoding bulk status request: %w", err)
	}
	var out api.BulkStatusResponse
	err = c.getJSON(ctx, request{method: http.MethodPost, path: "/v1/bulk/status", body: body}, &out)
	return out.Statuses, err
}

// OrchestrationStats returns GET /v1/stats/orchestrations; orchestration ""
// = all orchestrations.
func (c *Client) OrchestrationStats(ctx context.Context, orchestration string) (api.OrchestrationStats, error) {
	q := url.Values{}
	if orchestration != "" {
		q.Set("orchestration", orchestration)
	}
	var out api.OrchestrationStats
	err := c.getJSON(ctx, get("/v1/stats/orchestrations", q), &out)
	return out, err
}

// ActivityStats returns GET /v1/stats/activities, sorted by activity name.
func (c *Client) ActivityStats(ctx context.Context, p ActivityStatsParams) ([]api.ActivityStats, error) {
	var out api.ActivityStatsList
	err := c.getJSON(ctx, get("/v1/stats/activities", p.values()), &out)
	return out.Activities, err
}

// Performance returns GET /v1/stats/performance. p.Orchestration is required.
func (c *Client) Performance(ctx context.Context, p PerformanceParams) (api.PerformanceMetrics, error) {
	var out api.PerformanceMetrics
	if p.Orchestration == "" {
		return out, errors.New("duroscope: performance metrics need an orchestration name")
	}
	err := c.getJSON(ctx, get("/v1/stats/performance", p.values()), &out)
	return out, err
}

// Health returns GET /v1/health.
func (c *Client) Health(ctx context.Context, p HealthParams) (api.SystemHealth, error) {
	var out api.SystemHealth
	err := c.getJSON(ctx, get("/v1/health", p.values()), &out)
	return out, err
}

// Problems returns GET /v1/problems.
func (c *Client) Problems(ctx context.Context, p ProblemsParams) (api.ProblematicInstances, error) {
	var out api.ProblematicInstances
	err := c.getJSON(ctx, get("/v1/problems", p.values()), &out)
	return out, err
}

// Queues returns GET /v1/queues.
func (c *Client) Queues(ctx context.Context) (api.QueueMetrics, error) {
	var out api.QueueMetrics
	err := c.getJSON(ctx, get("/v1/queues", nil), &out)
	return out, err
}

// Watermark returns GET /v1/watermark.
func (c *Client) Watermark(ctx context.Context) (api.Watermark, error) {
	var out api.Watermark
	err := c.getJSON(ctx, get("/v1/watermark", nil), &out)
	return out, err
}

// Healthz returns nil when GET /healthz answers 2xx (the process is up).
func (c *Client) Healthz(ctx context.Context) error {
	return c.noBody(ctx, get("/healthz", nil))
}

// Readyz returns nil when GET /readyz answers 2xx (ClickHouse answers); a
// not-ready service gives an *APIError with status 503.
func (c *Client) Readyz(ctx context.Context) error {
	return c.noBody(ctx, get("/readyz", nil))
}

// Report returns GET /v1/reports/timeseries as raw JSON. The endpoint is
// planned on the service side and not in API.md yet, so its answer has no
// Go type here.
func (c *Client) Report(ctx context.Context, p ReportParams) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.getJSON(ctx, get("/v1/reports/timeseries", p.values()), &out)
	return out, err
}

// Export streams GET /v1/instances?format=csv|ndjson (planned on the service
// side, not in API.md yet). The caller must close the returned body; with
// WithTimeout the timeout covers reading it.
func (c *Client) Export(ctx context.Context, p ExportParams) (io.ReadCloser, error) {
	accept := ""
	switch p.Format {
	case FormatCSV:
		accept = "text/csv"
	case FormatNDJSON:
		accept = "application/x-ndjson"
	default:
		return nil, fmt.Errorf("duroscope: export format %q: want %q or %q", p.Format, FormatCSV, FormatNDJSON)
	}
	r := get("/v1/instances", p.values())
	r.accept = accept
	resp, done, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	return &streamBody{ReadCloser: resp.Body, done: done}, nil
}
