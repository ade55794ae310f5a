package events

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// This file is the hand-rolled JSON scanner under Decode. It makes one pass
// over the payload, validating the full JSON grammar (RFC 8259) and nesting
// depth, and records for each member it cares about only where its value is
// (a span) and what JSON type it has. Values are materialised afterwards, and
// only those the event's type needs; that keeps the hot path free of
// reflection, maps and interface boxing, and costs one allocation per string
// field (none for strings the Event does not keep).

// valueKind is the JSON type of a scanned value. kindAbsent is the zero value
// so that a fresh span means "member not present".
type valueKind uint8

const (
	kindAbsent valueKind = iota
	kindNull
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k valueKind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "boolean"
	case kindNumber:
		return "number"
	case kindString:
		return "string"
	case kindArray:
		return "array"
	case kindObject:
		return "object"
	}
	return "nothing"
}

// span flags.
const (
	flagEscaped  uint8 = 1 << iota // string: contains a backslash escape
	flagFraction                   // number: has a fraction or an exponent
	flagNegative                   // number: starts with '-'
	flagTrue                       // bool: true
)

// span locates one value in the scanned bytes. For a string, [start,end) is
// the content between the quotes; otherwise it is the whole value.
type span struct {
	start, end int32
	kind       valueKind
	flags      uint8
}

// scanner walks data from pos. Every method leaves pos just after what it
// consumed.
type scanner struct {
	data []byte
	pos  int
}

// syntaxError reports a JSON grammar violation at byte offset at.
func (s *scanner) syntaxError(at int, what string) *DecodeError {
	if at >= len(s.data) {
		return &DecodeError{Field: "payload", Problem: "invalid JSON: unexpected end of input, " + what}
	}
	return &DecodeError{Field: "payload", Problem: "invalid JSON at byte " + strconv.Itoa(at) + ": " + what + ", got " + describeByte(s.data[at])}
}

func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return "byte 0x" + string(hexUpper[c>>4]) + string(hexUpper[c&0xF])
}

func depthError() *DecodeError {
	return &DecodeError{Field: "payload", Problem: "nesting deeper than " + strconv.Itoa(MaxDepth) + " levels"}
}

func (s *scanner) skipWS() {
	d := s.data
	i := s.pos
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	s.pos = i
}

// scanString consumes a string starting at the opening quote (data[pos] must
// be '"') and returns its content span. Escapes are validated, not decoded.
// UTF-8 validity was checked for the whole payload beforehand.
func (s *scanner) scanString() (sp span, err *DecodeError) {
	d := s.data
	i := s.pos + 1
	start := i
	var flags uint8
	for {
		// Fast path: 8 plain bytes at a time (SWAR: a word has a '"', a
		// '\\' or a byte < 0x20 iff the masks below are non-zero; the lowest
		// flagged byte is exact).
		for i+8 <= len(d) {
			w := binary.LittleEndian.Uint64(d[i:])
			q := w ^ (swarLo * '"')
			b := w ^ (swarLo * '\\')
			m := ((q - swarLo) &^ q) | ((b - swarLo) &^ b) | ((w - swarLo*0x20) &^ w)
			if m &= swarHi; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(d) {
			c := d[i]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			i++
		}
		if i >= len(d) {
			return sp, s.syntaxError(i, "unterminated string")
		}
		switch c := d[i]; {
		case c == '"':
			s.pos = i + 1
			return span{start: int32(start), end: int32(i), kind: kindString, flags: flags}, nil
		case c == '\\':
			flags |= flagEscaped
			if i+1 >= len(d) {
				return sp, s.syntaxError(i+1, "unterminated string")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !isHex4(d[i+2:i+6]) {
					return sp, s.syntaxError(i, `invalid \u escape (need 4 hex digits)`)
				}
				i += 6
			default:
				return sp, s.syntaxError(i+1, "invalid escape character")
			}
		default:
			return sp, s.syntaxError(i, "control character in string")
		}
	}
}

const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if hexVal(c) < 0 {
			return false
		}
	}
	return true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// scanNumber consumes a number per the JSON grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) scanNumber() (sp span, err *DecodeError) {
	d := s.data
	i := s.pos
	var flags uint8
	if d[i] == '-' {
		flags |= flagNegative
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i++
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return sp, s.syntaxError(i, "expected a digit")
	}
	if i < len(d) && d[i] == '.' {
		flags |= flagFraction
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return sp, s.syntaxError(i, "expected a digit after '.'")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		flags |= flagFraction
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return sp, s.syntaxError(i, "expected a digit in the exponent")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	sp = span{start: int32(s.pos), end: int32(i), kind: kindNumber, flags: flags}
	s.pos = i
	return sp, nil
}

