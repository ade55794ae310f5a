package events

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of the contract (EVENTS.md "What the projector must survive").
const (
	// MaxPayload is the largest payload accepted, in bytes (1 MiB).
	MaxPayload = 1 << 20
	// MaxDepth is the deepest nesting accepted; the payload object itself is
	// level 1, so 64 nested objects/arrays in total are fine, 65 are not.
	MaxDepth = 64
	// MaxInstanceIDBytes is the longest instance_id accepted (after JSON
	// unescaping), in bytes.
	MaxInstanceIDBytes = 1024
)

// maxErrorLen bounds DecodeError.Error(): the reason travels in a NATS header.
const maxErrorLen = 300

// DecodeError says why a payload is a bad message. Field names the member at
// fault ("event_id", "details.Application.kind", ...) or "payload" when the
// bytes as a whole are the problem (size, UTF-8, JSON syntax, depth, not an
// object, trailing data).
type DecodeError struct {
	Field   string
	Problem string
}

// Error returns "<field>: <problem>" on one line of at most maxErrorLen bytes.
// Values shown in Problem are already cut short; this is a last guard.
func (e *DecodeError) Error() string {
	s := e.Field + ": " + e.Problem
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
	}
	if len(s) > maxErrorLen {
		cut := maxErrorLen - 3
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// numberText renders a number literal for an error message, cut to a
// bounded length (a number has only [0-9.eE+-], so it needs no quoting).
func numberText(b []byte) string {
	const max = 40
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// Member indexes of the event payload. Every member any known variant reads
// is recorded during the scan; which ones are required, and how they are
// typed, is decided once `type` is known.
const (
	fEventID = iota
	fSourceEventID
	fInstanceID
	fExecutionID
	fTimestampMs
	fDuroxideVersion
	fType
	fName
	fVersion
	fInput
	fOutput
	fResult
	fData
	fReason
	fInstance
	fParentInstance
	fParentID
	fCarryForwardEvents
	fInitialCustomStatus
	fStatus
	fSessionID
	fTag
	fFireAtMs
	fDetails
	fKey
	fValue
	fLastUpdatedAtMs
	numEventFields
)

var eventFieldNames = [numEventFields]string{
	"event_id", "source_event_id", "instance_id", "execution_id", "timestamp_ms",
	"duroxide_version", "type", "name", "version", "input", "output", "result",
	"data", "reason", "instance", "parent_instance", "parent_id",
	"carry_forward_events", "initial_custom_status", "status", "session_id",
	"tag", "fire_at_ms", "details", "key", "value", "last_updated_at_ms",
}

func eventField(name []byte) int {
	switch string(name) {
	case "event_id":
		return fEventID
	case "source_event_id":
		return fSourceEventID
	case "instance_id":
		return fInstanceID
	case "execution_id":
		return fExecutionID
	case "timestamp_ms":
		return fTimestampMs
	case "duroxide_version":
		return fDuroxideVersion
	case "type":
		return fType
	case "name":
		return fName
	case "version":
		return fVersion
	case "input":
		return fInput
	case "output":
		return fOutput
	case "result":
		return fResult
	case "data":
		return fData
	case "reason":
		return fReason
	case "instance":
		return fInstance
	case "parent_instance":
		return fParentInstance
	case "parent_id":
		return fParentID
	case "carry_forward_events":
		return fCarryForwardEvents
	case "initial_custom_status":
		return fInitialCustomStatus
	case "status":
		return fStatus
	case "session_id":
		return fSessionID
	case "tag":
		return fTag
	case "fire_at_ms":
		return fFireAtMs
	case "details":
		return fDetails
	case "key":
		return fKey
	case "value":
		return fValue
	case "last_updated_at_ms":
		return fLastUpdatedAtMs
	}
	return -1
}

// Decode decodes one payload of the event contract (EVENTS.md) and validates
// it. A non-nil error is always a *DecodeError describing why the payload is
// a bad message. The returned Event's Raw (and DetailsRaw) alias raw.
//
// An unknown `type` is not an error: Known is false, only the common fields
// are validated and set, and the payload is kept in Raw.
func Decode(raw []byte) (Event, error) {
	e, err := decode(raw)
	if err != nil {
		// Return a nil error interface, not a typed nil, on success only.
		return Event{}, err
	}
	return e, nil
}

func decode(raw []byte) (Event, *DecodeError) {
	if len(raw) > MaxPayload {
		return Event{}, payloadTooLarge(len(raw))
	}
	if !utf8.Valid(raw) {
		return Event{}, invalidUTF8(raw)
	}
	var sp [numEventFields]span
	if err := scanTop(raw, eventFields, sp[:]); err != nil {
		return Event{}, err
	}
	return decodeScanned(raw, &sp)
}

// decodeScanned reads and validates an event whose top-level members scanTop
// has located (raw is within the limits and valid UTF-8).
func decodeScanned(raw []byte, sp *[numEventFields]span) (Event, *DecodeError) {
	// The type decides which members are read, and so how big the arena for
	// the event's short strings must be (one allocation for all of them).
	ts := sp[fType]
	var knownName string
	var known bool
	if ts.kind == kindString && ts.flags&flagEscaped == 0 {
		knownName, known = knownType(raw[ts.start:ts.end])
	}
	var arena strArena
	if known {
		n := arenaSize(sp[:])
		if d := sp[fDetails]; d.kind == kindObject {
			n += min(int(d.end-d.start), 2*arenaMaxString)
		}
		arena.reserve(n)
	} else {
		arena.reserve(arenaSize(sp[:fType+1])) // common strings and the type name
	}
	r := reader{arena: &arena, data: raw, spans: sp[:], names: eventFieldNames[:]}
	e := Event{Raw: raw}
	var err *DecodeError
	if e.EventID, err = r.uintMin(fEventID, 1); err != nil {
		return Event{}, err
	}
	if e.SourceEventID, err = r.optUint(fSourceEventID); err != nil {
		return Event{}, err
	}
	if e.InstanceID, err = r.str(fInstanceID); err != nil {
		return Event{}, err
	}
	if e.InstanceID == "" {
		return Event{}, &DecodeError{Field: "instance_id", Problem: "must be a non-empty string"}
	}
	if len(e.InstanceID) > MaxInstanceIDBytes {
		return Event{}, &DecodeError{Field: "instance_id", Problem: "must be at most " + strconv.Itoa(MaxInstanceIDBytes) + " bytes, got " + strconv.Itoa(len(e.InstanceID))}
	}
	if e.ExecutionID, err = r.uintMin(fExecutionID, 1); err != nil {
		return Event{}, err
	}
	if e.TimestampMs, err = r.uintMin(fTimestampMs, 0); err != nil {
		return Event{}, err
	}
	// duroxide_version is optional for the projector: absent or null is "".
	var v OptString
	if v, err = r.optStr(fDuroxideVersion); err != nil {
		return Event{}, err
	}
	e.DuroxideVersion = v.Value
	if ts.kind != kindString {
		return Event{}, r.typeError(fType, "a string")
	}
	if known {
		e.Type, e.Known = knownName, true
	} else {
		// Unknown, or a known name written with escapes.
		e.Type, e.Known = canonicalType(r.arena.str(raw, ts))
	}
	if !e.Known {
		return e, nil
	}
	if err := r.variant(&e); err != nil {
		return Event{}, err
	}
	return e, nil
}

func payloadTooLarge(n int) *DecodeError {
	return &DecodeError{Field: "payload", Problem: "size " + strconv.Itoa(n) + " bytes is over the 1 MiB limit (" + strconv.Itoa(MaxPayload) + " bytes)"}
}

func invalidUTF8(raw []byte) *DecodeError {
	return &DecodeError{Field: "payload", Problem: "invalid UTF-8 at byte " + strconv.Itoa(firstInvalidUTF8(raw))}
}

// canonicalType returns the constant for a known type name given as a
// string (a type written with escapes), else t itself.
func canonicalType(t string) (string, bool) {
	if k, ok := knownType([]byte(t)); ok {
		return k, true
	}
	return t, false
}

// variant reads the fields of e.Type (EVENTS.md's variant table).
func (r *reader) variant(e *Event) *DecodeError {
	var err *DecodeError
	switch e.Type {
	case TypeOrchestrationStarted:
		if e.Name, err = r.str(fName); err != nil {
			return err
		}
		if e.Version, err = r.str(fVersion); err != nil {
			return err
		}
		if e.Input, err = r.str(fInput); err != nil {
			return err
		}
		if e.ParentInstance, err = r.optStr(fParentInstance); err != nil {
			return err
		}
		if e.ParentID, err = r.optUint(fParentID); err != nil {
			return err
		}
		if e.CarryForwardEvents, err = r.carryForward(); err != nil {
			return err
		}
		e.InitialCustomStatus, err = r.optStr(fInitialCustomStatus)
	case TypeOrchestrationCompleted:
		e.Output, err = r.str(fOutput)
	case TypeOrchestrationFailed, TypeActivityFailed, TypeSubOrchestrationFailed:
		sp := r.spans[fDetails]
		if sp.kind != kindObject {
			return r.typeError(fDetails, "an ErrorDetails object")
		}
		e.DetailsRaw = e.Raw[sp.start:sp.end] // e.Raw is r.data; reading it here keeps r on the stack
		e.Details, err = decodeDetails(e.DetailsRaw, r.arena)
	case TypeOrchestrationContinuedAsNew:
		e.Input, err = r.str(fInput)
	case TypeOrchestrationCancelRequested, TypeActivityCancelRequested, TypeExternalSubscribedCancelled,
		TypeExternalSubscribedPersistentCancelled, TypeSubOrchestrationCancelRequested:
		e.Reason, err = r.str(fReason)
	case TypeOrchestrationChained, TypeSubOrchestrationScheduled:
		if e.Name, err = r.str(fName); err != nil {
			return err
		}
		if e.Instance, err = r.str(fInstance); err != nil {
			return err
		}
		e.Input, err = r.str(fInput)
	case TypeActivityScheduled:
		if e.Name, err = r.str(fName); err != nil {
			return err
		}
		if e.Input, err = r.str(fInput); err != nil {
			return err
		}
		if e.SessionID, err = r.optStr(fSessionID); err != nil {
			return err
		}
		e.Tag, err = r.optStr(fTag)
	case TypeActivityCompleted, TypeSubOrchestrationCompleted:
		e.Result, err = r.str(fResult)
	case TypeTimerCreated, TypeTimerFired:
		e.FireAtMs, err = r.uintMin(fFireAtMs, 0)
	case TypeExternalSubscribed, TypeExternalSubscribedPersistent:
		e.Name, err = r.str(fName)
	case TypeExternalEvent, TypeExternalEventPersistent:
		if e.Name, err = r.str(fName); err != nil {
			return err
		}
		e.Data, err = r.str(fData)
	case TypeCustomStatusUpdated:
		e.Status, err = r.optStr(fStatus)
	case TypeKeyValueSet:
		if e.Key, err = r.str(fKey); err != nil {
			return err
		}
		if e.Value, err = r.str(fValue); err != nil {
			return err
		}
		e.LastUpdatedAtMs, err = r.optUint(fLastUpdatedAtMs)
	case TypeKeyValueCleared:
		e.Key, err = r.str(fKey)
	case TypeKeyValuesCleared:
	}
	return err
}

// reader materialises and type-checks recorded spans. names gives each
// index's field name for errors.
type reader struct {
	arena  *strArena
	data   []byte
	spans  []span
	names  []string
	prefix string // prepended to names in errors (nested objects)
}

func (r *reader) field(i int) string { return r.prefix + r.names[i] }

func (r *reader) typeError(i int, want string) *DecodeError {
	sp := r.spans[i]
	if sp.kind == kindAbsent {
		return &DecodeError{Field: r.field(i), Problem: "required field missing"}
	}
	return &DecodeError{Field: r.field(i), Problem: "must be " + want + ", got " + sp.kind.String()}
}

// str reads a required string.
func (r *reader) str(i int) (string, *DecodeError) {
	sp := r.spans[i]
	if sp.kind != kindString {
		return "", r.typeError(i, "a string")
	}
	return r.arena.str(r.data, sp), nil
}

// optStr reads a string that may be absent or null.
func (r *reader) optStr(i int) (OptString, *DecodeError) {
	sp := r.spans[i]
	switch sp.kind {
	case kindAbsent, kindNull:
		return OptString{}, nil
	case kindString:
		return OptString{Value: r.arena.str(r.data, sp), Valid: true}, nil
	}
	return OptString{}, r.typeError(i, "a string or null")
}

// uintMin reads a required u64 that must be at least min.
func (r *reader) uintMin(i int, min uint64) (uint64, *DecodeError) {
	sp := r.spans[i]
	if sp.kind != kindNumber {
		if min > 0 {
			return 0, r.typeError(i, "an integer >= "+strconv.FormatUint(min, 10))
		}
		return 0, r.typeError(i, "an unsigned integer")
	}
	v, err := r.parseUint(i)
	if err != nil {
		return 0, err
	}
	if v < min {
		return 0, &DecodeError{Field: r.field(i), Problem: "must be an integer >= " + strconv.FormatUint(min, 10) + ", got " + strconv.FormatUint(v, 10)}
	}
	return v, nil
}

// optUint reads a u64 that may be absent or null.
func (r *reader) optUint(i int) (OptUint, *DecodeError) {
	sp := r.spans[i]
	switch sp.kind {
	case kindAbsent, kindNull:
		return OptUint{}, nil
	case kindNumber:
		v, err := r.parseUint(i)
		if err != nil {
			return OptUint{}, err
		}
		return OptUint{Value: v, Valid: true}, nil
	}
	return OptUint{}, r.typeError(i, "an unsigned integer or null")
}

// parseUint converts a number span to u64, rejecting fractions, exponents,
// a minus sign (also on -0) and values above 2^64-1.
func (r *reader) parseUint(i int) (uint64, *DecodeError) {
	sp := r.spans[i]
	if sp.flags&(flagFraction|flagNegative) == 0 && sp.end-sp.start < 20 {
		// Fast path: at most 19 digits cannot overflow.
		var v uint64
		for _, c := range r.data[sp.start:sp.end] {
			v = v*10 + uint64(c-'0')
		}
		return v, nil
	}
	return parseUintSpan(r.data[sp.start:sp.end], sp.flags, r.field(i))
}

func parseUintSpan(b []byte, flags uint8, field string) (uint64, *DecodeError) {
	if flags&flagFraction != 0 {
		return 0, &DecodeError{Field: field, Problem: "must be an integer without fraction or exponent, got " + numberText(b)}
	}
	if flags&flagNegative != 0 {
		return 0, &DecodeError{Field: field, Problem: "must be an unsigned integer, got " + numberText(b)}
	}
	var v uint64
	for _, c := range b {
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, &DecodeError{Field: field, Problem: "must be at most 2^64-1, got " + numberText(b)}
		}
		v = v*10 + d
	}
	return v, nil
}

// carryForward reads OrchestrationStarted.carry_forward_events:
// absent/null, or an array of [string, string] pairs.
func (r *reader) carryForward() ([][2]string, *DecodeError) {
	sp := r.spans[fCarryForwardEvents]
	switch sp.kind {
	case kindAbsent, kindNull:
		return nil, nil
	case kindArray:
	default:
		return nil, r.typeError(fCarryForwardEvents, "an array of [string, string] pairs or null")
	}
	bad := func(n int, what string) *DecodeError {
		return &DecodeError{Field: "carry_forward_events", Problem: "element " + strconv.Itoa(n) + " must be a [string, string] pair, " + what}
	}
	// The array was validated by the scan; walk it again to pick the pairs.
	s := scanner{data: r.data[:sp.end], pos: int(sp.start) + 1}
	out := make([][2]string, 0, 4)
	for n := 0; ; n++ {
		s.skipWS()
		if s.data[s.pos] == ']' {
			return out, nil
		}
		if s.data[s.pos] != '[' {
			v, _ := s.scanValue(1)
			return nil, bad(n, "got "+v.kind.String())
		}
		s.pos++
		var pair [2]string
		for k := 0; ; k++ {
			s.skipWS()
			if s.data[s.pos] == ']' {
				if k != 2 {
					return nil, bad(n, "got "+strconv.Itoa(k)+" elements")
				}
				s.pos++
				break
			}
			v, _ := s.scanValue(1)
			if v.kind != kindString {
				return nil, bad(n, "element "+strconv.Itoa(k)+" is "+v.kind.String())
			}
			if k < 2 {
				pair[k] = r.arena.str(s.data, v)
			}
			s.skipWS()
			if s.data[s.pos] == ',' {
				s.pos++
			}
		}
		out = append(out, pair)
		s.skipWS()
		if s.data[s.pos] == ',' {
			s.pos++
		}
	}
}

// Members read inside an ErrorDetails variant.
const (
	dKind = iota
	dMessage
	dRetryable
	dOperation
	dReason
	numDetailFields
)

var detailFieldNames = [numDetailFields]string{"kind", "message", "retryable", "operation", "reason"}

func detailField(name []byte) int {
	switch string(name) {
	case "kind":
		return dKind
	case "message":
		return dMessage
	case "retryable":
		return dRetryable
	case "operation":
		return dOperation
	case "reason":
		return dReason
	}
	return -1
}

// firstMember reads the first member of the object at data[start:end]
// (already validated by the scan): its name span and its value span.
// ok is false for an empty object.
func firstMember(data []byte, start, end int32) (name, val span, ok bool) {
	s := scanner{data: data[:end], pos: int(start) + 1}
	s.skipWS()
	if s.data[s.pos] == '}' {
		return span{}, span{}, false
	}
	name, _ = s.scanString()
	s.skipWS()
	s.pos++ // ':'
	s.skipWS()
	val, _ = s.scanValue(2)
	return name, val, true
}

// detailVariant maps a known ErrorDetails key to its category and the
// field-name prefix of its members in errors.
func detailVariant(key []byte) (category, prefix string, known bool) {
	switch string(key) {
	case "Application":
		return "application", "details.Application.", true
	case "Infrastructure":
		return "infrastructure", "details.Infrastructure.", true
	case "Configuration":
		return "configuration", "details.Configuration.", true
	case "Poison":
		return "poison", "details.Poison.", true
	}
	return "", "", false
}

// decodeDetails projects Duroxide's externally tagged ErrorDetails (raw is an
// object already validated by the scan) to {category, kind, message,
// retryable} as EVENTS.md says. The object must have at least one member; if
// it has several, the first one is the variant (serde would reject such a
// value; taking the first is the lenient, deterministic choice). Members of
// a known variant are type-checked; a missing (or null) string member is "",
// a missing (or null) retryable is false. An unknown variant key gives
// category = key lower-cased and nothing else; its value is not inspected.
func decodeDetails(raw []byte, arena *strArena) (*ErrorDetails, *DecodeError) {
	keySpan, val, ok := firstMember(raw, 0, int32(len(raw)))
	if !ok {
		return nil, &DecodeError{Field: "details", Problem: "must be an ErrorDetails object with one variant key, got {}"}
	}
	keyBytes := raw[keySpan.start:keySpan.end]
	if keySpan.flags&flagEscaped != 0 {
		keyBytes = unescapeAppend(nil, keyBytes)
	}
	category, prefix, known := detailVariant(keyBytes)
	if !known {
		return &ErrorDetails{Category: strings.ToLower(string(keyBytes))}, nil
	}
	if val.kind != kindObject {
		return nil, &DecodeError{Field: prefix[:len(prefix)-1], Problem: "must be an object, got " + val.kind.String()}
	}
	var sp [numDetailFields]span
	inner := scanner{data: raw[:val.end], pos: int(val.start)}
	if err := inner.scanObject(2, detailFields, sp[:]); err != nil {
		return nil, err // cannot happen: already validated
	}
	r := reader{arena: arena, data: raw, spans: sp[:], names: detailFieldNames[:], prefix: prefix}
	d := &ErrorDetails{Category: category}
	msg, err := r.optStr(dMessage)
	if err != nil {
		return nil, err
	}
	d.Message = msg.Value
	switch rs := sp[dRetryable]; rs.kind {
	case kindAbsent, kindNull:
	case kindBool:
		d.Retryable = rs.flags&flagTrue != 0
	default:
		return nil, r.typeError(dRetryable, "a boolean")
	}
	switch category {
	case "application":
		if err := r.appKind(d); err != nil {
			return nil, err
		}
	case "infrastructure":
		op, err := r.optStr(dOperation)
		if err != nil {
			return nil, err
		}
		d.Kind = op.Value
	case "configuration":
		k, err := r.optStr(dKind)
		if err != nil {
			return nil, err
		}
		d.Kind = k.Value
	case "poison":
		d.Kind = "Poison"
	}
	return d, nil
}

// appKind reads Application.kind: a unit variant name ("ActivityFailed",
// "OrchestrationFailed", "Panicked", ...) or a struct variant
// {"<Name>":{...}}. The Cancelled struct variant projects to kind
// "Cancelled" and message "canceled: <reason>"; another struct variant (a
// newer Duroxide) projects to its name, keeping the message.
func (r *reader) appKind(d *ErrorDetails) *DecodeError {
	sp := r.spans[dKind]
	switch sp.kind {
	case kindAbsent, kindNull:
		return nil
	case kindString:
		d.Kind = r.arena.str(r.data, sp)
		return nil
	case kindObject:
	default:
		return r.typeError(dKind, "a string or a one-key object")
	}
	nameSpan, val, ok := firstMember(r.data, sp.start, sp.end)
	if !ok {
		return &DecodeError{Field: r.prefix + "kind", Problem: "must be a string or a one-key object, got {}"}
	}
	if nameSpan.flags&flagEscaped != 0 || string(r.data[nameSpan.start:nameSpan.end]) != "Cancelled" {
		d.Kind = r.arena.str(r.data, nameSpan)
		if d.Kind != "Cancelled" {
			return nil
		}
	}
	d.Kind = "Cancelled"
	const field = "details.Application.kind.Cancelled"
	if val.kind != kindObject {
		return &DecodeError{Field: field, Problem: "must be an object, got " + val.kind.String()}
	}
	var csp [numDetailFields]span
	inner := scanner{data: r.data[:val.end], pos: int(val.start)}
	if err := inner.scanObject(2, detailFields, csp[:]); err != nil {
		return err
	}
	cr := reader{arena: r.arena, data: r.data, spans: csp[:], names: detailFieldNames[:], prefix: field + "."}
	reason, err := cr.optStr(dReason)
	if err != nil {
		return err
	}
	d.Message = cancelledPrefix + reason.Value
	return nil
}
