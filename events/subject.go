package events

import (
	"errors"
	"fmt"
	"strconv"
)

// NATS names of the contract (EVENTS.md "Transport").
const (
	// SubjectPrefix starts the subject of every history event.
	SubjectPrefix = "duroxide.history."
	// StreamSubjects is the history stream's subject filter.
	StreamSubjects = "duroxide.history.>"
	// DefaultStream is the history stream's default name.
	DefaultStream = "DUROXIDE_HISTORY"
	// DLQSubject is the subject of dead-lettered history messages.
	DLQSubject = "duroxide.dlq.history"
	// QueueSubject carries QueueSnapshot payloads.
	QueueSubject = "duroxide.queues"
	// ProjectorConsumerPrefix starts the name of every durable consumer of
	// the projector on the history stream; the query service reads the
	// projection lag from the consumers with this prefix, so both sides
	// take it from here.
	ProjectorConsumerPrefix = "duroscope-projector"
)

// tokenSafe reports whether c may appear unescaped in a subject token.
func tokenSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':' || c == '-'
}

// SubjectToken encodes an instance id as one NATS subject token: every byte
// outside [A-Za-z0-9_:-] becomes %XX (upper-case hex), so '.', '*', '>',
// spaces and '%' itself never reach the subject.
func SubjectToken(instanceID string) string {
	n := 0
	for i := 0; i < len(instanceID); i++ {
		if !tokenSafe(instanceID[i]) {
			n++
		}
	}
	if n == 0 {
		return instanceID
	}
	buf := make([]byte, 0, len(instanceID)+2*n)
	for i := 0; i < len(instanceID); i++ {
		c := instanceID[i]
		if tokenSafe(c) {
			buf = append(buf, c)
		} else {
			buf = append(buf, '%', hexUpper[c>>4], hexUpper[c&0xF])
		}
	}
	return string(buf)
}

// ErrBadSubjectToken is wrapped by DecodeSubjectToken's errors.
var ErrBadSubjectToken = errors.New("bad subject token")

// DecodeSubjectToken inverts SubjectToken. It accepts only canonical tokens
// (exactly what SubjectToken produces: safe bytes as is, every other byte as
// %XX in upper-case hex), so that decoding is a bijection; anything else is
// an error wrapping ErrBadSubjectToken.
func DecodeSubjectToken(token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("%w: empty", ErrBadSubjectToken)
	}
	n := 0
	for i := 0; i < len(token); i++ {
		if token[i] == '%' {
			n++
		}
	}
	if n == 0 {
		for i := 0; i < len(token); i++ {
			if !tokenSafe(token[i]) {
				return "", fmt.Errorf("%w: byte %s at offset %d must be %%-escaped", ErrBadSubjectToken, strconv.QuoteRuneToASCII(rune(token[i])), i)
			}
		}
		return token, nil
	}
	buf := make([]byte, 0, len(token)) // at most this long; exact size is not worth a pass
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c != '%' {
			if !tokenSafe(c) {
				return "", fmt.Errorf("%w: byte %s at offset %d must be %%-escaped", ErrBadSubjectToken, strconv.QuoteRuneToASCII(rune(c)), i)
			}
			buf = append(buf, c)
			continue
		}
		if i+2 >= len(token) {
			return "", fmt.Errorf("%w: truncated %%-escape at offset %d", ErrBadSubjectToken, i)
		}
		hi, lo := upperHexVal(token[i+1]), upperHexVal(token[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("%w: %%-escape at offset %d needs two upper-case hex digits", ErrBadSubjectToken, i)
		}
		b := byte(hi<<4 | lo)
		if tokenSafe(b) {
			return "", fmt.Errorf("%w: %%-escape at offset %d encodes %q, which must be written as is", ErrBadSubjectToken, i, b)
		}
		buf = append(buf, b)
		i += 2
	}
	return string(buf), nil
}

func upperHexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// Subject returns the subject an instance's events are published on.
func Subject(instanceID string) string {
	return SubjectPrefix + SubjectToken(instanceID)
}

// MsgID returns the Nats-Msg-Id of an event: "<instance_id>/<execution_id>/<event_id>".
func MsgID(instanceID string, executionID, eventID uint64) string {
	buf := make([]byte, 0, len(instanceID)+42)
	buf = append(buf, instanceID...)
	buf = append(buf, '/')
	buf = strconv.AppendUint(buf, executionID, 10)
	buf = append(buf, '/')
	buf = strconv.AppendUint(buf, eventID, 10)
	return string(buf)
}

// DLQStream is the name of the dead-letter stream of history stream stream
// (EVENTS.md "What the projector must survive"): "<stream>_DLQ".
func DLQStream(stream string) string { return stream + "_DLQ" }
