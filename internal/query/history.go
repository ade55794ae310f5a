package query

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxHistoryLimit bounds the events of one history page (API.md
// "Additions").
const MaxHistoryLimit = 10000

// EventKey is an event's place in a history: (execution_id, event_id).
type EventKey struct {
	ExecutionID uint64
	EventID     uint64
}

// Less reports whether k comes before o in the history's order.
func (k EventKey) Less(o EventKey) bool {
	return k.ExecutionID < o.ExecutionID || (k.ExecutionID == o.ExecutionID && k.EventID < o.EventID)
}

// String is the after_event form, "<execution_id>:<event_id>".
func (k EventKey) String() string { return fmt.Sprintf("%d:%d", k.ExecutionID, k.EventID) }

// ParseEventKey parses the after_event form.
func ParseEventKey(s string) (EventKey, error) {
	x, e, ok := strings.Cut(s, ":")
	if !ok {
		return EventKey{}, errors.New(`want "<execution_id>:<event_id>"`)
	}
	xi, err1 := strconv.ParseUint(x, 10, 64)
	ei, err2 := strconv.ParseUint(e, 10, 64)
	if err1 != nil || err2 != nil || strconv.FormatUint(xi, 10) != x || strconv.FormatUint(ei, 10) != e {
		return EventKey{}, errors.New(`want "<execution_id>:<event_id>", two decimal integers`)
	}
	return EventKey{ExecutionID: xi, EventID: ei}, nil
}

// HistoryRange selects the events of GET /v1/instances/{id}/history: one
// execution or all (ExecutionID 0), those strictly after After (nil = from
// the start), at most Limit of them (0 = all).
type HistoryRange struct {
	ExecutionID uint64
	After       *EventKey
	Limit       int
}

// historyTokenPrefix versions the history page token.
const historyTokenPrefix = "h1:"

// EncodeHistoryToken renders the key of a page's last event as the opaque
// next_page_token of a history page; every implementation uses it.
func EncodeHistoryToken(last EventKey) string {
	return base64.RawURLEncoding.EncodeToString([]byte(historyTokenPrefix + last.String()))
}

// DecodeHistoryToken parses a token made by EncodeHistoryToken.
func DecodeHistoryToken(s string) (EventKey, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), historyTokenPrefix) {
		return EventKey{}, errors.New("not a next_page_token of a history page")
	}
	k, err := ParseEventKey(strings.TrimPrefix(string(b), historyTokenPrefix))
	if err != nil {
		return EventKey{}, errors.New("not a next_page_token of a history page")
	}
	return k, nil
}
