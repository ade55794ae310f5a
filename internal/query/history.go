package query

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
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

// payloadFields are the event fields that carry an application's data
// (EVENTS.md's variant table): inputs, outputs, results, event data, KV
// values and the events carried into a new execution.
var payloadFields = map[string]bool{
	"input": true, "output": true, "result": true, "data": true, "value": true, "carry_forward_events": true,
}

// OmitPayloads rewrites one event without its payload fields, keeping every
// other field and their order; when it removed any, it adds
// "omitted_bytes": the size of the removed values. An event without
// payload fields is returned as it is.
func OmitPayloads(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("omit payloads: not a JSON object")
	}
	var out bytes.Buffer
	out.WriteByte('{')
	omitted, n := 0, 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("omit payloads: %w", err)
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("omit payloads: field %q: %w", key, err)
		}
		if payloadFields[key] && string(v) != "null" {
			omitted += len(v)
			continue
		}
		if n > 0 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(v)
		n++
	}
	if omitted == 0 {
		return raw, nil
	}
	if n > 0 {
		out.WriteByte(',')
	}
	fmt.Fprintf(&out, `"omitted_bytes":%d}`, omitted)
	return out.Bytes(), nil
}
