package events

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

// Notice types (EVENTS.md "Source notices: deletions and prunes"): what a
// publisher that reads the provider's store sends when Duroxide hard-deletes
// an instance or prunes executions, on the instance's own subject.
const (
	TypeInstanceDeleted  = "InstanceDeleted"
	TypeExecutionsPruned = "ExecutionsPruned"
)

// Notice is one source notice. ExecutionIDs is set for ExecutionsPruned
// only.
type Notice struct {
	Type         string
	InstanceID   string
	ExecutionIDs []uint64
	TimestampMs  uint64
}

// InstanceDeleted is the notice that every event of instanceID with
// timestamp_ms at or before atMs is gone.
func InstanceDeleted(instanceID string, atMs uint64) Notice {
	return Notice{Type: TypeInstanceDeleted, InstanceID: instanceID, TimestampMs: atMs}
}

// ExecutionsPruned is the notice that the given executions of instanceID
// are gone. The ids are sorted and deduplicated (a copy; ids is untouched).
func ExecutionsPruned(instanceID string, ids []uint64, atMs uint64) Notice {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return Notice{Type: TypeExecutionsPruned, InstanceID: instanceID, ExecutionIDs: slices.Compact(ids), TimestampMs: atMs}
}

// Subject is the subject the notice is published on: its instance's.
func (n Notice) Subject() string { return Subject(n.InstanceID) }

// MsgID is the notice's Nats-Msg-Id: "<instance_id>/deleted/<timestamp_ms>"
// or "<instance_id>/pruned/<lowest>-<highest>/<timestamp_ms>".
func (n Notice) MsgID() string {
	buf := make([]byte, 0, len(n.InstanceID)+64)
	buf = append(buf, n.InstanceID...)
	if n.Type == TypeInstanceDeleted {
		buf = append(buf, "/deleted/"...)
	} else {
		lo, hi := uint64(0), uint64(0)
		if len(n.ExecutionIDs) > 0 {
			lo, hi = slices.Min(n.ExecutionIDs), slices.Max(n.ExecutionIDs)
		}
		buf = append(buf, "/pruned/"...)
		buf = strconv.AppendUint(buf, lo, 10)
		buf = append(buf, '-')
		buf = strconv.AppendUint(buf, hi, 10)
		buf = append(buf, '/')
	}
	buf = strconv.AppendUint(buf, n.TimestampMs, 10)
	return string(buf)
}

// Marshal writes the notice's wire form exactly as EVENTS.md shows it:
// {"type":...,"instance_id":...,["execution_ids":[...],]"timestamp_ms":...}.
func (n Notice) Marshal() []byte {
	buf := make([]byte, 0, 64+len(n.InstanceID)+8*len(n.ExecutionIDs))
	buf = append(buf, `{"type":`...)
	buf = appendString(buf, n.Type)
	buf = append(buf, `,"instance_id":`...)
	buf = appendString(buf, n.InstanceID)
	if n.Type == TypeExecutionsPruned {
		buf = append(buf, `,"execution_ids":[`...)
		for i, id := range n.ExecutionIDs {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendUint(buf, id, 10)
		}
		buf = append(buf, ']')
	}
	buf = append(buf, `,"timestamp_ms":`...)
	buf = strconv.AppendUint(buf, n.TimestampMs, 10)
	return append(buf, '}')
}

// ReincarnatedMsgID is the Nats-Msg-Id of an event of an instance id reused
// after its deletion: the event's usual id (MsgID) followed by
// "/<timestamp_ms of the latest InstanceDeleted of that id>", so that it
// does not collide with the deleted incarnation's inside JetStream's
// duplicate window. deletedAtMs 0 (never deleted) gives the usual id.
func ReincarnatedMsgID(instanceID string, executionID, eventID, deletedAtMs uint64) string {
	id := MsgID(instanceID, executionID, eventID)
	if deletedAtMs == 0 {
		return id
	}
	return id + "/" + strconv.FormatUint(deletedAtMs, 10)
}

// Member indexes of a notice payload.
const (
	nType = iota
	nInstanceID
	nExecutionIDs
	nTimestampMs
	numNoticeFields
)

var noticeFieldNames = [numNoticeFields]string{"type", "instance_id", "execution_ids", "timestamp_ms"}

func noticeField(name []byte) int {
	switch string(name) {
	case "type":
		return nType
	case "instance_id":
		return nInstanceID
	case "execution_ids":
		return nExecutionIDs
	case "timestamp_ms":
		return nTimestampMs
	}
	return -1
}

