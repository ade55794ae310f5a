package events

import "unicode/utf8"

// QueueSnapshot is one payload of QueueSubject: the depths of Duroxide's work
// queues at TimestampMs.
type QueueSnapshot struct {
	OrchestratorQueue uint64 `json:"orchestrator_queue"`
	WorkerQueue       uint64 `json:"worker_queue"`
	TimerQueue        uint64 `json:"timer_queue"`
	TimestampMs       uint64 `json:"timestamp_ms"`
}

const (
	qOrchestrator = iota
	qWorker
	qTimer
	qTimestamp
	numQueueFields
)

var queueFieldNames = [numQueueFields]string{"orchestrator_queue", "worker_queue", "timer_queue", "timestamp_ms"}

func queueField(name []byte) int {
	switch string(name) {
	case "orchestrator_queue":
		return qOrchestrator
	case "worker_queue":
		return qWorker
	case "timer_queue":
		return qTimer
	case "timestamp_ms":
		return qTimestamp
	}
	return -1
}

// DecodeQueueSnapshot decodes {"orchestrator_queue":n,"worker_queue":n,
// "timer_queue":n,"timestamp_ms":t} with the same strictness as Decode: one
// JSON object, valid UTF-8, at most MaxPayload bytes and MaxDepth levels; all
// four members required u64 (no fraction, exponent, sign, or overflow).
// Unknown members are ignored and a repeated member's last value wins. A
// non-nil error is a *DecodeError.
func DecodeQueueSnapshot(raw []byte) (QueueSnapshot, error) {
	q, err := decodeQueueSnapshot(raw)
	if err != nil {
		return QueueSnapshot{}, err
	}
	return q, nil
}

func decodeQueueSnapshot(raw []byte) (QueueSnapshot, *DecodeError) {
	if len(raw) > MaxPayload {
		return QueueSnapshot{}, payloadTooLarge(len(raw))
	}
	if !utf8.Valid(raw) {
		return QueueSnapshot{}, invalidUTF8(raw)
	}
	var sp [numQueueFields]span
	if err := scanTop(raw, queueFields, sp[:]); err != nil {
		return QueueSnapshot{}, err
	}
	r := reader{data: raw, spans: sp[:], names: queueFieldNames[:]}
	var q QueueSnapshot
	var err *DecodeError
	if q.OrchestratorQueue, err = r.uintMin(qOrchestrator, 0); err != nil {
		return QueueSnapshot{}, err
	}
	if q.WorkerQueue, err = r.uintMin(qWorker, 0); err != nil {
		return QueueSnapshot{}, err
	}
	if q.TimerQueue, err = r.uintMin(qTimer, 0); err != nil {
		return QueueSnapshot{}, err
	}
	if q.TimestampMs, err = r.uintMin(qTimestamp, 0); err != nil {
		return QueueSnapshot{}, err
	}
	return q, nil
}