func (s *scanner) scanLiteral(lit string, sp span) (span, *DecodeError) {
	d := s.data
	i := s.pos
	if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
		return sp, s.syntaxError(i, "invalid literal (expected "+lit+")")
	}
	sp.start, sp.end = int32(i), int32(i+len(lit))
	s.pos = i + len(lit)
	return sp, nil
}

// scanValue consumes one value of any type. level is the nesting level an
// object or array value would be at (the top-level object is level 1).
func (s *scanner) scanValue(level int) (span, *DecodeError) {
	if s.pos >= len(s.data) {
		return span{}, s.syntaxError(s.pos, "expected a value")
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		return s.scanString()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.scanNumber()
	case c == '{':
		start := s.pos
		if err := s.scanObject(level, noFields, nil); err != nil {
			return span{}, err
		}
		return span{start: int32(start), end: int32(s.pos), kind: kindObject}, nil
	case c == '[':
		start := s.pos
		if err := s.scanArray(level); err != nil {
			return span{}, err
		}
		return span{start: int32(start), end: int32(s.pos), kind: kindArray}, nil
	case c == 't':
		return s.scanLiteral("true", span{kind: kindBool, flags: flagTrue})
	case c == 'f':
		return s.scanLiteral("false", span{kind: kindBool})
	case c == 'n':
		return s.scanLiteral("null", span{kind: kindNull})
	}
	return span{}, s.syntaxError(s.pos, "expected a value")
}

// fieldSet selects which member names scanObject records (an enum rather
// than a func value: an indirect call would make the escape analysis move
// every caller's span array to the heap).
type fieldSet uint8

const (
	noFields fieldSet = iota
	eventFields
	detailFields
	queueFields
	noticeFields
)

// index maps a member name to an index into the spans slice, or -1 for a
// member nobody reads.
func (f fieldSet) index(name []byte) int {
	switch f {
	case eventFields:
		return eventField(name)
	case detailFields:
		return detailField(name)
	case queueFields:
		return queueField(name)
	case noticeFields:
		return noticeField(name)
	}
	return -1
}

// scanObject consumes an object (data[pos] must be '{') at the given level.
// When fields is not noFields, the span of each member it knows is stored in spans;
// a repeated member overwrites the earlier one (the last wins, as in
// serde_json and encoding/json).
func (s *scanner) scanObject(level int, fields fieldSet, spans []span) *DecodeError {
	if level > MaxDepth {
		return depthError()
	}
	d := s.data
	s.pos++ // '{'
	s.skipWS()
	if s.pos < len(d) && d[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		if s.pos >= len(d) || d[s.pos] != '"' {
			return s.syntaxError(s.pos, "expected a member name")
		}
		key, err := s.scanString()
		if err != nil {
			return err
		}
		s.skipWS()
		if s.pos >= len(d) || d[s.pos] != ':' {
			return s.syntaxError(s.pos, "expected ':' after a member name")
		}
		s.pos++
		s.skipWS()
		idx := -1
		if fields != noFields {
			if key.flags&flagEscaped == 0 {
				idx = fields.index(d[key.start:key.end])
			} else {
				var tmp [64]byte
				idx = fields.index(unescapeAppend(tmp[:0], d[key.start:key.end]))
			}
		}
		v, err := s.scanValue(level + 1)
		if err != nil {
			return err
		}
		if idx >= 0 {
			spans[idx] = v
		}
		s.skipWS()
		if s.pos >= len(d) {
			return s.syntaxError(s.pos, "expected ',' or '}' in an object")
		}
		switch d[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case '}':
			s.pos++
			return nil
		default:
			return s.syntaxError(s.pos, "expected ',' or '}' in an object")
		}
	}
}

// scanArray consumes an array (data[pos] must be '[') at the given level.
func (s *scanner) scanArray(level int) *DecodeError {
	if level > MaxDepth {
		return depthError()
	}
	d := s.data
	s.pos++ // '['
	s.skipWS()
	if s.pos < len(d) && d[s.pos] == ']' {
		s.pos++
		return nil
	}
	for {
		if _, err := s.scanValue(level + 1); err != nil {
			return err
		}
		s.skipWS()
		if s.pos >= len(d) {
			return s.syntaxError(s.pos, "expected ',' or ']' in an array")
		}
		switch d[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case ']':
			s.pos++
			return nil
		default:
			return s.syntaxError(s.pos, "expected ',' or ']' in an array")
		}
	}
}

