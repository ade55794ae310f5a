package events

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Marshal encodes e in Duroxide's serde_json form: common fields in the order
// event_id, source_event_id, instance_id, execution_id, timestamp_ms,
// duroxide_version, type, then the variant's fields in EVENTS.md's order.
//
// Optional fields follow Duroxide's serde attributes, which is what the
// fixtures show:
//   - source_event_id, OrchestrationStarted.parent_instance/parent_id and
//     CustomStatusUpdated.status are plain Options: always written, null when
//     not Valid;
//   - OrchestrationStarted.carry_forward_events (written when non-nil),
//     initial_custom_status, ActivityScheduled.session_id and tag are
//     skip_serializing_if = "Option::is_none": written only when set;
//   - KeyValueSet.last_updated_at_ms is a serde-default u64 in Duroxide; it is
//     written when Valid and left out otherwise (writing 0 would turn "absent"
//     into a value and break Decode(Marshal(e)) == e).
//
// duroxide_version is always written (possibly ""). For *Failed events the
// `details` value is DetailsRaw verbatim when set (the original ErrorDetails,
// including fields the projection drops), else a wire form synthesised from
// Details (see appendDetails). An event of an unknown type is returned as its
// Raw bytes (the same slice, not a copy) when Raw is set; otherwise only the
// common fields are written.
//
// Marshal does not validate e: a string that is not valid UTF-8 has its bad
// bytes replaced by U+FFFD, and a *Failed event without Details or DetailsRaw
// gets "details":null (which Decode rejects).
func Marshal(e *Event) []byte {
	known := isKnownType(e.Type)
	if !known && e.Raw != nil {
		return e.Raw
	}
	// Size estimate: fixed text plus the strings (escapes may add a little;
	// append copes).
	n := 200 + len(e.InstanceID) + len(e.DuroxideVersion) + len(e.Type) + len(e.Name) + len(e.Version) +
		len(e.Input) + len(e.Output) + len(e.Result) + len(e.Data) + len(e.Reason) + len(e.Instance) +
		len(e.ParentInstance.Value) + len(e.InitialCustomStatus.Value) + len(e.Status.Value) +
		len(e.SessionID.Value) + len(e.Tag.Value) + len(e.Key) + len(e.Value) + len(e.DetailsRaw)
	for _, p := range e.CarryForwardEvents {
		n += len(p[0]) + len(p[1]) + 6
	}
	if e.Details != nil && e.DetailsRaw == nil {
		n += 80 + len(e.Details.Kind) + len(e.Details.Message)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, `{"event_id":`...)
	buf = strconv.AppendUint(buf, e.EventID, 10)
	buf = append(buf, `,"source_event_id":`...)
	buf = appendOptUint(buf, e.SourceEventID)
	buf = append(buf, `,"instance_id":`...)
	buf = appendString(buf, e.InstanceID)
	buf = append(buf, `,"execution_id":`...)
	buf = strconv.AppendUint(buf, e.ExecutionID, 10)
	buf = append(buf, `,"timestamp_ms":`...)
	buf = strconv.AppendUint(buf, e.TimestampMs, 10)
	buf = append(buf, `,"duroxide_version":`...)
	buf = appendString(buf, e.DuroxideVersion)
	buf = append(buf, `,"type":`...)
	buf = appendString(buf, e.Type)

	switch e.Type {
	case TypeOrchestrationStarted:
		buf = appendStrField(buf, "name", e.Name)
		buf = appendStrField(buf, "version", e.Version)
		buf = appendStrField(buf, "input", e.Input)
		buf = append(buf, `,"parent_instance":`...)
		buf = appendOptString(buf, e.ParentInstance)
		buf = append(buf, `,"parent_id":`...)
		buf = appendOptUint(buf, e.ParentID)
		if e.CarryForwardEvents != nil {
			buf = append(buf, `,"carry_forward_events":[`...)
			for i, p := range e.CarryForwardEvents {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, '[')
				buf = appendString(buf, p[0])
				buf = append(buf, ',')
				buf = appendString(buf, p[1])
				buf = append(buf, ']')
			}
			buf = append(buf, ']')
		}
		if e.InitialCustomStatus.Valid {
			buf = appendStrField(buf, "initial_custom_status", e.InitialCustomStatus.Value)
		}
	case TypeOrchestrationCompleted:
		buf = appendStrField(buf, "output", e.Output)
	case TypeOrchestrationFailed, TypeActivityFailed, TypeSubOrchestrationFailed:
		buf = append(buf, `,"details":`...)
		switch {
		case e.DetailsRaw != nil:
			buf = append(buf, e.DetailsRaw...)
		case e.Details != nil:
			buf = appendDetails(buf, e.Details)
		default:
			buf = append(buf, "null"...)
		}
	case TypeOrchestrationContinuedAsNew:
		buf = appendStrField(buf, "input", e.Input)
	case TypeOrchestrationCancelRequested, TypeActivityCancelRequested, TypeExternalSubscribedCancelled,
		TypeExternalSubscribedPersistentCancelled, TypeSubOrchestrationCancelRequested:
		buf = appendStrField(buf, "reason", e.Reason)
	case TypeOrchestrationChained, TypeSubOrchestrationScheduled:
		buf = appendStrField(buf, "name", e.Name)
		buf = appendStrField(buf, "instance", e.Instance)
		buf = appendStrField(buf, "input", e.Input)
	case TypeActivityScheduled:
		buf = appendStrField(buf, "name", e.Name)
		buf = appendStrField(buf, "input", e.Input)
		if e.SessionID.Valid {
			buf = appendStrField(buf, "session_id", e.SessionID.Value)
		}
		if e.Tag.Valid {
			buf = appendStrField(buf, "tag", e.Tag.Value)
		}
	case TypeActivityCompleted, TypeSubOrchestrationCompleted:
		buf = appendStrField(buf, "result", e.Result)
	case TypeTimerCreated, TypeTimerFired:
		buf = append(buf, `,"fire_at_ms":`...)
		buf = strconv.AppendUint(buf, e.FireAtMs, 10)
	case TypeExternalSubscribed, TypeExternalSubscribedPersistent:
		buf = appendStrField(buf, "name", e.Name)
	case TypeExternalEvent, TypeExternalEventPersistent:
		buf = appendStrField(buf, "name", e.Name)
		buf = appendStrField(buf, "data", e.Data)
	case TypeCustomStatusUpdated:
		buf = append(buf, `,"status":`...)
		buf = appendOptString(buf, e.Status)
	case TypeKeyValueSet:
		buf = appendStrField(buf, "key", e.Key)
		buf = appendStrField(buf, "value", e.Value)
		if e.LastUpdatedAtMs.Valid {
			buf = append(buf, `,"last_updated_at_ms":`...)
			buf = strconv.AppendUint(buf, e.LastUpdatedAtMs.Value, 10)
		}
	case TypeKeyValueCleared:
		buf = appendStrField(buf, "key", e.Key)
	case TypeKeyValuesCleared:
	}
	buf = append(buf, '}')
	return buf
}

