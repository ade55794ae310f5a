package query

import "time"

// ActivityFilter selects the activities of GET /v1/stats/activities.
type ActivityFilter struct {
	// Orchestration matches the name of the execution that scheduled the
	// activity; "" = any.
	Orchestration string
	// Since keeps activities scheduled at or after it (epoch ms); nil = all.
	Since *int64
	// IncludeSystem keeps __duroxide_syscall: activities.
	IncludeSystem bool
}

// PerformanceFilter selects the instances of GET /v1/stats/performance.
type PerformanceFilter struct {
	Orchestration string // required
	Since         *int64 // created_at >= it (epoch ms); nil = all
}

// HealthParams are GET /v1/health's inputs.
type HealthParams struct {
	Now                 time.Time
	LongRunningAfter    time.Duration // Running and created_at < now − it
	RecentFailureWindow time.Duration // Failed and updated_at >= now − it
}

// ProblemsParams are GET /v1/problems' inputs.
type ProblemsParams struct {
	Now                 time.Time
	LongRunningAfter    time.Duration // Running and created_at < now − it
	StuckAfter          time.Duration // Running, not long-running, updated_at < now − it
	RecentFailureWindow time.Duration // Failed and updated_at >= now − it
	// Limit bounds each list, slower_than_usual included (Running and
	// created_at < now − the p99 of its orchestration's durations as
	// GET /v1/stats/performance measures them without since).
	Limit int
}
