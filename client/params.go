package client

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/duroscope/duroscope/api"
)

// ListParams filters GET /v1/instances. Zero values are not sent, so the
// service's defaults apply (limit 100, no filter).
type ListParams struct {
	// Statuses: Running, Completed, Failed (exact case). Several = any of them.
	Statuses      []string
	Orchestration string
	// CreatedAfter / CreatedBefore form the half-open range
	// [CreatedAfter, CreatedBefore) on created_at.
	CreatedAfter   time.Time
	CreatedBefore  time.Time
	ParentInstance string
	InstancePrefix string
	// Version is the orchestration version.
	Version string
	// UpdatedAfter / UpdatedBefore form the half-open range
	// [UpdatedAfter, UpdatedBefore) on updated_at.
	UpdatedAfter  time.Time
	UpdatedBefore time.Time
	// CustomStatusPrefix keeps instances whose custom status starts with it.
	CustomStatusPrefix string
	// ErrorKind / ErrorCategory keep instances whose error has them.
	ErrorKind     string
	ErrorCategory string
	// RootOnly hides sub-orchestrations.
	RootOnly bool
	// ActivityTag keeps instances that scheduled an activity with this tag.
	ActivityTag string
	// Limit is the page size (1..1000); 0 = the service default.
	Limit int
	// Offset skips rows (0..100000); the service rejects it together with
	// PageToken.
	Offset    int
	PageToken string
}

func (p ListParams) values() url.Values {
	q := url.Values{}
	for _, s := range p.Statuses {
		q.Add("status", s)
	}
	setString(q, "orchestration", p.Orchestration)
	setTime(q, "created_after", p.CreatedAfter)
	setTime(q, "created_before", p.CreatedBefore)
	setString(q, "parent_instance", p.ParentInstance)
	setString(q, "instance_prefix", p.InstancePrefix)
	setString(q, "version", p.Version)
	setTime(q, "updated_after", p.UpdatedAfter)
	setTime(q, "updated_before", p.UpdatedBefore)
	setString(q, "custom_status_prefix", p.CustomStatusPrefix)
	setString(q, "error_kind", p.ErrorKind)
	setString(q, "error_category", p.ErrorCategory)
	if p.RootOnly {
		q.Set("root_only", "true")
	}
	setString(q, "activity_tag", p.ActivityTag)
	setInt(q, "limit", p.Limit)
	setInt(q, "offset", p.Offset)
	setString(q, "page_token", p.PageToken)
	return q
}

// HistoryParams selects the events of GET /v1/instances/{id}/history.
type HistoryParams struct {
	// ExecutionID limits the history to one execution; 0 = all executions
	// (Duroxide numbers executions from 1).
	ExecutionID uint64
	// AfterEvent starts after this event (exclusive), "<execution_id>:<event_id>";
	// PageToken continues from a page's NextPageToken (not both).
	AfterEvent string
	PageToken  string
	// Limit caps the events of the page (1..10000); 0 = all.
	Limit int
	// OmitPayloads leaves each event's payload fields out
	// (include_payloads=false); "omitted_bytes" gives their size.
	OmitPayloads bool
}

func (p HistoryParams) values() url.Values {
	q := url.Values{}
	if p.ExecutionID != 0 {
		q.Set("execution_id", strconv.FormatUint(p.ExecutionID, 10))
	}
	setString(q, "after_event", p.AfterEvent)
	setString(q, "page_token", p.PageToken)
	setInt(q, "limit", p.Limit)
	if p.OmitPayloads {
		q.Set("include_payloads", "false")
	}
	return q
}

// ActivityStatsParams filters GET /v1/stats/activities.
type ActivityStatsParams struct {
	// Orchestration matches the name of the execution that scheduled the activity.
	Orchestration string
	// Since applies to the activity's scheduled time (>=).
	Since time.Time
	// IncludeSystem includes Duroxide system calls ("__duroxide_syscall:*").
	IncludeSystem bool
}

func (p ActivityStatsParams) values() url.Values {
	q := url.Values{}
	setString(q, "orchestration", p.Orchestration)
	setTime(q, "since", p.Since)
	if p.IncludeSystem {
		q.Set("include_system", "true")
	}
	return q
}

// PerformanceParams filters GET /v1/stats/performance.
type PerformanceParams struct {
	// Orchestration is required by the contract.
	Orchestration string
	// Since applies to created_at (>=).
	Since time.Time
}

func (p PerformanceParams) values() url.Values {
	q := url.Values{}
	setString(q, "orchestration", p.Orchestration)
	setTime(q, "since", p.Since)
	return q
}