// appendDetails synthesises Duroxide's externally tagged ErrorDetails from
// its projection, choosing the form that Decode projects back to d:
//   - application: {"Application":{"kind":K,"message":M,"retryable":R}}; a
//     kind "Cancelled" whose message is "canceled: <reason>" becomes the
//     struct form {"kind":{"Cancelled":{"reason":...}},"message":""}.
//   - infrastructure: {"Infrastructure":{"operation":K,"message":M,"retryable":R}}.
//   - configuration: {"Configuration":{"kind":K,"resource":"","message":M}}.
//   - poison: {"Poison":{"message":M}} (attempt counts and message_type are
//     not part of the projection, so they cannot be reproduced).
//   - anything else: {"<Category with first letter upper-cased>":{}}.
//
// Configuration, Poison and unknown categories carry no retryable flag in
// Duroxide; "retryable":true is added only if d says so, so that the round
// trip still holds for such (non-Duroxide) values.
func appendDetails(buf []byte, d *ErrorDetails) []byte {
	retryTail := func(buf []byte) []byte {
		if d.Retryable {
			buf = append(buf, `,"retryable":true`...)
		}
		return buf
	}
	switch d.Category {
	case "application":
		buf = append(buf, `{"Application":{"kind":`...)
		if reason, ok := strings.CutPrefix(d.Message, cancelledPrefix); ok && d.Kind == "Cancelled" {
			buf = append(buf, `{"Cancelled":{"reason":`...)
			buf = appendString(buf, reason)
			buf = append(buf, `}},"message":""`...)
		} else {
			buf = appendString(buf, d.Kind)
			buf = append(buf, `,"message":`...)
			buf = appendString(buf, d.Message)
		}
		buf = append(buf, `,"retryable":`...)
		buf = strconv.AppendBool(buf, d.Retryable)
		buf = append(buf, "}}"...)
	case "infrastructure":
		buf = append(buf, `{"Infrastructure":{"operation":`...)
		buf = appendString(buf, d.Kind)
		buf = append(buf, `,"message":`...)
		buf = appendString(buf, d.Message)
		buf = append(buf, `,"retryable":`...)
		buf = strconv.AppendBool(buf, d.Retryable)
		buf = append(buf, "}}"...)
	case "configuration":
		buf = append(buf, `{"Configuration":{"kind":`...)
		buf = appendString(buf, d.Kind)
		buf = append(buf, `,"resource":"","message":`...)
		buf = appendString(buf, d.Message)
		buf = retryTail(buf)
		buf = append(buf, "}}"...)
	case "poison":
		buf = append(buf, `{"Poison":{"message":`...)
		buf = appendString(buf, d.Message)
		buf = retryTail(buf)
		buf = append(buf, "}}"...)
	default:
		key := d.Category
		if key != "" && key[0] >= 'a' && key[0] <= 'z' {
			key = string(key[0]-'a'+'A') + key[1:]
		}
		buf = append(buf, '{')
		buf = appendString(buf, key)
		buf = append(buf, ":{}}"...)
	}
	return buf
}

