// Package events holds the Go form of Duroxide history events as published on
// NATS (see ../shared/contract/EVENTS.md): decoding, validation, and the
// subject / Nats-Msg-Id helpers. It is the only package that reads wire bytes.
package events

// Event type names of the contract. Anything else is an unknown (future) type:
// kept in the stored history, ignored by the projections.
const (
	TypeOrchestrationStarted                  = "OrchestrationStarted"
	TypeOrchestrationCompleted                = "OrchestrationCompleted"
	TypeOrchestrationFailed                   = "OrchestrationFailed"
	TypeOrchestrationContinuedAsNew           = "OrchestrationContinuedAsNew"
	TypeOrchestrationCancelRequested          = "OrchestrationCancelRequested"
	TypeOrchestrationChained                  = "OrchestrationChained"
	TypeActivityScheduled                     = "ActivityScheduled"
	TypeActivityCompleted                     = "ActivityCompleted"
	TypeActivityFailed                        = "ActivityFailed"
	TypeActivityCancelRequested               = "ActivityCancelRequested"
	TypeTimerCreated                          = "TimerCreated"
	TypeTimerFired                            = "TimerFired"
	TypeExternalSubscribed                    = "ExternalSubscribed"
	TypeExternalEvent                         = "ExternalEvent"
	TypeExternalSubscribedCancelled           = "ExternalSubscribedCancelled"
	TypeExternalSubscribedPersistent          = "ExternalSubscribedPersistent"
	TypeExternalEventPersistent               = "ExternalEventPersistent"
	TypeExternalSubscribedPersistentCancelled = "ExternalSubscribedPersistentCancelled"
	TypeSubOrchestrationScheduled             = "SubOrchestrationScheduled"
	TypeSubOrchestrationCompleted             = "SubOrchestrationCompleted"
	TypeSubOrchestrationFailed                = "SubOrchestrationFailed"
	TypeSubOrchestrationCancelRequested       = "SubOrchestrationCancelRequested"
	TypeCustomStatusUpdated                   = "CustomStatusUpdated"
	TypeKeyValueSet                           = "KeyValueSet"
	TypeKeyValueCleared                       = "KeyValueCleared"
	TypeKeyValuesCleared                      = "KeyValuesCleared"
)

// SystemCallPrefix marks activities that are Duroxide system calls.
const SystemCallPrefix = "__duroxide_syscall:"

// Key identifies one event: the same key is the same event, whatever the bytes.
type Key struct {
	InstanceID  string
	ExecutionID uint64
	EventID     uint64
}

// Less orders keys by (instance, execution, event).
func (k Key) Less(o Key) bool {
	if k.InstanceID != o.InstanceID {
		return k.InstanceID < o.InstanceID
	}
	if k.ExecutionID != o.ExecutionID {
		return k.ExecutionID < o.ExecutionID
	}
	return k.EventID < o.EventID
}

// OptString is a JSON string that may be absent or null.
type OptString struct {
	Value string
	Valid bool
}

// OptUint is a JSON u64 that may be absent or null.
type OptUint struct {
	Value uint64
	Valid bool
}

// ErrorDetails is the read-model projection of Duroxide's ErrorDetails enum:
// {"category","kind","message","retryable"} (EVENTS.md).
type ErrorDetails struct {
	Category  string `json:"category"`
	Kind      string `json:"kind"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// Event is one decoded history event. Common fields are always set for a
// valid event; variant fields are set according to Type (zero otherwise).
type Event struct {
	EventID         uint64
	SourceEventID   OptUint
	InstanceID      string
	ExecutionID     uint64
	TimestampMs     uint64
	DuroxideVersion string
	Type            string
	// Known is false for a type this projector does not know.
	Known bool

	// Variant fields. Which ones apply: see EVENTS.md's variant table.
	Name           string    // OrchestrationStarted, OrchestrationChained, ActivityScheduled, External*, SubOrchestrationScheduled
	Version        string    // OrchestrationStarted
	Input          string    // OrchestrationStarted, OrchestrationContinuedAsNew, OrchestrationChained, ActivityScheduled, SubOrchestrationScheduled
	Output         string    // OrchestrationCompleted
	Result         string    // ActivityCompleted, SubOrchestrationCompleted
	Data           string    // ExternalEvent, ExternalEventPersistent
	Reason         string    // *CancelRequested, *Cancelled
	Instance       string    // OrchestrationChained, SubOrchestrationScheduled (as recorded, e.g. "sub::2")
	ParentInstance OptString // OrchestrationStarted
	ParentID       OptUint   // OrchestrationStarted
	// InitialCustomStatus is OrchestrationStarted.initial_custom_status.
	InitialCustomStatus OptString
	// Status is CustomStatusUpdated.status (null is a valid value: Valid=false).
	Status    OptString
	SessionID OptString // ActivityScheduled
	Tag       OptString // ActivityScheduled
	FireAtMs  uint64    // TimerCreated, TimerFired
	// Details is the projected ErrorDetails of *Failed events.
	Details *ErrorDetails
	// DetailsRaw is the wire JSON of `details` exactly as received (Decode
	// sets it; it aliases Raw). Marshal writes it verbatim so that the
	// original ErrorDetails survives re-encoding; when nil, Marshal
	// synthesises a wire form from Details.
	DetailsRaw []byte
	// CarryForwardEvents is OrchestrationStarted.carry_forward_events.
	CarryForwardEvents [][2]string
	Key                string  // KeyValueSet, KeyValueCleared
	Value              string  // KeyValueSet
	LastUpdatedAtMs    OptUint // KeyValueSet

	// Raw is the payload exactly as published; /history serves it verbatim.
	Raw []byte
}

// EventKey returns the event's identity.
func (e *Event) EventKey() Key {
	return Key{InstanceID: e.InstanceID, ExecutionID: e.ExecutionID, EventID: e.EventID}
}

// IsLifecycle reports whether the event decides an execution's status.
func (e *Event) IsLifecycle() bool {
	switch e.Type {
	case TypeOrchestrationStarted, TypeOrchestrationCompleted, TypeOrchestrationFailed, TypeOrchestrationContinuedAsNew:
		return true
	}
	return false
}
