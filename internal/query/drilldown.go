package query

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// SlowInstancesFilter selects and pages GET /v1/stats/performance/instances:
// the instances GET /v1/stats/performance measures (Completed and Failed,
// with a duration) whose duration is at least MinDurationMs, slowest first.
// Given a percentile p of that answer as MinDurationMs, the list holds
// exactly the instances with duration >= p. Durations may be negative (a
// source clock that went back), so "no bound" is nil, not 0.
type SlowInstancesFilter struct {
	Orchestration string // required
	Since         *int64 // created_at >= it (epoch ms); nil = all
	MinDurationMs *int64 // duration_ms >= it; nil = no bound
	Limit         int    // 1..1000
	// After continues after this position (a decoded page_token); its
	// ExecutionID and EventID are 0.
	After *SlowCursor
}

// ActivityCallsFilter selects and pages GET /v1/stats/activities/calls: the
// timed calls (Completed and Failed) GET /v1/stats/activities measures for
// one activity name with the same Orchestration, Since and IncludeSystem,
// whose duration is at least MinDurationMs, slowest first.
type ActivityCallsFilter struct {
	Activity string // required
	ActivityFilter
	MinDurationMs *int64 // duration_ms >= it; nil = no bound
	Limit         int    // 1..1000
	// After continues after this position (a decoded page_token).
	After *SlowCursor
}

// SlowCursor is a position in a drill-down's order (duration desc, then
// instance_id, execution_id, event_id asc): the last row of a page. The
// next page is every row strictly after it.
type SlowCursor struct {
	DurationMs  int64
	InstanceID  string
	ExecutionID uint64
	EventID     uint64
}

// Less reports whether row a comes before row b in the drill-down order.
func (a SlowCursor) Less(b SlowCursor) bool {
	switch {
	case a.DurationMs != b.DurationMs:
		return a.DurationMs > b.DurationMs
	case a.InstanceID != b.InstanceID:
		return a.InstanceID < b.InstanceID
	case a.ExecutionID != b.ExecutionID:
		return a.ExecutionID < b.ExecutionID
	}
	return a.EventID < b.EventID
}

// slowTokenVersion tells drill-down tokens from list tokens (version 1).
const slowTokenVersion = 2

// ErrBadSlowToken is returned by DecodeSlowToken for anything it did not make.
var ErrBadSlowToken = errors.New("not a page token returned as next_page_token by a drill-down")

// EncodeSlowToken renders c as a drill-down's opaque next_page_token:
// base64url (no padding) of a version byte, duration, execution id and
// event id (8 bytes each, big endian) and the instance id.
func EncodeSlowToken(c SlowCursor) string {
	b := make([]byte, 25, 25+len(c.InstanceID))
	b[0] = slowTokenVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(c.DurationMs))
	binary.BigEndian.PutUint64(b[9:17], c.ExecutionID)
	binary.BigEndian.PutUint64(b[17:25], c.EventID)
	b = append(b, c.InstanceID...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeSlowToken parses a token made by EncodeSlowToken.
func DecodeSlowToken(s string) (SlowCursor, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 26 || b[0] != slowTokenVersion {
		return SlowCursor{}, ErrBadSlowToken
	}
	id := b[25:]
	if len(id) > MaxInstanceIDBytes || !utf8.Valid(id) {
		return SlowCursor{}, ErrBadSlowToken
	}
	return SlowCursor{
		DurationMs:  int64(binary.BigEndian.Uint64(b[1:9])),
		ExecutionID: binary.BigEndian.Uint64(b[9:17]),
		EventID:     binary.BigEndian.Uint64(b[17:25]),
		InstanceID:  string(id),
	}, nil
}
