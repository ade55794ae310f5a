package query

import (
	"context"

	"github.com/duroscope/duroscope/api"
)

// ReadModel answers every read of the query API (API.md). Implementations
// are safe for concurrent use.
type ReadModel interface {
	InstanceReader
	TreeReader
	InstanceLister
	StatsReader
	DrillDownReader
	MonitorReader
	ReportReader
	Pinger
}

// InstanceReader looks instances up by id (primary-key reads). found=false
// means no such instance (or, for History, no such execution).
type InstanceReader interface {
	// Instance answers GET /v1/instances/{id}.
	Instance(ctx context.Context, id string) (s api.InstanceSummary, found bool, err error)
	// Details answers GET /v1/instances/{id}/details.
	Details(ctx context.Context, id string) (d api.InstanceDetails, found bool, err error)
	// Executions answers GET /v1/instances/{id}/executions.
	Executions(ctx context.Context, id string) (l api.ExecutionList, found bool, err error)
	// History answers GET /v1/instances/{id}/history: the stored payloads,
	// one copy per (execution_id, event_id), in that order, within r; when
	// r.Limit cut the page short of the end, NextPageToken continues it
	// (EncodeHistoryToken). An unknown instance, or a given execution
	// without events, is not found; a page past the end of a known one is
	// found and empty.
	History(ctx context.Context, id string, r HistoryRange) (h api.History, found bool, err error)
	// BulkStatus answers POST /v1/bulk/status: one entry per id, in order,
	// duplicates included; unknown ids are NotFound.
	BulkStatus(ctx context.Context, ids []string) (api.BulkStatusResponse, error)
	// Instances answers many GET /v1/instances/{id} at once: the summaries
	// of the live instances among ids, ordered by instance_id, each once;
	// unknown and deleted ids are left out. The live change feed resolves a
	// batch of changed instances with one call.
	Instances(ctx context.Context, ids []string) ([]api.InstanceSummary, error)
	// ActivityTags answers, for the change feed's activity_tag filter, the
	// distinct tags (sorted) of the activities each of ids scheduled, as
	// ListFilter.ActivityTag counts them (any execution, pruned ones
	// included; a deleted incarnation's not); ids without any are absent.
	ActivityTags(ctx context.Context, ids []string) (map[string][]string, error)
}

// TreeReader answers an instance's family.
type TreeReader interface {
	// Tree answers GET /v1/instances/{id}/tree: id's root (parent_instance
	// followed up while the parent is a live instance) and every live
	// instance below it, root first, then by created_at, instance_id. An
	// unknown or deleted id is not found.
	Tree(ctx context.Context, id string) (t api.InstanceTree, found bool, err error)
}

// InstanceLister lists instances in the list order (created_at desc, then
// instance_id asc).
type InstanceLister interface {
	// ListInstances answers GET /v1/instances: one page.
	ListInstances(ctx context.Context, f ListFilter) (api.InstanceList, error)
	// StreamInstances calls emit for every instance matching f (Limit,
	// Offset and After are ignored), in the list order: the streamed export
	// (format=csv|ndjson).
	StreamInstances(ctx context.Context, f ListFilter, emit func(api.InstanceSummary) error) error
	// CountInstances answers GET /v1/instances/count: the instances
	// matching f (Limit, Offset and After are ignored), and with groupBy
	// ("" = none) their counts per key, ordered by key.
	CountInstances(ctx context.Context, f ListFilter, groupBy CountGroupBy) (api.InstanceCount, error)
}

// CountGroupBy is the group_by of GET /v1/instances/count.
type CountGroupBy string

// The keys a count can be grouped by; the zero value groups nothing.
const (
	GroupByStatus        CountGroupBy = "status"
	GroupByOrchestration CountGroupBy = "orchestration"
	GroupByVersion       CountGroupBy = "version"
)

// CountGroupBys are the accepted group_by values.
func CountGroupBys() []CountGroupBy {
	return []CountGroupBy{GroupByStatus, GroupByOrchestration, GroupByVersion}
}

// StatsReader aggregates over instances and activities.
type StatsReader interface {
	// OrchestrationStats answers GET /v1/stats/orchestrations; "" = all.
	OrchestrationStats(ctx context.Context, orchestration string) (api.OrchestrationStats, error)
	// ActivityStats answers GET /v1/stats/activities, sorted by name.
	ActivityStats(ctx context.Context, f ActivityFilter) (api.ActivityStatsList, error)
	// Performance answers GET /v1/stats/performance.
	Performance(ctx context.Context, f PerformanceFilter) (api.PerformanceMetrics, error)
}

// DrillDownReader lists what lies at or above a duration of the stats
// (a percentile shown by Performance or ActivityStats), slowest first.
type DrillDownReader interface {
	// SlowInstances answers GET /v1/stats/performance/instances: one page.
	SlowInstances(ctx context.Context, f SlowInstancesFilter) (api.SlowInstanceList, error)
	// ActivityCalls answers GET /v1/stats/activities/calls: one page.
	ActivityCalls(ctx context.Context, f ActivityCallsFilter) (api.ActivityCallList, error)
}

// MonitorReader answers the operational views: health, problems, queues.
type MonitorReader interface {
	// Health answers GET /v1/health.
	Health(ctx context.Context, p HealthParams) (api.SystemHealth, error)
	// Problems answers GET /v1/problems.
	Problems(ctx context.Context, p ProblemsParams) (api.ProblematicInstances, error)
	// Queues answers GET /v1/queues.
	Queues(ctx context.Context) (api.QueueMetrics, error)
}

// ReportReader answers the reports (docs/reports.md).
type ReportReader interface {
	// Timeseries answers GET /v1/reports/timeseries: emit is called for
	// every non-empty (bucket, group), ordered by bucket start, then group.
	Timeseries(ctx context.Context, q TimeseriesQuery, emit func(api.ReportRow) error) error
	// Errors answers GET /v1/reports/errors.
	Errors(ctx context.Context, q ErrorsQuery) (api.ErrorsReport, error)
}

// Pinger checks that the store answers (/readyz).
type Pinger interface {
	Ping(ctx context.Context) error
}
