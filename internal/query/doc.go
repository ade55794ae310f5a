// Package query is the query side's port: what the HTTP API (internal/httpapi)
// needs of a read model, declared here, beside its user, and implemented by
// adapters that the query side never imports — the ClickHouse reader
// (readmodel) and the independent replay oracle (internal/oracle).
//
// The contract:
//
//   - ReadModel is composed of small interfaces (InstanceReader,
//     InstanceLister, StatsReader, MonitorReader, ReportReader, Pinger), so a
//     consumer that needs one part can say so. Answers are the public api
//     types, exactly as API.md defines them; the parameter types (ListFilter,
//     PageCursor, ActivityFilter, PerformanceFilter, HealthParams,
//     ProblemsParams, TimeseriesQuery, ErrorsQuery) live here and arrive
//     validated by the HTTP layer.
//   - A missing instance is not an error: lookups return found=false.
//   - Errors come in two classes. An error that wraps ErrUnavailable means the
//     store is unreachable, overloaded or did not answer in time: the request
//     may succeed later (HTTP 503 with Retry-After). Any other error is a
//     defect — a malformed query, a schema mismatch, a bug — that retrying
//     will not cure (HTTP 500; its text is logged server-side, never sent to
//     the client). Adapters classify their errors, because only they know
//     their store's error codes. An error returned by an emit callback is
//     passed back as it is.
//
// The package imports no adapter and does no I/O; the contract tests that
// every implementation must pass are in querytest.
package query
