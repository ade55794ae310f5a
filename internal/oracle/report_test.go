package oracle

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
)

// Wednesday 2025-11-26 10:00 UTC and the Monday of its week.
var (
	wed    = uint64(time.Date(2025, 11, 26, 10, 0, 0, 0, time.UTC).UnixMilli())
	monday = int64(time.Date(2025, 11, 24, 0, 0, 0, 0, time.UTC).UnixMilli())
)

func version(v string) func(*events.Event) { return func(e *events.Event) { e.Version = v } }
func actFailed(msg string) func(*events.Event) {
	return func(e *events.Event) {
		e.Details = &events.ErrorDetails{Category: "application", Kind: "ActivityFailed", Message: msg}
	}
}

// reportFleet: a completed and a failed instance at 10:00, a running one at
// 11:30, one whose OrchestrationStarted never arrived (not reported), and a
// continue-as-new that changed version (reported by execution 1's).
func reportFleet() []events.Event {
	const h = 3600000
	return []events.Event{
		ev("a", 1, 1, wed, events.TypeOrchestrationStarted, name("Order"), version("1")),
		ev("a", 1, 2, wed+10, events.TypeActivityScheduled, name("Charge")),
		ev("a", 1, 3, wed+110, events.TypeActivityCompleted, src(2)),
		ev("a", 1, 4, wed+200, events.TypeOrchestrationCompleted),

		ev("b", 1, 1, wed+5, events.TypeOrchestrationStarted, name("Order"), version("1")),
		ev("b", 1, 2, wed+10, events.TypeActivityScheduled, name("Charge")),
		ev("b", 1, 3, wed+1010, events.TypeActivityFailed, src(2), actFailed("card declined")),
		ev("b", 1, 4, wed+1100, events.TypeOrchestrationFailed, failed("no payment")),

		ev("c", 1, 1, wed+h+h/2, events.TypeOrchestrationStarted, name("Order"), version("1")),
		ev("c", 1, 2, wed+h+h/2+1, events.TypeActivityScheduled, name("Ship")),

		ev("d", 1, 2, wed+20, events.TypeActivityScheduled, name("Charge")),
		ev("d", 1, 3, wed+30, events.TypeOrchestrationCompleted),

		ev("e", 1, 1, wed+50, events.TypeOrchestrationStarted, name("Loop"), version("1")),
		ev("e", 1, 2, wed+60, events.TypeOrchestrationContinuedAsNew),
		ev("e", 2, 1, wed+70, events.TypeOrchestrationStarted, name("Loop"), version("2")),
		ev("e", 2, 2, wed+90, events.TypeOrchestrationCompleted),
	}
}

func TestTimeseriesRules(t *testing.T) {
	o := New(reportFleet())
	const h = 3600000
	hour10 := api.Time(wed)
	got := o.Timeseries(ReportQuery{Bucket: api.BucketHour, FromMs: int64(wed) + 1, ToMs: int64(wed) + h + 1, GroupBy: api.GroupByOrchestration})
	want := api.Timeseries{Bucket: "hour", From: hour10, To: api.Time(int64(wed) + 2*h), GroupBy: "orchestration",
		Percentiles: "approximate", PercentileMaxRelativeError: 1.0 / 64, Rows: []api.ReportRow{
			{BucketStart: hour10, Group: "Loop", Started: 1, Completed: 1, AvgDurationMs: 40, P50DurationMs: 40, P95DurationMs: 40, P99DurationMs: 40},
			// durations 200 and 1095: binned 200 → [200,203] → 201; 1095 → [1088,1119] → 1103.
			{BucketStart: hour10, Group: "Order", Started: 2, Completed: 1, Failed: 1, FailureRate: 0.5, AvgDurationMs: 647,
				P50DurationMs: 1103, P95DurationMs: 1103, P99DurationMs: 1103},
			{BucketStart: api.Time(int64(wed) + h), Group: "Order", Started: 1, Running: 1},
		}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hours by orchestration:\n got %+v\nwant %+v", got, want)
	}

	got = o.Timeseries(ReportQuery{Bucket: api.BucketWeek, FromMs: int64(wed), ToMs: int64(wed) + 1, GroupBy: api.GroupByVersion,
		Statuses: []string{api.StatusCompleted}})
	if got.From != api.Time(monday) || got.To != api.Time(monday+7*86400000) || len(got.Rows) != 1 ||
		got.Rows[0].Group != "1" || got.Rows[0].Started != 2 || got.Rows[0].Completed != 2 {
		t.Errorf("week by version, completed only: %+v", got)
	}

	got = o.Timeseries(ReportQuery{Bucket: api.BucketMinute, FromMs: int64(wed), ToMs: int64(wed) + 2*h, GroupBy: api.GroupByStatus})
	var groups []string
	for _, r := range got.Rows {
		groups = append(groups, r.Group)
	}
	if got.Percentiles != "exact" || strings.Join(groups, ",") != "Completed,Failed,Running" || got.Rows[0].P99DurationMs != 200 {
		t.Errorf("minutes by status: %+v", got)
	}

	got = o.Timeseries(ReportQuery{Bucket: api.BucketDay, FromMs: int64(wed), ToMs: int64(wed) + 1, GroupBy: api.GroupByActivity})
	wantAct := []api.ReportRow{
		{BucketStart: api.Time(wed - 10*h), Group: "Charge", Started: 2, Completed: 1, Failed: 1, FailureRate: 0.5,
			AvgDurationMs: 550, P50DurationMs: 999, P95DurationMs: 999, P99DurationMs: 999},
		{BucketStart: api.Time(wed - 10*h), Group: "Ship", Started: 1, Running: 1},
	}
	if !reflect.DeepEqual(got.Rows, wantAct) {
		t.Errorf("days by activity:\n got %+v\nwant %+v", got.Rows, wantAct)
	}
}

func TestErrorsReportRules(t *testing.T) {
	o := New(reportFleet())
	got := o.ErrorsReport(ErrorsQuery{FromMs: int64(wed) - 1, ToMs: int64(wed) + 1, Limit: 5})
	want := api.ErrorsReport{From: api.Time(wed - 3600000), To: api.Time(wed + 3600000),
		Orchestrations: []api.ErrorGroup{{Name: "Order", Failed: 1, Errors: []api.ErrorCount{
			{Category: "application", Kind: "OrchestrationFailed", Message: "no payment", Count: 1}}}},
		Activities: []api.ErrorGroup{{Name: "Charge", Failed: 1, Errors: []api.ErrorCount{
			{Category: "application", Kind: "ActivityFailed", Message: "card declined", Count: 1}}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n got %+v\nwant %+v", got, want)
	}
	long := strings.Repeat("é", 1500)
	if m := reportMessage(long); len([]rune(m)) != 1024 || !strings.HasPrefix(long, m) {
		t.Errorf("reportMessage keeps %d characters", len([]rune(m)))
	}
}

func TestBinnedValue(t *testing.T) {
	for _, c := range []struct{ v, want int64 }{
		{0, 0}, {63, 63}, {-63, -63}, {64, 64}, {65, 64}, {127, 126}, {128, 129}, {200, 201}, {-200, -202},
		{1095, 1103}, {1 << 20, 1<<20 + 1<<14 - 1},
	} {
		if got := binnedValue(c.v); got != c.want {
			t.Errorf("binnedValue(%d) = %d, want %d", c.v, got, c.want)
		}
	}
}
