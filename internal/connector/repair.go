package connector

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"strconv"

	"github.com/duroscope/duroscope/events"
)

// HashData is the content hash anchors carry: FNV-1a 64 of event_data.
func HashData(data []byte) uint64 {
	h := fnv.New64a()
	h.Write(data)
	return h.Sum64()
}

// repair fills in the key of an OrchestrationFailed that Duroxide (up to
// 0.1.29) wrote with "instance_id":"" and "execution_id":0 (EVENTS.md
// "Events as Duroxide really writes them"). Only those two members of the
// common fields, which serde writes before "type", are rewritten; every
// other byte stays. ok is false when there is nothing to repair.
func repair(data []byte, instanceID string, executionID uint64) ([]byte, bool) {
	head := data
	if t := bytes.Index(data, []byte(`"type":`)); t >= 0 {
		head = data[:t]
	}
	emptyID := []byte(`"instance_id":""`)
	zeroExec := []byte(`"execution_id":0`)
	i := bytes.Index(head, emptyID)
	j := bytes.Index(head, zeroExec)
	if j >= 0 && (j+len(zeroExec) >= len(head) || head[j+len(zeroExec)] != ',' && head[j+len(zeroExec)] != '}') {
		j = -1 // "execution_id":0… is another number
	}
	if i < 0 && j < 0 {
		return data, false
	}
	out := make([]byte, 0, len(data)+len(instanceID)+24)
	pos := 0
	for pos < len(data) {
		switch {
		case pos == i:
			out = append(out, `"instance_id":`...)
			out = events.AppendString(out, instanceID)
			pos += len(emptyID)
		case pos == j:
			out = append(out, `"execution_id":`...)
			out = strconv.AppendUint(out, executionID, 10)
			pos += len(zeroExec)
		default:
			next := len(data)
			if i > pos {
				next = min(next, i)
			}
			if j > pos {
				next = min(next, j)
			}
			out = append(out, data[pos:next]...)
			pos = next
		}
	}
	return out, true
}

// bornOf is the timestamp_ms of a row that starts an instance (execution
// 1, event 1), 0 for other rows and for rows whose payload cannot be read.
func bornOf(r *Row) uint64 {
	if r.ExecutionID != 1 || r.EventID != 1 {
		return 0
	}
	if e, err := events.Decode(r.Data); err == nil {
		return e.TimestampMs
	}
	var v struct {
		TimestampMs uint64 `json:"timestamp_ms"`
	}
	if json.Unmarshal(r.Data, &v) == nil {
		return v.TimestampMs
	}
	return 0
}

func jsonMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled
	}
	return b
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
