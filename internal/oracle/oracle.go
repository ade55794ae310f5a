// Package oracle is the independent reference implementation of the query
// API: it answers every question of API.md by replaying the histories held
// in memory, the way the seed ManagementClient design does. The differential
// tests compare the real service (projection + ClickHouse read model) with it.
//
// Independence is the point: this package must never import or copy code
// from projection/ or readmodel/. It reads only events (types) and api
// (answer types), and derives everything straight from the contract text
// (EVENTS.md "Derived semantics", API.md "Precise rules", docs/semantics.md).
package oracle

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
)

// Oracle holds a replayed view of a set of events and source notices. It is
// read-only after New and safe for concurrent use.
type Oracle struct {
	// instances holds the live incarnation of every instance id that has
	// one (docs/deletions.md).
	instances map[string]*instance
	// ids is every instance id of instances, sorted, so scans are
	// deterministic.
	ids []string
	// past holds the deleted incarnations, which only the reports count.
	past []*instance
}

// New replays evts and notices. Order does not matter; within one
// incarnation of an instance id the same (execution, event_id) is the same
// event, and of several copies the first one in evts is kept (the contract
// allows either). Notices are applied as EVENTS.md "Source notices" says
// (docs/deletions.md): InstanceDeleted hides every event at or before it,
// ExecutionsPruned after the latest deletion hides those executions from
// the listings and the history.
func New(evts []events.Event, notices ...events.Notice) *Oracle {
	byInstance := make(map[string][]*events.Event)
	for i := range evts {
		e := &evts[i]
		byInstance[e.InstanceID] = append(byInstance[e.InstanceID], e)
	}
	noticesOf := make(map[string][]events.Notice)
	for _, n := range notices {
		noticesOf[n.InstanceID] = append(noticesOf[n.InstanceID], n)
	}
	o := &Oracle{instances: make(map[string]*instance, len(byInstance))}
	for id, list := range byInstance {
		o.add(id, list, noticesOf[id])
	}
	sort.Strings(o.ids)
	o.sortPast()
	return o
}

// Instance answers GET /v1/instances/{id}.
func (o *Oracle) Instance(id string) (api.InstanceSummary, bool) {
	in, ok := o.instances[id]
	if !ok {
		return api.InstanceSummary{}, false
	}
	return in.summary, true
}

// Details answers GET /v1/instances/{id}/details.
func (o *Oracle) Details(id string) (api.InstanceDetails, bool) {
	in, ok := o.instances[id]
	if !ok {
		return api.InstanceDetails{}, false
	}
	d := api.InstanceDetails{Summary: in.summary, Executions: in.executionSummaries()}
	if in.summary.Status == api.StatusRunning {
		cur := in.latest().details()
		d.CurrentExecution = &cur
	}
	return d, true
}

// Executions answers GET /v1/instances/{id}/executions.
func (o *Oracle) Executions(id string) (api.ExecutionList, bool) {
	in, ok := o.instances[id]
	if !ok {
		return api.ExecutionList{}, false
	}
	return api.ExecutionList{Executions: in.executionSummaries()}, true
}

// History answers GET /v1/instances/{id}/history: the stored bytes, ordered
// by (execution_id, event_id), one copy each. executionID restricts it to one
// execution; a missing instance or execution is not found.
func (o *Oracle) History(id string, executionID *uint64) (api.History, bool) {
	evs, ok := o.HistoryEvents(id, executionID)
	if !ok {
		return api.History{}, false
	}
	h := api.History{Events: []json.RawMessage{}}
	for _, e := range evs {
		h.Events = append(h.Events, json.RawMessage(e.Raw))
	}
	return h, true
}

// HistoryEvents are the events History answers with, decoded (their keys
// page a history).
func (o *Oracle) HistoryEvents(id string, executionID *uint64) ([]*events.Event, bool) {
	in, ok := o.instances[id]
	if !ok {
		return nil, false
	}
	var out []*events.Event
	found := executionID == nil
	for _, x := range in.executions {
		if in.pruned[x.id] || (executionID != nil && x.id != *executionID) {
			continue
		}
		found = true
		out = append(out, x.events...)
	}
	return out, found
}

