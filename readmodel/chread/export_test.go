package chread

import (
	"context"
	"errors"
	"testing"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// TestStreamInstancesEqualsList checks that the export streams exactly what
// paging through ListInstances returns, in the same order, for several
// filters, and that an error from emit stops it.
func TestStreamInstancesEqualsList(t *testing.T) {
	d := qTestDB(t, nil)
	evs := reportEvents(t, 200)
	d.project(t, evs)
	ctx := context.Background()
	mid := int64(evs[len(evs)/2].TimestampMs)
	for _, f := range []query.ListFilter{
		{},
		{Statuses: []string{api.StatusRunning, api.StatusFailed}},
		{Orchestration: "ProcessOrder", CreatedAfter: qPtr(mid)},
		{InstancePrefix: "order-1"},
		{CreatedBefore: qPtr(mid), Limit: 3, Offset: 2}, // paging fields are ignored
	} {
		var want []api.InstanceSummary
		page := f
		page.Limit, page.Offset = 7, 0
		for {
			l, err := d.r.ListInstances(ctx, page)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, l.Instances...)
			if l.NextPageToken == nil {
				break
			}
			c, err := query.DecodePageToken(*l.NextPageToken)
			if err != nil {
				t.Fatal(err)
			}
			page.After = &c
		}
		var got []api.InstanceSummary
		if err := d.r.StreamInstances(ctx, f, func(s api.InstanceSummary) error {
			got = append(got, s)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			t.Fatalf("filter %+v matches nothing: the test data does not exercise it", f)
		}
		qSameJSON(t, "export", got, want)
	}
	stop := errors.New("stop")
	n := 0
	err := d.r.StreamInstances(ctx, query.ListFilter{}, func(api.InstanceSummary) error {
		n++
		if n == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 5 {
		t.Fatalf("emit error: got %v after %d rows, want the emit error after 5", err, n)
	}
}