// scanTop scans a whole payload that must be exactly one JSON object,
// optionally surrounded by whitespace.
func scanTop(data []byte, fields fieldSet, spans []span) *DecodeError {
	s := scanner{data: data}
	s.skipWS()
	if s.pos >= len(data) {
		return &DecodeError{Field: "payload", Problem: "not a JSON object: empty"}
	}
	if data[s.pos] != '{' {
		// Tell "valid JSON of another type" apart from garbage for the reason.
		if _, err := s.scanValue(1); err != nil {
			return &DecodeError{Field: "payload", Problem: "not a JSON object: " + err.Problem}
		}
		return &DecodeError{Field: "payload", Problem: "not a JSON object, got " + kindOfByte(data[s.pos-1]) + " value"}
	}
	if err := s.scanObject(1, fields, spans); err != nil {
		return err
	}
	s.skipWS()
	if s.pos != len(data) {
		return &DecodeError{Field: "payload", Problem: "trailing data after the JSON object at byte " + strconv.Itoa(s.pos) + ": " + describeByte(data[s.pos])}
	}
	return nil
}

// kindOfByte names the JSON type of a complete top-level value from its last
// byte (only used for the reason text).
func kindOfByte(c byte) string {
	switch c {
	case '"':
		return "a string"
	case ']':
		return "an array"
	case 'e':
		return "a boolean"
	case 'l':
		return "a null"
	}
	return "a number"
}

// unescapeAppend appends the decoded content of a JSON string (without its
// quotes, already validated by scanString) to dst. Like encoding/json, an
// unpaired surrogate escape becomes U+FFFD.
func unescapeAppend(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		if c != '\\' {
			j := i + 1
			for j < len(src) && src[j] != '\\' {
				j++
			}
			dst = append(dst, src[i:j]...)
			i = j
			continue
		}
		switch src[i+1] {
		case '"':
			dst = append(dst, '"')
		case '\\':
			dst = append(dst, '\\')
		case '/':
			dst = append(dst, '/')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(src[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				// A high surrogate must be followed by \u + low surrogate;
				// otherwise it is replaced, and whatever follows is decoded
				// on its own (encoding/json does the same).
				if i+6 <= len(src) && src[i] == '\\' && src[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(src[i+2:])); dec != utf8.RuneError {
						dst = utf8.AppendRune(dst, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		}
		i += 2
	}
	return dst
}

func hex4(b []byte) rune {
	return rune(hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3]))
}

// str materialises a string span: one allocation, none for "".
func str(data []byte, sp span) string {
	b := data[sp.start:sp.end]
	if sp.flags&flagEscaped == 0 {
		return string(b)
	}
	out := unescapeAppend(make([]byte, 0, len(b)), b)
	if len(out) == 0 {
		return ""
	}
	// out is never referenced again, so the string may share its memory
	// (saves the second allocation a string(out) conversion would make).
	return unsafe.String(&out[0], len(out))
}

// arenaMaxString is the longest string (as written, escapes included) that
// goes into a strArena; longer ones get their own allocation so that keeping
// a short field (say InstanceID) alive never pins a large one (an Input).
const arenaMaxString = 64

// strArena hands out the short strings of one event from a single
// allocation, which saves an allocation per string field on the hot path.
// Handed-out bytes are never written again: appends only go past len, and if
// the buffer is ever outgrown the old array is simply left to the strings
// that use it.
type strArena struct {
	buf []byte
}

// reserve sizes the arena for n bytes of string content.
func (a *strArena) reserve(n int) {
	if n > 0 {
		a.buf = make([]byte, 0, n)
	}
}

// str materialises a string span, from the arena when it is short.
func (a *strArena) str(data []byte, sp span) string {
	n := int(sp.end - sp.start)
	if n == 0 {
		return ""
	}
	if a == nil || n > arenaMaxString || cap(a.buf)-len(a.buf) < n {
		return str(data, sp)
	}
	start := len(a.buf)
	if sp.flags&flagEscaped == 0 {
		a.buf = append(a.buf, data[sp.start:sp.end]...)
	} else {
		a.buf = unescapeAppend(a.buf, data[sp.start:sp.end])
	}
	if len(a.buf) == start {
		return ""
	}
	return unsafe.String(&a.buf[start], len(a.buf)-start)
}

// arenaSize is the arena capacity the short string spans among sp need.
func arenaSize(sp []span) int {
	n := 0
	for _, s := range sp {
		if l := int(s.end - s.start); s.kind == kindString && l <= arenaMaxString {
			n += l
		}
	}
	return n
}

// firstInvalidUTF8 returns the offset of the first byte that is not part of
// valid UTF-8 (only called once utf8.Valid has said there is one).
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

const hexUpper = "0123456789ABCDEF"
