package query

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/duroscope/duroscope/api"
)

// ListFilter selects and pages GET /v1/instances. Zero values mean "no
// filter"; the HTTP layer has already validated every field.
type ListFilter struct {
	Statuses       []string // Running | Completed | Failed; empty = any
	Orchestration  string   // orchestration_name; "" = any
	CreatedAfter   *int64   // epoch ms, created_at >= it
	CreatedBefore  *int64   // epoch ms, created_at < it
	ParentInstance string   // "" = any
	InstancePrefix string   // "" = any
	// Version is the orchestration version ("" = any).
	Version string
	// UpdatedAfter / UpdatedBefore bound updated_at (epoch ms, >= after,
	// < before).
	UpdatedAfter, UpdatedBefore *int64
	// CustomStatusPrefix keeps instances whose custom status starts with it
	// ("" = any; an instance without custom status never matches).
	CustomStatusPrefix string
	// ErrorKind / ErrorCategory keep instances whose error has this kind /
	// category ("" = any; an instance without error never matches).
	ErrorKind, ErrorCategory string
	// RootOnly keeps instances without a parent (no sub-orchestrations).
	RootOnly bool
	// ActivityTag keeps instances that scheduled an activity with this tag
	// in any execution of their live incarnation, pruned executions
	// included ("" = any; an untagged activity never matches).
	ActivityTag string
	Limit       int // 1..1000
	Offset      int // 0..100000; not together with After
	// After continues after this position (a decoded page_token).
	After *PageCursor
}

// PageCursor is a position in the list order (created_at desc, instance_id
// asc): the last row of a page. The next page is every row strictly after it,
// so pages neither repeat nor skip an instance that existed when the first
// page was read, whatever is inserted meanwhile.
type PageCursor struct {
	CreatedAtMs int64
	InstanceID  string
}

// pageTokenVersion lets the token format change without misreading old
// tokens.
const pageTokenVersion = 1

// MaxInstanceIDBytes is the contract's bound on instance ids.
const MaxInstanceIDBytes = 1024

// ErrBadPageToken is returned by DecodePageToken for anything it did not make.
var ErrBadPageToken = errors.New("not a page token returned as next_page_token")

// EncodePageToken renders c as the opaque next_page_token: base64url (no
// padding) of a version byte, created_at_ms (8 bytes, big endian) and the
// instance id. Every implementation uses it, so a token from one page of
// any of them continues the same list.
func EncodePageToken(c PageCursor) string {
	b := make([]byte, 9, 9+len(c.InstanceID))
	b[0] = pageTokenVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(c.CreatedAtMs))
	b = append(b, c.InstanceID...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodePageToken parses a token made by EncodePageToken.
func DecodePageToken(s string) (PageCursor, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 10 || b[0] != pageTokenVersion {
		return PageCursor{}, ErrBadPageToken
	}
	id := b[9:]
	if len(id) > MaxInstanceIDBytes || !utf8.Valid(id) {
		return PageCursor{}, ErrBadPageToken
	}
	return PageCursor{CreatedAtMs: int64(binary.BigEndian.Uint64(b[1:9])), InstanceID: string(id)}, nil
}

// Matches reports whether the instance s passes f's filters (Limit, Offset
// and After are ignored; ActivityTag is not in a summary: the caller checks
// it against InstanceReader.ActivityTags): the list's semantics (API.md),
// evaluated in Go for the live change feed (GET /v1/instances/changes),
// which cannot ask the store once per subscriber.
// TestMatchesAgreesWithTheOracle holds it to the oracle's list filtering.
func (f *ListFilter) Matches(s *api.InstanceSummary) bool {
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, s.Status) {
		return false
	}
	if f.Orchestration != "" && s.OrchestrationName != f.Orchestration {
		return false
	}
	if f.Version != "" && s.Version != f.Version {
		return false
	}
	if !inRange(int64(s.CreatedAt), f.CreatedAfter, f.CreatedBefore) || !inRange(int64(s.UpdatedAt), f.UpdatedAfter, f.UpdatedBefore) {
		return false
	}
	if f.ParentInstance != "" && (s.ParentInstance == nil || *s.ParentInstance != f.ParentInstance) {
		return false
	}
	if f.RootOnly && s.ParentInstance != nil {
		return false
	}
	if !strings.HasPrefix(s.InstanceID, f.InstancePrefix) {
		return false
	}
	if f.CustomStatusPrefix != "" && (s.CustomStatus == nil || !strings.HasPrefix(*s.CustomStatus, f.CustomStatusPrefix)) {
		return false
	}
	if f.ErrorKind != "" && (s.Error == nil || s.Error.Kind != f.ErrorKind) {
		return false
	}
	if f.ErrorCategory != "" && (s.Error == nil || s.Error.Category != f.ErrorCategory) {
		return false
	}
	return true
}

// inRange is after <= v < before, each bound optional.
func inRange(v int64, after, before *int64) bool {
	return (after == nil || v >= *after) && (before == nil || v < *before)
}
