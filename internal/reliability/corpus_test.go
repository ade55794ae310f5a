package reliability

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"

	"github.com/duroscope/duroscope/events"
)

// badMessage is one message of the malformed corpus: bad by EVENTS.md
// ("What the projector must survive"), so it must be dead-lettered.
type badMessage struct {
	category string
	subject  string
	data     []byte
}

// Field patterns in the generated wire JSON. Inside a JSON string every
// quote is escaped, so `"event_id":` can only match a member name; the
// common fields come first, so the first match is the top-level one.
var (
	reEventID   = regexp.MustCompile(`"event_id":\d+`)
	reExecID    = regexp.MustCompile(`"execution_id":\d+`)
	reTimestamp = regexp.MustCompile(`"timestamp_ms":\d+`)
	reInstance  = regexp.MustCompile(`"instance_id":"(?:[^"\\]|\\.)*"`)
	reType      = regexp.MustCompile(`"type":"(?:[^"\\]|\\.)*"`)
	reSource    = regexp.MustCompile(`"source_event_id":(?:null|\d+)`)
	reName      = regexp.MustCompile(`"name":"(?:[^"\\]|\\.)*"`)
	reFireAt    = regexp.MustCompile(`"fire_at_ms":\d+`)
	reDetails   = regexp.MustCompile(`"details":\{`)
)

// replaceFirst replaces the first match of re in raw with repl (which may
// use the match); ok is false when there is none.
func replaceFirst(raw []byte, re *regexp.Regexp, repl func(m []byte) []byte) ([]byte, bool) {
	loc := re.FindIndex(raw)
	if loc == nil {
		return nil, false
	}
	out := make([]byte, 0, len(raw)+64)
	out = append(out, raw[:loc[0]]...)
	out = append(out, repl(raw[loc[0]:loc[1]])...)
	return append(out, raw[loc[1]:]...), true
}

func setField(name, value string) func([]byte) []byte {
	return func([]byte) []byte { return []byte(`"` + name + `":` + value) }
}

// removeMember deletes the first match of re together with one adjacent comma.
func removeMember(raw []byte, re *regexp.Regexp) ([]byte, bool) {
	loc := re.FindIndex(raw)
	if loc == nil {
		return nil, false
	}
	lo, hi := loc[0], loc[1]
	if hi < len(raw) && raw[hi] == ',' {
		hi++
	} else if lo > 0 && raw[lo-1] == ',' {
		lo--
	}
	return append(append([]byte{}, raw[:lo]...), raw[hi:]...), true
}

// addMember inserts `,"zz":<value>` before the payload's closing brace.
func addMember(raw []byte, value []byte) []byte {
	i := bytes.LastIndexByte(raw, '}')
	out := append([]byte{}, raw[:i]...)
	out = append(out, `,"zz":`...)
	out = append(out, value...)
	return append(out, raw[i:]...)
}

var invalidUTF8 = [][]byte{
	{0xff}, {0xfe}, {0x80}, {0xc0, 0xaf}, {0xc3, 0x28}, {0xed, 0xa0, 0x80},
	{0xf4, 0x90, 0x80, 0x80}, {0xe2, 0x82}, {0xf8, 0x88, 0x80, 0x80, 0x80},
}

// corpusCategory makes a bad message of its kind from a valid event; ok is
// false when the event does not lend itself (e.g. has no "name").
type corpusCategory struct {
	name string
	make func(rng *rand.Rand, e *events.Event) ([]byte, bool)
}

