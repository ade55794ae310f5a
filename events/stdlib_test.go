package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// stdlibWire is the straightforward encoding/json form of a payload. It is the
// baseline of BenchmarkDecodeStdlib (what Decode would cost if written the
// obvious way) and a second, independent reading of the fixtures in tests.
type stdlibWire struct {
	EventID             *uint64         `json:"event_id"`
	SourceEventID       *uint64         `json:"source_event_id"`
	InstanceID          *string         `json:"instance_id"`
	ExecutionID         *uint64         `json:"execution_id"`
	TimestampMs         *uint64         `json:"timestamp_ms"`
	DuroxideVersion     *string         `json:"duroxide_version"`
	Type                *string         `json:"type"`
	Name                *string         `json:"name"`
	Version             *string         `json:"version"`
	Input               *string         `json:"input"`
	Output              *string         `json:"output"`
	Result              *string         `json:"result"`
	Data                *string         `json:"data"`
	Reason              *string         `json:"reason"`
	Instance            *string         `json:"instance"`
	ParentInstance      *string         `json:"parent_instance"`
	ParentID            *uint64         `json:"parent_id"`
	CarryForwardEvents  *[][2]string    `json:"carry_forward_events"`
	InitialCustomStatus *string         `json:"initial_custom_status"`
	Status              *string         `json:"status"`
	SessionID           *string         `json:"session_id"`
	Tag                 *string         `json:"tag"`
	FireAtMs            *uint64         `json:"fire_at_ms"`
	Details             json.RawMessage `json:"details"`
	Key                 *string         `json:"key"`
	Value               *string         `json:"value"`
	LastUpdatedAtMs     *uint64         `json:"last_updated_at_ms"`
}

// stdlibDecode is a naive encoding/json decoder of the contract, good enough
// for well-formed payloads. It checks required fields but not every bad-message
// rule (depth, trailing data beyond json.Unmarshal's own checks, exponents are
// rejected by encoding/json for uint64 already).
func stdlibDecode(raw []byte) (Event, error) {
	var w stdlibWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return Event{}, err
	}
	if w.EventID == nil || *w.EventID == 0 || w.InstanceID == nil || *w.InstanceID == "" ||
		w.ExecutionID == nil || *w.ExecutionID == 0 || w.TimestampMs == nil || w.Type == nil {
		return Event{}, errors.New("missing common field")
	}
	e := Event{
		EventID:     *w.EventID,
		InstanceID:  *w.InstanceID,
		ExecutionID: *w.ExecutionID,
		TimestampMs: *w.TimestampMs,
		Type:        *w.Type,
		Known:       isKnownType(*w.Type),
		Raw:         raw,
	}
	if w.SourceEventID != nil {
		e.SourceEventID = OptUint{Value: *w.SourceEventID, Valid: true}
	}
	if w.DuroxideVersion != nil {
		e.DuroxideVersion = *w.DuroxideVersion
	}
	if !e.Known {
		return e, nil
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	opt := func(p *string) OptString {
		if p == nil {
			return OptString{}
		}
		return OptString{Value: *p, Valid: true}
	}
	optU := func(p *uint64) OptUint {
		if p == nil {
			return OptUint{}
		}
		return OptUint{Value: *p, Valid: true}
	}
	switch e.Type {
	case TypeOrchestrationStarted:
		e.Name, e.Version, e.Input = str(w.Name), str(w.Version), str(w.Input)
		e.ParentInstance, e.ParentID = opt(w.ParentInstance), optU(w.ParentID)
		e.InitialCustomStatus = opt(w.InitialCustomStatus)
		if w.CarryForwardEvents != nil {
			e.CarryForwardEvents = *w.CarryForwardEvents
		}
	case TypeOrchestrationCompleted:
		e.Output = str(w.Output)
	case TypeOrchestrationFailed, TypeActivityFailed, TypeSubOrchestrationFailed:
		d, err := stdlibDetails(w.Details)
		if err != nil {
			return Event{}, err
		}
		e.Details, e.DetailsRaw = d, []byte(w.Details)
	case TypeOrchestrationContinuedAsNew:
		e.Input = str(w.Input)
	case TypeOrchestrationCancelRequested, TypeActivityCancelRequested, TypeExternalSubscribedCancelled,
		TypeExternalSubscribedPersistentCancelled, TypeSubOrchestrationCancelRequested:
		e.Reason = str(w.Reason)
	case TypeOrchestrationChained, TypeSubOrchestrationScheduled:
		e.Name, e.Instance, e.Input = str(w.Name), str(w.Instance), str(w.Input)
	case TypeActivityScheduled:
		e.Name, e.Input, e.SessionID, e.Tag = str(w.Name), str(w.Input), opt(w.SessionID), opt(w.Tag)
	case TypeActivityCompleted, TypeSubOrchestrationCompleted:
		e.Result = str(w.Result)
	case TypeTimerCreated, TypeTimerFired:
		if w.FireAtMs != nil {
			e.FireAtMs = *w.FireAtMs
		}
	case TypeExternalSubscribed, TypeExternalSubscribedPersistent:
		e.Name = str(w.Name)
	case TypeExternalEvent, TypeExternalEventPersistent:
		e.Name, e.Data = str(w.Name), str(w.Data)
	case TypeCustomStatusUpdated:
		e.Status = opt(w.Status)
	case TypeKeyValueSet:
		e.Key, e.Value, e.LastUpdatedAtMs = str(w.Key), str(w.Value), optU(w.LastUpdatedAtMs)
	case TypeKeyValueCleared:
		e.Key = str(w.Key)
	}
	return e, nil
}

// stdlibDetails projects ErrorDetails with map[string]json.RawMessage.
func stdlibDetails(raw json.RawMessage) (*ErrorDetails, error) {
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(raw, &outer); err != nil || len(outer) == 0 {
		return nil, fmt.Errorf("details: %v", err)
	}
	var key string
	for k := range outer { // fixtures have exactly one key
		key = k
	}
	var inner struct {
		Kind      json.RawMessage `json:"kind"`
		Operation string          `json:"operation"`
		Message   *string         `json:"message"`
		Retryable bool            `json:"retryable"`
	}
	d := &ErrorDetails{Category: strings.ToLower(key)}
	switch key {
	case "Application", "Infrastructure", "Configuration", "Poison":
		if err := json.Unmarshal(outer[key], &inner); err != nil {
			return nil, err
		}
	default:
		return d, nil
	}
	if inner.Message != nil {
		d.Message = *inner.Message
	}
	d.Retryable = inner.Retryable
	switch key {
	case "Application", "Configuration":
		if bytes.HasPrefix(inner.Kind, []byte("{")) {
			var c struct {
				Cancelled struct {
					Reason string `json:"reason"`
				} `json:"Cancelled"`
			}
			if err := json.Unmarshal(inner.Kind, &c); err != nil {
				return nil, err
			}
			d.Kind, d.Message = "Cancelled", "canceled: "+c.Cancelled.Reason
		} else if len(inner.Kind) > 0 {
			if err := json.Unmarshal(inner.Kind, &d.Kind); err != nil {
				return nil, err
			}
		}
	case "Infrastructure":
		d.Kind = inner.Operation
	case "Poison":
		d.Kind = "Poison"
	}
	return d, nil
}