// cancelledPrefix starts the projected message of Application's Cancelled kind.
const cancelledPrefix = "canceled: "

func appendStrField(buf []byte, name, v string) []byte {
	buf = append(buf, ',', '"')
	buf = append(buf, name...)
	buf = append(buf, '"', ':')
	return appendString(buf, v)
}

func appendOptUint(buf []byte, v OptUint) []byte {
	if !v.Valid {
		return append(buf, "null"...)
	}
	return strconv.AppendUint(buf, v.Value, 10)
}

func appendOptString(buf []byte, v OptString) []byte {
	if !v.Valid {
		return append(buf, "null"...)
	}
	return appendString(buf, v.Value)
}

const hexLower = "0123456789abcdef"

// appendString writes s as a JSON string exactly as serde_json does: only
// '"', '\\' and control characters are escaped (\b \t \n \f \r short forms,
// the others as \u00xx in lower-case hex); everything else, including '/',
// DEL and non-ASCII, is written as is. Invalid UTF-8 becomes U+FFFD.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, s[start:i]...)
				buf = append(buf, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"':
			buf = append(buf, '\\', '"')
		case '\\':
			buf = append(buf, '\\', '\\')
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\f':
			buf = append(buf, '\\', 'f')
		case '\r':
			buf = append(buf, '\\', 'r')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&0xF])
		}
		i++
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// isKnownType reports whether t is one of the contract's event types.
func isKnownType(t string) bool {
	_, ok := knownType([]byte(t))
	return ok
}

// knownType maps a type name to its canonical constant (so a decoded known
// type costs no allocation).
func knownType(b []byte) (string, bool) {
	switch string(b) {
	case TypeOrchestrationStarted:
		return TypeOrchestrationStarted, true
	case TypeOrchestrationCompleted:
		return TypeOrchestrationCompleted, true
	case TypeOrchestrationFailed:
		return TypeOrchestrationFailed, true
	case TypeOrchestrationContinuedAsNew:
		return TypeOrchestrationContinuedAsNew, true
	case TypeOrchestrationCancelRequested:
		return TypeOrchestrationCancelRequested, true
	case TypeOrchestrationChained:
		return TypeOrchestrationChained, true
	case TypeActivityScheduled:
		return TypeActivityScheduled, true
	case TypeActivityCompleted:
		return TypeActivityCompleted, true
	case TypeActivityFailed:
		return TypeActivityFailed, true
	case TypeActivityCancelRequested:
		return TypeActivityCancelRequested, true
	case TypeTimerCreated:
		return TypeTimerCreated, true
	case TypeTimerFired:
		return TypeTimerFired, true
	case TypeExternalSubscribed:
		return TypeExternalSubscribed, true
	case TypeExternalEvent:
		return TypeExternalEvent, true
	case TypeExternalSubscribedCancelled:
		return TypeExternalSubscribedCancelled, true
	case TypeExternalSubscribedPersistent:
		return TypeExternalSubscribedPersistent, true
	case TypeExternalEventPersistent:
		return TypeExternalEventPersistent, true
	case TypeExternalSubscribedPersistentCancelled:
		return TypeExternalSubscribedPersistentCancelled, true
	case TypeSubOrchestrationScheduled:
		return TypeSubOrchestrationScheduled, true
	case TypeSubOrchestrationCompleted:
		return TypeSubOrchestrationCompleted, true
	case TypeSubOrchestrationFailed:
		return TypeSubOrchestrationFailed, true
	case TypeSubOrchestrationCancelRequested:
		return TypeSubOrchestrationCancelRequested, true
	case TypeCustomStatusUpdated:
		return TypeCustomStatusUpdated, true
	case TypeKeyValueSet:
		return TypeKeyValueSet, true
	case TypeKeyValueCleared:
		return TypeKeyValueCleared, true
	case TypeKeyValuesCleared:
		return TypeKeyValuesCleared, true
	}
	return "", false
}

// AppendString writes s as a JSON string exactly as serde_json does (see
// appendString), for publishers that patch Duroxide's bytes in place.
func AppendString(buf []byte, s string) []byte { return appendString(buf, s) }