var corpusCategories = []corpusCategory{
	{"truncated-json", func(rng *rand.Rand, e *events.Event) ([]byte, bool) {
		// Every proper prefix of a JSON object is invalid JSON.
		return append([]byte{}, e.Raw[:1+rng.IntN(len(e.Raw)-1)]...), true
	}},
	{"wrong-type", func(rng *rand.Rand, e *events.Event) ([]byte, bool) {
		switch rng.IntN(8) {
		case 0:
			return replaceFirst(e.Raw, reEventID, func(m []byte) []byte { return []byte(`"event_id":"` + string(m[len(`"event_id":`):]) + `"`) })
		case 1:
			return replaceFirst(e.Raw, reExecID, setField("execution_id", "true"))
		case 2:
			return replaceFirst(e.Raw, reInstance, setField("instance_id", "42"))
		case 3:
			return replaceFirst(e.Raw, reTimestamp, setField("timestamp_ms", `"yesterday"`))
		case 4:
			return replaceFirst(e.Raw, reType, setField("type", []string{"null", "7", "[]", "{}"}[rng.IntN(4)]))
		case 5:
			return replaceFirst(e.Raw, reSource, setField("source_event_id", `"x"`))
		case 6:
			return replaceFirst(e.Raw, reEventID, setField("event_id", []string{"{}", "[1]", "null", "false"}[rng.IntN(4)]))
		default:
			return replaceFirst(e.Raw, reInstance, setField("instance_id", `["a"]`))
		}
	}},
	{"variant-field-wrong-type", func(rng *rand.Rand, e *events.Event) ([]byte, bool) {
		if b, ok := replaceFirst(e.Raw, reFireAt, setField("fire_at_ms", `"soon"`)); ok {
			return b, true
		}
		if b, ok := replaceFirst(e.Raw, reDetails, func([]byte) []byte { return []byte(`"details":"boom","zz_details":{`) }); ok {
			return b, true
		}
		return replaceFirst(e.Raw, reName, setField("name", fmt.Sprint(rng.IntN(1000))))
	}},
	{"huge-instance-id", func(rng *rand.Rand, e *events.Event) ([]byte, bool) {
		// Over the contract's 1024 bytes: mostly up to 20 KB, one in 20 up
		// to 500 KB.
		n := 1025 + rng.IntN(20_000)
		if rng.IntN(20) == 0 {
			n = 1025 + rng.IntN(500_000)
		}
		id := strings.Repeat("x", n)
		return replaceFirst(e.Raw, reInstance, setField("instance_id", `"`+id+`"`))
	}},
	{"deep-nesting", func(rng *rand.Rand, e *events.Event) ([]byte, bool) {
		// The payload is level 1; 64 more levels make 65.
		d := 64 + rng.IntN(3000)
		if rng.IntN(2) == 0 {
			return addMember(e.Raw, []byte(strings.Repeat("[", d)+strings.Repeat("]", d))), true
		}
		return addMember(e.Raw, []byte(strings.Repeat(`{"a":`, d)+"1"+strings.Repeat("}", d))), true
	}},
	{"invalid-utf8", func(rng *rand.Rand, e *events.Event) ([]byte, bool) {
		bad := invalidUTF8[rng.IntN(len(invalidUTF8))]
		switch rng.IntN(3) {
		case 0: // inside the instance id
			return replaceFirst(e.Raw, reInstance, func(m []byte) []byte {
				return append(append(append([]byte{}, m[:len(m)-1]...), bad...), '"')
			})
		case 1: // inside an unknown member's value
			return addMember(e.Raw, append(append([]byte{'"'}, bad...), '"')), true
		default: // inside a member name
			i := bytes.LastIndexByte(e.Raw, '}')
			out := append([]byte{}, e.Raw[:i]...)
			out = append(append(append(out, `,"z`...), bad...), `":1`...)
			return append(out, e.Raw[i:]...), true
		}
	}},
	{"negative-number", func(rng *rand.Rand, e *events.Event) ([]byte, bool) {
		switch rng.IntN(3) {
		case 0:
			return replaceFirst(e.Raw, reEventID, setField("event_id", "-"+fmt.Sprint(1+rng.IntN(100))))
		case 1:
			return replaceFirst(e.Raw, reExecID, setField("execution_id", "-1"))
		default:
			return replaceFirst(e.Raw, reTimestamp, setField("timestamp_ms", "-5"))
		}
	}},
	{"overflow-or-non-integer", func(rng *rand.Rand, e *events.Event) ([]byte, bool) {
		vals := []string{"18446744073709551616", "99999999999999999999999", "1e3", "1.0", "1764105600000.5", "1E2", "0.5e1"}
		v := vals[rng.IntN(len(vals))]
		switch rng.IntN(3) {
		case 0:
			return replaceFirst(e.Raw, reEventID, setField("event_id", v))
		case 1:
			return replaceFirst(e.Raw, reExecID, setField("execution_id", v))
		default:
			return replaceFirst(e.Raw, reTimestamp, setField("timestamp_ms", v))
		}
	}},
	{"missing-field", func(rng *rand.Rand, e *events.Event) ([]byte, bool) {
		switch rng.IntN(6) {
		case 0:
			return removeMember(e.Raw, reInstance)
		case 1:
			return removeMember(e.Raw, reEventID)
		case 2:
			return removeMember(e.Raw, reExecID)
		case 3:
			return removeMember(e.Raw, reType)
		case 4:
			return removeMember(e.Raw, reTimestamp)
		default: // a known variant's required field
			return removeMember(e.Raw, reName)
		}
	}},
	{"zero-or-empty-id", func(rng *rand.Rand, e *events.Event) ([]byte, bool) {
		switch rng.IntN(3) {
		case 0:
			return replaceFirst(e.Raw, reEventID, setField("event_id", "0"))
		case 1:
			return replaceFirst(e.Raw, reExecID, setField("execution_id", "0"))
		default:
			return replaceFirst(e.Raw, reInstance, setField("instance_id", `""`))
		}
	}},
	{"not-an-object", func(rng *rand.Rand, e *events.Event) ([]byte, bool) {
		fixed := []string{"[1,2,3]", "123", `"str"`, "null", "true", "", " ", "{", "}", "[]", "[" + string(e.Raw) + "]", "\x00\x01\x02", "{}"}
		if rng.IntN(3) > 0 {
			return []byte(fixed[rng.IntN(len(fixed))]), true
		}
		b := make([]byte, 1+rng.IntN(300)) // random bytes: never a valid event
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b, true
	}},
	{"trailing-data", func(rng *rand.Rand, e *events.Event) ([]byte, bool) {
		return append(append([]byte{}, e.Raw...), []string{" {}", "x", "]", ",", " null", "}"}[rng.IntN(6)]...), true
	}},
}

