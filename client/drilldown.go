package client

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/duroscope/duroscope/api"
)

// The percentile drill-downs: what lies at or above a duration shown by
// Performance or ActivityStats, slowest first, one page per call.

// SlowInstancesParams selects GET /v1/stats/performance/instances.
type SlowInstancesParams struct {
	// Orchestration is required, as for Performance.
	Orchestration string
	// Since applies to created_at (>=), as for Performance.
	Since time.Time
	// MinDurationMs keeps instances whose duration_ms is at least it: a
	// percentile of Performance's answer lists exactly those at or above it.
	// nil = no bound (durations may be negative).
	MinDurationMs *int64
	// Limit is the page size (1..1000); 0 = the service default (100).
	Limit int
	// PageToken continues after a page (its NextPageToken).
	PageToken string
}

func (p SlowInstancesParams) values() url.Values {
	q := url.Values{}
	setString(q, "orchestration", p.Orchestration)
	setTime(q, "since", p.Since)
	setOptInt64(q, "min_duration_ms", p.MinDurationMs)
	setInt(q, "limit", p.Limit)
	setString(q, "page_token", p.PageToken)
	return q
}

// SlowInstances returns one page of GET /v1/stats/performance/instances.
func (c *Client) SlowInstances(ctx context.Context, p SlowInstancesParams) (api.SlowInstanceList, error) {
	var out api.SlowInstanceList
	if p.Orchestration == "" {
		return out, errors.New("duroscope: slow instances need an orchestration name")
	}
	err := c.getJSON(ctx, get("/v1/stats/performance/instances", p.values()), &out)
	return out, err
}

// ActivityCallsParams selects GET /v1/stats/activities/calls.
type ActivityCallsParams struct {
	// Activity is required.
	Activity string
	// Orchestration, Since and IncludeSystem mean what they mean for
	// ActivityStats.
	ActivityStatsParams
	// MinDurationMs keeps calls whose duration_ms is at least it; nil = no
	// bound.
	MinDurationMs *int64
	// Limit is the page size (1..1000); 0 = the service default (100).
	Limit int
	// PageToken continues after a page (its NextPageToken).
	PageToken string
}

func (p ActivityCallsParams) values() url.Values {
	q := p.ActivityStatsParams.values()
	setString(q, "activity", p.Activity)
	setOptInt64(q, "min_duration_ms", p.MinDurationMs)
	setInt(q, "limit", p.Limit)
	setString(q, "page_token", p.PageToken)
	return q
}

// ActivityCalls returns one page of GET /v1/stats/activities/calls.
func (c *Client) ActivityCalls(ctx context.Context, p ActivityCallsParams) (api.ActivityCallList, error) {
	var out api.ActivityCallList
	if p.Activity == "" {
		return out, errors.New("duroscope: activity calls need an activity name")
	}
	err := c.getJSON(ctx, get("/v1/stats/activities/calls", p.values()), &out)
	return out, err
}

func setOptInt64(q url.Values, key string, v *int64) {
	if v != nil {
		q.Set(key, strconv.FormatInt(*v, 10))
	}
}
