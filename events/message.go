package events

import "unicode/utf8"

// Message is one payload of the history stream: a history event or, when
// IsNotice, a source notice (EVENTS.md "Source notices: deletions and
// prunes"). Both travel on the instance's subject, so only the payload's
// `type` tells them apart.
type Message struct {
	IsNotice bool
	Event    Event  // set when !IsNotice
	Notice   Notice // set when IsNotice
}

// InstanceID is the instance the message belongs to.
func (m Message) InstanceID() string {
	if m.IsNotice {
		return m.Notice.InstanceID
	}
	return m.Event.InstanceID
}

// DecodeMessage decodes one payload of the history stream: a notice when its
// `type` is InstanceDeleted or ExecutionsPruned (validated as DecodeNotice
// does), otherwise an event (validated exactly as Decode does, unknown types
// included). A non-nil error is a *DecodeError: the message is bad.
func DecodeMessage(raw []byte) (Message, error) {
	m, err := decodeMessage(raw)
	if err != nil {
		return Message{}, err
	}
	return m, nil
}

func decodeMessage(raw []byte) (Message, *DecodeError) {
	if len(raw) > MaxPayload {
		return Message{}, payloadTooLarge(len(raw))
	}
	if !utf8.Valid(raw) {
		return Message{}, invalidUTF8(raw)
	}
	var sp [numEventFields]span
	if err := scanTop(raw, eventFields, sp[:]); err != nil {
		return Message{}, err
	}
	if isNoticeSpan(raw, sp[fType]) {
		// Notices are rare (one per deletion or prune): scanning the payload
		// again with the notice's members costs nothing that matters.
		n, err := decodeNotice(raw)
		if err != nil {
			return Message{}, err
		}
		return Message{IsNotice: true, Notice: n}, nil
	}
	e, err := decodeScanned(raw, &sp)
	if err != nil {
		return Message{}, err
	}
	return Message{Event: e}, nil
}

// isNoticeSpan reports whether the `type` member ts is a string naming a
// notice type (escaped spellings included).
func isNoticeSpan(raw []byte, ts span) bool {
	if ts.kind != kindString {
		return false
	}
	if ts.flags&flagEscaped == 0 {
		return IsNoticeType(string(raw[ts.start:ts.end]))
	}
	var arena strArena
	arena.reserve(int(ts.end - ts.start))
	return IsNoticeType(arena.str(raw, ts))
}