// ListFilter is the filter of GET /v1/instances. Nil / empty fields do not
// filter. CreatedAfter / CreatedBefore are epoch ms, half-open
// (>= after, < before).
type ListFilter struct {
	Statuses       []string
	Orchestration  *string
	CreatedAfter   *int64
	CreatedBefore  *int64
	ParentInstance *string
	InstancePrefix *string
	// Version, CustomStatusPrefix, ErrorKind and ErrorCategory: "" = any.
	Version            string
	UpdatedAfter       *int64
	UpdatedBefore      *int64
	CustomStatusPrefix string
	ErrorKind          string
	ErrorCategory      string
	RootOnly           bool
	// ActivityTag: instances that scheduled an activity with this tag in
	// any of their executions, pruned ones included ("" = any).
	ActivityTag string
}

// tagged reports whether in scheduled an activity tagged f.ActivityTag
// (true when the filter is off).
func (f ListFilter) tagged(in *instance) bool {
	if f.ActivityTag == "" {
		return true
	}
	for _, x := range in.executions {
		for _, e := range x.events {
			if e.Type == events.TypeActivityScheduled && e.Tag.Valid && e.Tag.Value == f.ActivityTag {
				return true
			}
		}
	}
	return false
}

// ActivityTags are the distinct tags (sorted) of the activities instance id
// scheduled, in the executions tagged looks at; nil without any.
func (o *Oracle) ActivityTags(id string) []string {
	in, ok := o.instances[id]
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, x := range in.executions {
		for _, e := range x.events {
			if e.Type == events.TypeActivityScheduled && e.Tag.Valid && !seen[e.Tag.Value] {
				seen[e.Tag.Value] = true
				out = append(out, e.Tag.Value)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (f ListFilter) matches(s *api.InstanceSummary) bool {
	if f.Version != "" && s.Version != f.Version {
		return false
	}
	if f.UpdatedAfter != nil && int64(s.UpdatedAt) < *f.UpdatedAfter {
		return false
	}
	if f.UpdatedBefore != nil && int64(s.UpdatedAt) >= *f.UpdatedBefore {
		return false
	}
	if f.CustomStatusPrefix != "" && (s.CustomStatus == nil || !strings.HasPrefix(*s.CustomStatus, f.CustomStatusPrefix)) {
		return false
	}
	if f.ErrorKind != "" && (s.Error == nil || s.Error.Kind != f.ErrorKind) {
		return false
	}
	if f.ErrorCategory != "" && (s.Error == nil || s.Error.Category != f.ErrorCategory) {
		return false
	}
	if f.RootOnly && s.ParentInstance != nil {
		return false
	}
	if len(f.Statuses) > 0 {
		hit := false
		for _, st := range f.Statuses {
			if s.Status == st {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	if f.Orchestration != nil && s.OrchestrationName != *f.Orchestration {
		return false
	}
	if f.CreatedAfter != nil && int64(s.CreatedAt) < *f.CreatedAfter {
		return false
	}
	if f.CreatedBefore != nil && int64(s.CreatedAt) >= *f.CreatedBefore {
		return false
	}
	if f.ParentInstance != nil && (s.ParentInstance == nil || *s.ParentInstance != *f.ParentInstance) {
		return false
	}
	if f.InstancePrefix != nil && !strings.HasPrefix(s.InstanceID, *f.InstancePrefix) {
		return false
	}
	return true
}

// ListInstances answers GET /v1/instances without paging: every matching
// instance, ordered created_at desc, then instance_id asc. The caller pages.
func (o *Oracle) ListInstances(f ListFilter) []api.InstanceSummary {
	out := []api.InstanceSummary{}
	for _, id := range o.ids {
		in := o.instances[id]
		if s := in.summary; f.matches(&s) && f.tagged(in) {
			out = append(out, in.summary)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt > out[j].CreatedAt
		}
		return out[i].InstanceID < out[j].InstanceID
	})
	return out
}

// BulkStatus answers POST /v1/bulk/status: one entry per requested id, in
// request order, duplicates included; unknown ids are NotFound.
func (o *Oracle) BulkStatus(ids []string) api.BulkStatusResponse {
	r := api.BulkStatusResponse{Statuses: make([]api.InstanceStatus, 0, len(ids))}
	for _, id := range ids {
		st := api.StatusNotFound
		if in, ok := o.instances[id]; ok {
			st = in.summary.Status
		}
		r.Statuses = append(r.Statuses, api.InstanceStatus{InstanceID: id, Status: st})
	}
	return r
}