// IsNoticeType reports whether t names a source notice.
func IsNoticeType(t string) bool { return t == TypeInstanceDeleted || t == TypeExecutionsPruned }

// DecodeNotice decodes and validates one notice payload (EVENTS.md "What the
// projector must survive"): one JSON object, valid UTF-8, at most MaxPayload
// bytes and MaxDepth levels; `type` InstanceDeleted or ExecutionsPruned;
// `instance_id` a non-empty string of at most MaxInstanceIDBytes;
// `timestamp_ms` a u64; for ExecutionsPruned `execution_ids` a non-empty
// array of u64 >= 1 (kept in the order given). Unknown members are ignored
// and a repeated member's last value wins. A non-nil error is a
// *DecodeError.
func DecodeNotice(raw []byte) (Notice, error) {
	n, err := decodeNotice(raw)
	if err != nil {
		return Notice{}, err
	}
	return n, nil
}

func decodeNotice(raw []byte) (Notice, *DecodeError) {
	if len(raw) > MaxPayload {
		return Notice{}, payloadTooLarge(len(raw))
	}
	if !utf8.Valid(raw) {
		return Notice{}, invalidUTF8(raw)
	}
	var sp [numNoticeFields]span
	if err := scanTop(raw, noticeFields, sp[:]); err != nil {
		return Notice{}, err
	}
	var arena strArena
	arena.reserve(arenaSize(sp[:]))
	r := reader{arena: &arena, data: raw, spans: sp[:], names: noticeFieldNames[:]}
	var n Notice
	var err *DecodeError
	if n.Type, err = r.str(nType); err != nil {
		return Notice{}, err
	}
	if !IsNoticeType(n.Type) {
		return Notice{}, &DecodeError{Field: "type", Problem: "must be " + TypeInstanceDeleted + " or " + TypeExecutionsPruned + ", got " + strconv.Quote(cut(n.Type))}
	}
	if n.InstanceID, err = r.str(nInstanceID); err != nil {
		return Notice{}, err
	}
	if n.InstanceID == "" {
		return Notice{}, &DecodeError{Field: "instance_id", Problem: "must be a non-empty string"}
	}
	if len(n.InstanceID) > MaxInstanceIDBytes {
		return Notice{}, &DecodeError{Field: "instance_id", Problem: "must be at most " + strconv.Itoa(MaxInstanceIDBytes) + " bytes, got " + strconv.Itoa(len(n.InstanceID))}
	}
	if n.TimestampMs, err = r.uintMin(nTimestampMs, 0); err != nil {
		return Notice{}, err
	}
	if n.Type == TypeExecutionsPruned {
		if n.ExecutionIDs, err = r.executionIDs(); err != nil {
			return Notice{}, err
		}
	}
	return n, nil
}

// executionIDs reads ExecutionsPruned.execution_ids: a non-empty array of
// integers >= 1.
func (r *reader) executionIDs() ([]uint64, *DecodeError) {
	const field = "execution_ids"
	sp := r.spans[nExecutionIDs]
	if sp.kind != kindArray {
		return nil, r.typeError(nExecutionIDs, "a non-empty array of integers >= 1")
	}
	// The array was validated by the scan; walk it again to read the ids.
	s := scanner{data: r.data[:sp.end], pos: int(sp.start) + 1}
	var out []uint64
	for k := 0; ; k++ {
		s.skipWS()
		if s.data[s.pos] == ']' {
			break
		}
		v, _ := s.scanValue(2)
		el := field + "[" + strconv.Itoa(k) + "]"
		if v.kind != kindNumber {
			return nil, &DecodeError{Field: el, Problem: "must be an integer >= 1, got " + v.kind.String()}
		}
		id, err := parseUintSpan(s.data[v.start:v.end], v.flags, el)
		if err != nil {
			return nil, err
		}
		if id == 0 {
			return nil, &DecodeError{Field: el, Problem: "must be an integer >= 1, got 0"}
		}
		out = append(out, id)
		s.skipWS()
		if s.data[s.pos] == ',' {
			s.pos++
		}
	}
	if len(out) == 0 {
		return nil, &DecodeError{Field: field, Problem: "must not be empty"}
	}
	return out, nil
}

// cut shortens a value quoted in an error message.
func cut(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "..."
		}
	}
	return "..."
}