// HealthParams tunes GET /v1/health. Zero durations use the service defaults
// (24h and 1h).
type HealthParams struct {
	LongRunningAfter    time.Duration
	RecentFailureWindow time.Duration
}

func (p HealthParams) values() url.Values {
	q := url.Values{}
	setDuration(q, "long_running_after", p.LongRunningAfter)
	setDuration(q, "recent_failure_window", p.RecentFailureWindow)
	return q
}

// ProblemsParams tunes GET /v1/problems. Zero values use the service
// defaults (24h, 1h, 24h, 100).
type ProblemsParams struct {
	LongRunningAfter    time.Duration
	StuckAfter          time.Duration
	RecentFailureWindow time.Duration
	// Limit applies to each list (1..1000).
	Limit int
}

func (p ProblemsParams) values() url.Values {
	q := url.Values{}
	setDuration(q, "long_running_after", p.LongRunningAfter)
	setDuration(q, "stuck_after", p.StuckAfter)
	setDuration(q, "recent_failure_window", p.RecentFailureWindow)
	setInt(q, "limit", p.Limit)
	return q
}

// ReportParams queries GET /v1/reports/timeseries, an endpoint that is
// planned on the service side and not part of API.md yet; the parameter
// names follow the plan (bucket, from, to, group_by).
type ReportParams struct {
	Bucket time.Duration
	From   time.Time
	To     time.Time
	// GroupBy is sent as one comma-separated group_by value.
	GroupBy []string
}

func (p ReportParams) values() url.Values {
	q := url.Values{}
	setDuration(q, "bucket", p.Bucket)
	setTime(q, "from", p.From)
	setTime(q, "to", p.To)
	if len(p.GroupBy) > 0 {
		q.Set("group_by", strings.Join(p.GroupBy, ","))
	}
	return q
}

// Export formats of GET /v1/instances?format=...
const (
	FormatCSV    = "csv"
	FormatNDJSON = "ndjson"
)

// ExportParams streams GET /v1/instances?format=csv|ndjson, planned on the
// service side and not part of API.md yet. The list filters apply as in
// ListInstances.
type ExportParams struct {
	// Format is FormatCSV or FormatNDJSON.
	Format string
	ListParams
}

func (p ExportParams) values() url.Values {
	q := p.ListParams.values()
	q.Set("format", p.Format)
	return q
}

func setString(q url.Values, key, v string) {
	if v != "" {
		q.Set(key, v)
	}
}

func setInt(q url.Values, key string, v int) {
	if v != 0 {
		q.Set(key, strconv.Itoa(v))
	}
}

func setTime(q url.Values, key string, t time.Time) {
	if !t.IsZero() {
		q.Set(key, FormatTime(t))
	}
}

func setDuration(q url.Values, key string, d time.Duration) {
	if d != 0 {
		q.Set(key, FormatDuration(d))
	}
}

// FormatTime renders t in the contract's parameter form
// (YYYY-MM-DDTHH:MM:SS.mmmZ). The read model stores whole milliseconds and
// every time filter is ">= t" or "< t", so rounding t *up* to the next
// millisecond keeps both comparisons exact for sub-millisecond inputs
// (created_at >= t  <=>  created_at >= ceil_ms(t), likewise for <).
func FormatTime(t time.Time) string {
	if tr := t.Truncate(time.Millisecond); !tr.Equal(t) {
		t = tr.Add(time.Millisecond)
	}
	return t.UTC().Format(api.TimeLayout)
}

// FormatDuration renders d in Go duration syntax without the zero units
// time.Duration.String adds ("24h" rather than "24h0m0s"); both forms parse
// with time.ParseDuration, this one is just easier to read in logs.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// EscapeInstanceID percent-encodes an instance id as one path segment: every
// byte outside RFC 3986's unreserved set (A-Z a-z 0-9 - . _ ~) becomes %XX,
// '/' included. url.PathEscape is not enough: it keeps sub-delimiters and ':'
// and '@', which some proxies rewrite. The dot segments "." and ".." are
// written as %2E so that no client library or proxy resolves them; the
// service decodes a segment exactly once, so it sees the original id.
func EscapeInstanceID(id string) string {
	if id == "." || id == ".." {
		return strings.Repeat("%2E", len(id))
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(id))
	for i := 0; i < len(id); i++ {
		c := id[i]
		if isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0f])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	case c == '-', c == '.', c == '_', c == '~':
		return true
	}
	return false
}
