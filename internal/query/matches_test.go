package query_test

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/query"
)

// TestMatchesAgreesWithTheOracle: ListFilter.Matches keeps exactly the
// instances the oracle's list keeps, for random combinations of every
// filter drawn from the values a generated fleet has.
func TestMatchesAgreesWithTheOracle(t *testing.T) {
	var evs []events.Event
	for h := range gen.Histories(gen.Config{Seed: 5, Instances: 400, SpreadMs: 86_400_000, RunningFraction: 0.3}) {
		evs = append(evs, h...)
	}
	o := oracle.New(evs)
	all := o.ListInstances(oracle.ListFilter{})
	if len(all) < 300 {
		t.Fatalf("%d instances; want the generated fleet", len(all))
	}
	pick := func(r *rand.Rand) *api.InstanceSummary { return &all[r.IntN(len(all))] }
	r := rand.New(rand.NewPCG(1, 2))
	nonEmpty := 0
	for i := range 3000 {
		var f query.ListFilter
		// Each filter is set with probability 1/4, from a random instance's
		// value (so that it selects something), or a value no one has.
		maybe := func() bool { return r.IntN(4) == 0 }
		if maybe() {
			f.Statuses = []string{pick(r).Status}
			if maybe() {
				f.Statuses = append(f.Statuses, api.StatusFailed)
			}
		}
		if maybe() {
			f.Orchestration = pick(r).OrchestrationName
		}
		if maybe() {
			f.Version = pick(r).Version
		}
		if maybe() {
			v := int64(pick(r).CreatedAt)
			f.CreatedAfter = &v
		}
		if maybe() {
			v := int64(pick(r).CreatedAt) + int64(r.IntN(3))
			f.CreatedBefore = &v
		}
		if maybe() {
			v := int64(pick(r).UpdatedAt)
			f.UpdatedAfter = &v
		}
		if maybe() {
			v := int64(pick(r).UpdatedAt) + 1
			f.UpdatedBefore = &v
		}
		if p := pick(r).ParentInstance; p != nil && maybe() {
			f.ParentInstance = *p
		} else if maybe() {
			f.RootOnly = true
		}
		if maybe() {
			id := pick(r).InstanceID
			f.InstancePrefix = id[:r.IntN(len(id)+1)]
		}
		if c := pick(r).CustomStatus; c != nil && maybe() {
			f.CustomStatusPrefix = (*c)[:r.IntN(len(*c)+1)]
		}
		if e := pick(r).Error; e != nil && maybe() {
			f.ErrorKind = e.Kind
		}
		if e := pick(r).Error; e != nil && maybe() {
			f.ErrorCategory = e.Category
		}
		if i%50 == 0 {
			f.Orchestration = "no-such-orchestration"
		}
		want := o.ListInstances(oracleFilter(f))
		var got []api.InstanceSummary
		for _, s := range all {
			if f.Matches(&s) {
				got = append(got, s)
			}
		}
		if len(want) > 0 {
			nonEmpty++
		}
		if !slices.EqualFunc(got, want, func(a, b api.InstanceSummary) bool { return a.InstanceID == b.InstanceID }) {
			t.Fatalf("filter %+v: Matches keeps %d instances, the oracle's list %d", f, len(got), len(want))
		}
	}
	if nonEmpty < 500 {
		t.Fatalf("only %d of 3000 filters selected anything: the test checks too little", nonEmpty)
	}
}

// oracleFilter is the oracle's own filter for f ("" = any).
func oracleFilter(f query.ListFilter) oracle.ListFilter {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return oracle.ListFilter{Statuses: f.Statuses, Orchestration: opt(f.Orchestration), CreatedAfter: f.CreatedAfter,
		CreatedBefore: f.CreatedBefore, ParentInstance: opt(f.ParentInstance), InstancePrefix: opt(f.InstancePrefix),
		Version: f.Version, UpdatedAfter: f.UpdatedAfter, UpdatedBefore: f.UpdatedBefore,
		CustomStatusPrefix: f.CustomStatusPrefix, ErrorKind: f.ErrorKind, ErrorCategory: f.ErrorCategory, RootOnly: f.RootOnly}
}

// TestMatchesKnowsEveryFilter fails when ListFilter gains a field that
// Matches (or, for ActivityTag, the change feed) does not apply: a new list
// filter must be added to the live change feed too.
func TestMatchesKnowsEveryFilter(t *testing.T) {
	known := []string{"Statuses", "Orchestration", "CreatedAfter", "CreatedBefore", "ParentInstance", "InstancePrefix",
		"Version", "UpdatedAfter", "UpdatedBefore", "CustomStatusPrefix", "ErrorKind", "ErrorCategory", "RootOnly",
		"ActivityTag",              // applied by the change feed with InstanceReader.ActivityTags
		"Limit", "Offset", "After"} // paging: not a filter
	rt := reflect.TypeOf(query.ListFilter{})
	for i := range rt.NumField() {
		if name := rt.Field(i).Name; !slices.Contains(known, name) {
			t.Errorf("ListFilter.%s: not applied by ListFilter.Matches (GET /v1/instances/changes); add it there and here", name)
		}
	}
}