// oversized is a valid-looking event over 1 MiB (a huge output string).
func oversized(rng *rand.Rand, e *events.Event) []byte {
	return addMember(e.Raw, []byte(`"`+strings.Repeat("o", events.MaxPayload+rng.IntN(200_000))+`"`))
}

// malformedCorpus generates n bad messages (plus `big` oversized ones) from
// the valid events of known types (the variant fields of an unknown type are
// not checked, so breaking them does not make a bad message), spread evenly
// over the categories; each goes to the subject of the event it was made
// from.
func malformedCorpus(seed uint64, valid []events.Event, n, big int) []badMessage {
	rng := rand.New(rand.NewPCG(seed, seed*31+7))
	out := make([]badMessage, 0, n+big)
	for i := 0; len(out) < n; i++ {
		cat := corpusCategories[i%len(corpusCategories)]
		for {
			e := &valid[rng.IntN(len(valid))]
			if !e.Known {
				continue
			}
			if b, ok := cat.make(rng, e); ok {
				out = append(out, badMessage{category: cat.name, subject: events.Subject(e.InstanceID), data: b})
				break
			}
		}
	}
	for i := 0; i < big; i++ {
		e := &valid[rng.IntN(len(valid))]
		out = append(out, badMessage{category: "over-1MiB", subject: events.Subject(e.InstanceID), data: oversized(rng, e)})
	}
	return out
}

// unknownTypeEvents are valid events of types this projector does not know
// (a newer Duroxide), with fresh event ids in existing executions and
// arbitrary extra fields: they must be stored and counted, not dead-lettered.
func unknownTypeEvents(seed uint64, valid []events.Event, n int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 99))
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		e := &valid[rng.IntN(len(valid))]
		inst := reInstance.Find(e.Raw)
		out = append(out, fmt.Appendf(nil,
			`{"event_id":%d,"source_event_id":null,%s,"execution_id":%d,"timestamp_ms":%d,"duroxide_version":"0.9.0","type":"FutureThing%d","payload":{"nested":[1,{"a":"é"}],"n":%d},"extra":null}`,
			1_000_000+i, inst, e.ExecutionID, e.TimestampMs, rng.IntN(5), rng.IntN(1000)))
	}
	return out
}
