package e2e

// Differential tests: the real query service (JetStream → projector →
// ClickHouse → httpapi, called through the Go client) must answer every
// API.md endpoint exactly as the independent replay oracle does, for
// generated workloads plus hand-written edge instances (diff_edges_test.go),
// published shuffled and with duplicates. Answers are compared as canonical
// JSON (diff_compare_test.go), once as projected and once more after
// forcing ClickHouse's merges. The whole file takes about 1-2.5 minutes on
// two busy cores (-short: one seed).

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/client"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/oracle"
)

const diffStartMs = 1764105600000 // 2025-11-25T21:20:00Z, the fixtures' hour

// diffWorkload generates a workload with the given seed: running,
// cancelled, failed, continued-as-new, sub-orchestrations and unknown event
// types, in a realistic (timestamp) order.
func diffWorkload(t *testing.T, seed int64, instances int) []events.Event {
	t.Helper()
	var all []events.Event
	for h := range gen.Histories(gen.Config{
		Seed: seed, Instances: instances, StartMs: diffStartMs, SpreadMs: 3_600_000,
		RunningFraction: 0.2, UnknownTypeFraction: 0.03, CancelFraction: 0.05,
		IDPrefix: fmt.Sprintf("s%d-", seed),
	}) {
		all = append(all, h...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].TimestampMs < all[j].TimestampMs })
	return all
}

// diffSnapshots are queue-depth snapshots in an awkward publish order: the
// newest timestamp is tied (the larger values must win, docs/semantics.md
// 11) and an older snapshot arrives last.
func diffSnapshots(seed int64) []events.QueueSnapshot {
	base := uint64(diffStartMs + seed)
	return []events.QueueSnapshot{
		{OrchestratorQueue: 5, WorkerQueue: 7, TimerQueue: 1, TimestampMs: base + 1000},
		{OrchestratorQueue: 40 + uint64(seed%7), WorkerQueue: 3, TimerQueue: 2, TimestampMs: base + 3000},
		{OrchestratorQueue: 12, WorkerQueue: 30, TimerQueue: 0, TimestampMs: base + 3000},
		{OrchestratorQueue: 99, WorkerQueue: 99, TimerQueue: 99, TimestampMs: base + 2000},
	}
}

func TestDiffServiceEqualsOracle(t *testing.T) {
	cases := []struct {
		name      string
		seed      int64
		instances int
		fixtures  bool
	}{
		{"seed101+fixtures", 101, 2000, true},
		{"seed202", 202, 2000, false},
		{"seed303", 303, 2000, false},
	}
	if testing.Short() {
		cases = cases[:1]
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			evs := diffWorkload(t, tc.seed, tc.instances)
			evs = append(evs, diffEdgeInstances(t, fmt.Sprintf("edge%d-", tc.seed), diffStartMs+int64(tc.seed)*1000)...)
			sort.SliceStable(evs, func(i, j int) bool { return evs[i].TimestampMs < evs[j].TimestampMs })
			if tc.fixtures {
				fx := fixtureEvents(t)
				ids := map[string]bool{}
				for _, e := range evs {
					ids[e.InstanceID] = true
				}
				for _, e := range fx {
					if ids[e.InstanceID] {
						t.Fatalf("fixture instance %q collides with a generated one", e.InstanceID)
					}
				}
				evs = append(evs, fx...)
				sort.SliceStable(evs, func(i, j int) bool { return evs[i].TimestampMs < evs[j].TimestampMs })
			}
			pub := shuffleDup(evs, uint64(tc.seed), 400, 0.1)
			var maxTS int64
			for _, e := range evs {
				maxTS = max(maxTS, int64(e.TimestampMs))
			}
			// "now" lies shortly after the last event (generated timers
			// run for weeks, so that is weeks after most instances);
			// diffHealthProblems derives windows that split the data.
			nowMs := maxTS + 7*60_000 + 123
			env := diffSetup(t, "diff", pub, diffSnapshots(tc.seed), nowMs)
			t.Logf("%d events (%d published), projected in %v", len(evs), len(pub), time.Since(start).Round(time.Millisecond))
			r := newDiffReport(t)
			defer r.summary()
			runDiffSteps(t, env, r, diffStep{"watermark", diffWatermark}, diffStep{"instances", diffInstanceEndpoints})
		})
	}
}

// diffStep is one part of a differential comparison.
type diffStep struct {
	name string
	f    func(*testing.T, *diffEnv, *diffReport)
}

// runDiffSteps runs first, then the comparisons every differential test
// makes (bulk status, lists, stats and their drill-downs, health and
// problems, queues, and the same after merges), logging how long each took.
func runDiffSteps(t *testing.T, env *diffEnv, r *diffReport, first ...diffStep) {
	steps := append(first, []diffStep{
		{"bulk", diffBulkStatus},
		{"list", diffList},
		{"stats", diffStats},
		{"drilldown", func(_ *testing.T, env *diffEnv, r *diffReport) { diffDrillDowns(env, r) }},
		{"health", diffHealthProblems},
		{"queues", diffQueues},
		{"merged", diffAfterMerges},
	}...)
	for _, s := range steps {
		st := time.Now()
		s.f(t, env, r)
		t.Logf("%-10s %v", s.name, time.Since(st).Round(time.Millisecond))
	}
}

// diffWatermark: after catch-up the lag is 0 and projected_through is the
// publish time of the stream's last message; the headers say the same.
func diffWatermark(t *testing.T, env *diffEnv, r *diffReport) {
	ctx := context.Background()
	lastSeq, lastMs := lastPublishTime(t, env.nats.JS)
	through := api.Time(lastMs)
	want := api.Watermark{Stream: events.DefaultStream, StreamLastSeq: lastSeq, LagEvents: 0, ProjectedThrough: &through}
	// The source caches for 200ms; a value computed before the last acks
	// may still be served briefly.
	var got api.Watermark
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if got, err = env.cl.Watermark(ctx); err != nil {
			r.fail("watermark", "%v", err)
			return
		}
		if got.LagEvents == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.equal("watermark", "", got, want)
	if err := env.cl.Healthz(ctx); err != nil {
		r.fail("healthz", "%v", err)
	}
	if err := env.cl.Readyz(ctx); err != nil {
		r.fail("readyz", "%v", err)
	}
	if _, err := env.cl.Queues(ctx); err != nil {
		t.Fatal(err)
	}
	info, ok := env.cl.LastProjection()
	if !ok || info.LagEvents != 0 || info.ProjectedThrough == nil || info.ProjectedThrough.UnixMilli() != lastMs {
		r.fail("projection headers", "got %+v (present %v), want lag 0 through %s", info, ok, through.Format())
	} else {
		r.ok("projection headers")
	}
}

// diffInstanceIDs chooses the instances whose per-instance endpoints are
// compared. Every instance's summary is already compared through the
// unfiltered list, and a point lookup costs 10-40ms on a busy ClickHouse
// 18.16, so: every Running, Failed and continued-as-new instance (where the
// derivation rules have the most to do: pending work, errors, several
// executions) and sub-orchestration child, a third of the parents and a
// tenth of the rest.
func diffInstanceIDs(env *diffEnv, seed uint64) []string {
	all := env.oracle.ListInstances(oracle.ListFilter{})
	parents := map[string]bool{}
	for _, s := range all {
		if s.ParentInstance != nil {
			parents[*s.ParentInstance] = true
		}
	}
	rng := rand.New(rand.NewPCG(seed, 17))
	var ids []string
	for _, s := range all {
		switch {
		case s.Status != api.StatusCompleted || s.ExecutionCount > 1 || s.ParentInstance != nil:
		case parents[s.InstanceID]:
			if rng.IntN(3) != 0 {
				continue
			}
		case rng.IntN(10) != 0:
			continue
		}
		ids = append(ids, s.InstanceID)
	}
	return ids
}

// diffInstanceEndpoints compares summary, details, executions and history
// (all, per execution, and a missing execution) of the chosen instances,
// and the 404s of unknown ids.
func diffInstanceEndpoints(t *testing.T, env *diffEnv, r *diffReport) {
	ctx := context.Background()
	ids := diffInstanceIDs(env, uint64(env.nowMs))
	t.Logf("per-instance endpoints of %d of %d instances", len(ids), len(env.oracle.ListInstances(oracle.ListFilter{})))
	unknown := []string{"no-such-instance", "s101-order-0", ids[0] + "x", "a/..", ".", "::"}
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				diffOneInstance(ctx, env, r, id)
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	for _, id := range unknown {
		if _, ok := env.oracle.Instance(id); ok {
			t.Fatalf("%q is not unknown", id)
		}
		_, err := env.cl.Instance(ctx, id)
		want404(r, "GET /v1/instances/{id}", id, err)
		_, err = env.cl.Details(ctx, id)
		want404(r, "GET /v1/instances/{id}/details", id, err)
		_, err = env.cl.Executions(ctx, id)
		want404(r, "GET /v1/instances/{id}/executions", id, err)
		_, err = env.cl.History(ctx, id, client.HistoryParams{})
		want404(r, "GET /v1/instances/{id}/history", id, err)
	}
}

func want404(r *diffReport, endpoint, id string, err error) {
	if client.IsNotFound(err) {
		r.ok(endpoint)
		return
	}
	r.fail(endpoint, "%q: got %v, want 404 not found", id, err)
}

func diffOneInstance(ctx context.Context, env *diffEnv, r *diffReport, id string) {
	o := env.oracle
	const (
		epSummary    = "GET /v1/instances/{id}"
		epDetails    = "GET /v1/instances/{id}/details"
		epExecutions = "GET /v1/instances/{id}/executions"
		epHistory    = "GET /v1/instances/{id}/history"
	)
	t0 := time.Now()
	summary, err := env.cl.Instance(ctx, id)
	r.took(epSummary, t0)
	if err != nil {
		r.fail(epSummary, "%q: %v", id, err)
	} else {
		want, _ := o.Instance(id)
		r.equal(epSummary, id, summary, want)
	}
	t0 = time.Now()
	details, err := env.cl.Details(ctx, id)
	r.took(epDetails, t0)
	if err != nil {
		r.fail(epDetails, "%q: %v", id, err)
	} else {
		want, _ := o.Details(id)
		r.equal(epDetails, id, details, want)
	}
	wantX, _ := o.Executions(id)
	t0 = time.Now()
	execs, err := env.cl.Executions(ctx, id)
	r.took(epExecutions, t0)
	if err != nil {
		r.fail(epExecutions, "%q: %v", id, err)
	} else {
		r.equal(epExecutions, id, api.ExecutionList{Executions: execs}, wantX)
	}
	t0 = time.Now()
	history, err := env.cl.History(ctx, id, client.HistoryParams{})
	r.took(epHistory, t0)
	if err != nil {
		r.fail(epHistory, "%q: %v", id, err)
	} else {
		want, _ := o.History(id, nil)
		diffHistory(r, epHistory, id, history, want.Events)
	}
	// One execution's history is the whole history for most instances:
	// asked per execution for instances with several, and for a quarter
	// of the others.
	if len(wantX.Executions) == 1 && len(id)%4 != 0 {
		return
	}
	var maxExec uint64
	for _, x := range wantX.Executions {
		maxExec = max(maxExec, x.ExecutionID)
		eid := x.ExecutionID
		what := fmt.Sprintf("%s execution_id=%d", id, eid)
		if got, err := env.cl.History(ctx, id, client.HistoryParams{ExecutionID: eid}); err != nil {
			r.fail("GET /v1/instances/{id}/history?execution_id", "%s: %v", what, err)
		} else {
			want, _ := o.History(id, &eid)
			diffHistory(r, "GET /v1/instances/{id}/history?execution_id", what, got, want.Events)
		}
	}
	missing := maxExec + 1
	if _, ok := o.History(id, &missing); ok {
		r.fail("history missing execution", "oracle has execution %d of %q", missing, id)
		return
	}
	_, err = env.cl.History(ctx, id, client.HistoryParams{ExecutionID: missing})
	want404(r, "GET /v1/instances/{id}/history?execution_id (missing)", fmt.Sprintf("%s execution_id=%d", id, missing), err)
}

// diffHistory compares histories byte for byte: the contract says "event
// JSON exactly as published" (the generated duplicates are byte-identical
// copies, so the copy kept does not matter).
func diffHistory(r *diffReport, endpoint, what string, got, want []json.RawMessage) {
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = string(got[i]) == string(want[i])
	}
	if same && got != nil {
		r.ok(endpoint)
		return
	}
	// Name the first differing event.
	gs := make([]string, len(got))
	for i := range got {
		gs[i] = string(got[i])
	}
	ws := make([]string, len(want))
	for i := range want {
		ws[i] = string(want[i])
	}
	r.equal(endpoint, what, struct {
		Events []string `json:"events"`
	}{gs}, struct {
		Events []string `json:"events"`
	}{ws})
}

// diffBulkStatus asks for every instance (shuffled), unknown ids and
// duplicates, in chunks of at most 10000 ids.
func diffBulkStatus(t *testing.T, env *diffEnv, r *diffReport) {
	ctx := context.Background()
	var ids []string
	for _, s := range env.oracle.ListInstances(oracle.ListFilter{}) {
		ids = append(ids, s.InstanceID)
	}
	rng := rand.New(rand.NewPCG(uint64(len(ids)), 99))
	req := slices.Clone(ids)
	for i := 0; i < 50; i++ {
		req = append(req, fmt.Sprintf("unknown-%d", i), ids[rng.IntN(len(ids))])
	}
	rng.Shuffle(len(req), func(i, j int) { req[i], req[j] = req[j], req[i] })
	const chunk = 10000
	for lo := 0; lo < len(req); lo += chunk {
		part := req[lo:min(lo+chunk, len(req))]
		got, err := env.cl.BulkStatus(ctx, part)
		if err != nil {
			r.fail("POST /v1/bulk/status", "%d ids: %v", len(part), err)
			continue
		}
		r.equal("POST /v1/bulk/status", fmt.Sprintf("%d ids from %d", len(part), lo), api.BulkStatusResponse{Statuses: got}, env.oracle.BulkStatus(part))
	}
	// A single id asked many times, and one unknown id alone.
	dup := []string{ids[0], ids[0], "nope", ids[0]}
	got, err := env.cl.BulkStatus(ctx, dup)
	if err != nil {
		r.fail("POST /v1/bulk/status", "%v", err)
		return
	}
	r.equal("POST /v1/bulk/status", "duplicates", api.BulkStatusResponse{Statuses: got}, env.oracle.BulkStatus(dup))
}

// listCase is one filter of GET /v1/instances with the oracle's filter.
type listCase struct {
	name   string
	params client.ListParams
	filter oracle.ListFilter
}

func ptr[T any](v T) *T { return &v }

// diffListCases builds filters from the data: every status alone and in
// combination, every orchestration name, created ranges whose bounds are
// real created_at values (so the half-open ends are exercised), parents
// that have children, and id prefixes.
func diffListCases(env *diffEnv) []listCase {
	all := env.oracle.ListInstances(oracle.ListFilter{})
	cases := []listCase{{name: "all"}}
	for _, st := range [][]string{{api.StatusRunning}, {api.StatusCompleted}, {api.StatusFailed}, {api.StatusRunning, api.StatusFailed}, {api.StatusFailed, api.StatusCompleted, api.StatusRunning}} {
		cases = append(cases, listCase{name: "status=" + strings.Join(st, ","),
			params: client.ListParams{Statuses: st}, filter: oracle.ListFilter{Statuses: st}})
	}
	names := orchestrationNames(env)
	for _, n := range append(names, "NoSuchOrchestration") {
		cases = append(cases, listCase{name: "orchestration=" + n,
			params: client.ListParams{Orchestration: n}, filter: oracle.ListFilter{Orchestration: ptr(n)}})
	}
	// Combined: status and orchestration.
	for _, n := range names[:min(3, len(names))] {
		cases = append(cases, listCase{name: "Running+orchestration=" + n,
			params: client.ListParams{Statuses: []string{api.StatusRunning}, Orchestration: n},
			filter: oracle.ListFilter{Statuses: []string{api.StatusRunning}, Orchestration: ptr(n)}})
	}
	// Ranges bounded by real created_at values (all is newest first).
	at := func(frac float64) int64 { return int64(all[int(frac*float64(len(all)-1))].CreatedAt) }
	ranges := [][2]int64{
		{at(0.9), at(0.6)}, {at(0.5), at(0.49)}, {at(0.99), 0}, {0, at(0.2)}, {at(0.3), at(0.3) + 1},
		{int64(all[len(all)-1].CreatedAt), int64(all[0].CreatedAt) + 1},
	}
	for _, rg := range ranges {
		if rg[0] != 0 && rg[1] != 0 && rg[0] >= rg[1] {
			continue // an inverted range is a 400, not a filter
		}
		lc := listCase{name: fmt.Sprintf("created[%d,%d)", rg[0], rg[1])}
		if rg[0] != 0 {
			lc.params.CreatedAfter = time.UnixMilli(rg[0])
			lc.filter.CreatedAfter = ptr(rg[0])
		}
		if rg[1] != 0 {
			lc.params.CreatedBefore = time.UnixMilli(rg[1])
			lc.filter.CreatedBefore = ptr(rg[1])
		}
		cases = append(cases, lc)
	}
	// created range + status + orchestration together.
	if len(names) > 0 {
		cases = append(cases, listCase{name: "combined",
			params: client.ListParams{Statuses: []string{api.StatusCompleted, api.StatusFailed}, Orchestration: names[0],
				CreatedAfter: time.UnixMilli(at(0.8)), CreatedBefore: time.UnixMilli(at(0.1))},
			filter: oracle.ListFilter{Statuses: []string{api.StatusCompleted, api.StatusFailed}, Orchestration: ptr(names[0]),
				CreatedAfter: ptr(at(0.8)), CreatedBefore: ptr(at(0.1))}})
	}
	// The further filters: roots only, versions, error kinds and
	// categories, custom status prefixes, updated ranges.
	cases = append(cases, listCase{name: "root_only", params: client.ListParams{RootOnly: true}, filter: oracle.ListFilter{RootOnly: true}},
		listCase{name: "activity_tag=gpu", params: client.ListParams{ActivityTag: "gpu"}, filter: oracle.ListFilter{ActivityTag: "gpu"}},
		listCase{name: "activity_tag=gpu+Failed", params: client.ListParams{ActivityTag: "gpu", Statuses: []string{api.StatusFailed}},
			filter: oracle.ListFilter{ActivityTag: "gpu", Statuses: []string{api.StatusFailed}}})
	seen := map[string]bool{}
	for _, s := range all {
		for _, c := range []listCase{
			{name: "version=" + s.Version, params: client.ListParams{Version: s.Version}, filter: oracle.ListFilter{Version: s.Version}},
		} {
			if !seen[c.name] {
				seen[c.name] = true
				cases = append(cases, c)
			}
		}
		if s.Error != nil {
			for _, c := range []listCase{
				{name: "error_kind=" + s.Error.Kind, params: client.ListParams{ErrorKind: s.Error.Kind}, filter: oracle.ListFilter{ErrorKind: s.Error.Kind}},
				{name: "error_category=" + s.Error.Category + "+root_only", params: client.ListParams{ErrorCategory: s.Error.Category, RootOnly: true},
					filter: oracle.ListFilter{ErrorCategory: s.Error.Category, RootOnly: true}},
			} {
				if !seen[c.name] {
					seen[c.name] = true
					cases = append(cases, c)
				}
			}
		}
		if cs := s.CustomStatus; cs != nil && len(*cs) >= 3 && !seen["custom_status_prefix="+(*cs)[:3]] && len(seen) < 40 {
			seen["custom_status_prefix="+(*cs)[:3]] = true
			cases = append(cases, listCase{name: "custom_status_prefix=" + (*cs)[:3],
				params: client.ListParams{CustomStatusPrefix: (*cs)[:3]}, filter: oracle.ListFilter{CustomStatusPrefix: (*cs)[:3]}})
		}
	}
	upd := func(frac float64) int64 { return int64(all[int(frac*float64(len(all)-1))].UpdatedAt) }
	if lo, hi := min(upd(0.7), upd(0.2)), max(upd(0.7), upd(0.2)); lo < hi {
		cases = append(cases, listCase{name: fmt.Sprintf("updated[%d,%d)", lo, hi),
			params: client.ListParams{UpdatedAfter: time.UnixMilli(lo), UpdatedBefore: time.UnixMilli(hi)},
			filter: oracle.ListFilter{UpdatedAfter: ptr(lo), UpdatedBefore: ptr(hi)}})
	}
	// Parents with children (several), plus one without.
	parents := map[string]int{}
	for _, s := range all {
		if s.ParentInstance != nil {
			parents[*s.ParentInstance]++
		}
	}
	var plist []string
	for p := range parents {
		plist = append(plist, p)
	}
	sort.Strings(plist)
	for i, p := range plist {
		if i%max(1, len(plist)/6) != 0 {
			continue
		}
		cases = append(cases, listCase{name: "parent=" + p,
			params: client.ListParams{ParentInstance: p}, filter: oracle.ListFilter{ParentInstance: ptr(p)}})
	}
	cases = append(cases, listCase{name: "parent=none",
		params: client.ListParams{ParentInstance: all[0].InstanceID + "-nobody"}, filter: oracle.ListFilter{ParentInstance: ptr(all[0].InstanceID + "-nobody")}})
	// Prefixes: a whole seed, a shape, a number range, a child (with ':').
	prefixes := map[string]bool{"zz-none": true}
	for _, s := range all {
		id := s.InstanceID
		if i := strings.IndexByte(id, '-'); i > 0 {
			prefixes[id[:i+1]] = true
		}
		if strings.Contains(id, "::") && len(prefixes) < 12 {
			prefixes[id[:strings.Index(id, "::")+2]] = true
		}
	}
	for _, s := range all {
		// The edge instances' odd ids: "...-odd" plus one character
		// (%, _, /, :, ., \) as a prefix.
		if i := strings.Index(s.InstanceID, "-odd"); i >= 0 && len(s.InstanceID) > i+5 {
			prefixes[s.InstanceID[:i+5]] = true
		}
	}
	if len(all) > 10 {
		id := all[len(all)/2].InstanceID
		prefixes[id[:len(id)-1]] = true
		prefixes[id] = true
	}
	for p := range prefixes {
		cases = append(cases, listCase{name: "prefix=" + p,
			params: client.ListParams{InstancePrefix: p}, filter: oracle.ListFilter{InstancePrefix: ptr(p)}})
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	return cases
}

func orchestrationNames(env *diffEnv) []string {
	seen := map[string]bool{}
	for _, s := range env.oracle.ListInstances(oracle.ListFilter{}) {
		seen[s.OrchestrationName] = true
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// diffList pages through every filter with offsets and with the cursor;
// the concatenated pages must equal the oracle's full ordering, and
// next_page_token must be null exactly on the last page.
func diffList(t *testing.T, env *diffEnv, r *diffReport) {
	cases := diffListCases(env)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	type paging struct {
		size   int
		cursor bool
	}
	for _, lc := range cases {
		want := env.oracle.ListInstances(lc.filter)
		// Every filter is paged both ways; the unfiltered list at several
		// sizes, including single-row pages (the first 30 of them).
		pagings := []paging{{97, true}, {250, false}}
		if lc.name == "all" {
			pagings = []paging{{1000, true}, {250, true}, {97, true}, {1, true}, {1000, false}, {250, false}, {97, false}}
		}
		for _, pg := range pagings {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				switch {
				case pg.size == 1:
					diffPageCursor(env, r, lc, want, pg.size, 30)
				case pg.cursor:
					diffPageCursor(env, r, lc, want, pg.size, 0)
				default:
					diffPageOffset(env, r, lc, want, pg.size)
				}
			}()
		}
	}
	wg.Wait()
	diffCounts(env, r, cases)
	// The default page size is 100.
	got, err := env.cl.ListInstances(context.Background(), client.ListParams{})
	if err != nil {
		r.fail("GET /v1/instances", "default limit: %v", err)
		return
	}
	all := env.oracle.ListInstances(oracle.ListFilter{})
	r.equal("GET /v1/instances", "default limit", got.Instances, all[:min(100, len(all))])
}

// diffCounts: GET /v1/instances/count of every list filter is the length
// of the oracle's list, and grouped, its rows counted per key.
func diffCounts(env *diffEnv, r *diffReport, cases []listCase) {
	ctx := context.Background()
	for _, lc := range cases {
		want := env.oracle.ListInstances(lc.filter)
		got, err := env.cl.CountInstances(ctx, lc.params, "")
		if err != nil {
			r.fail("GET /v1/instances/count", "%s: %v", lc.name, err)
			continue
		}
		r.equal("GET /v1/instances/count", lc.name, got, api.InstanceCount{Count: int64(len(want))})
		if lc.name != "all" && !strings.HasPrefix(lc.name, "status=") {
			continue
		}
		keys := map[string]func(api.InstanceSummary) string{
			"status":        func(s api.InstanceSummary) string { return s.Status },
			"orchestration": func(s api.InstanceSummary) string { return s.OrchestrationName },
			"version":       func(s api.InstanceSummary) string { return s.Version },
		}
		for by, key := range keys {
			per := map[string]int64{}
			for _, s := range want {
				per[key(s)]++
			}
			w := api.InstanceCount{Count: int64(len(want)), Groups: []api.CountGroup{}}
			for k, n := range per {
				w.Groups = append(w.Groups, api.CountGroup{Key: k, Count: n})
			}
			sort.Slice(w.Groups, func(i, j int) bool { return w.Groups[i].Key < w.Groups[j].Key })
			got, err := env.cl.CountInstances(ctx, lc.params, by)
			if err != nil {
				r.fail("GET /v1/instances/count", "%s by %s: %v", lc.name, by, err)
				continue
			}
			r.equal("GET /v1/instances/count", lc.name+" by "+by, got, w)
		}
	}
}

func diffPageOffset(env *diffEnv, r *diffReport, lc listCase, want []api.InstanceSummary, size int) {
	ctx := context.Background()
	got := []api.InstanceSummary{}
	for off := 0; ; off += size {
		p := lc.params
		p.Limit, p.Offset = size, off
		page, err := env.cl.ListInstances(ctx, p)
		if err != nil {
			r.fail("GET /v1/instances offset", "%s limit=%d offset=%d: %v", lc.name, size, off, err)
			return
		}
		if page.Instances == nil {
			r.fail("GET /v1/instances offset", "%s limit=%d offset=%d: instances is null, want a list", lc.name, size, off)
		}
		got = append(got, page.Instances...)
		more := off+len(page.Instances) < len(want)
		if (page.NextPageToken != nil) != more {
			r.fail("GET /v1/instances offset", "%s limit=%d offset=%d: next_page_token %v with %d of %d instances listed",
				lc.name, size, off, page.NextPageToken != nil, off+len(page.Instances), len(want))
		}
		if len(page.Instances) < size || off+size >= len(want) {
			// One more page past the end must be empty with a null token.
			if off+size >= len(want) && off+size <= 100000 && len(page.Instances) == size {
				p.Offset = off + size
				if tail, err := env.cl.ListInstances(ctx, p); err != nil || len(tail.Instances) != 0 || tail.NextPageToken != nil {
					r.fail("GET /v1/instances offset", "%s: page past the end: %+v, %v", lc.name, tail, err)
				}
			}
			break
		}
	}
	r.equal("GET /v1/instances offset", fmt.Sprintf("%s limit=%d", lc.name, size), got, want)
}

func diffPageCursor(env *diffEnv, r *diffReport, lc listCase, want []api.InstanceSummary, size, maxPages int) {
	ctx := context.Background()
	got := []api.InstanceSummary{}
	p := lc.params
	p.Limit = size
	for pages := 1; ; pages++ {
		page, err := env.cl.ListInstances(ctx, p)
		if err != nil {
			r.fail("GET /v1/instances cursor", "%s limit=%d page %d: %v", lc.name, size, pages, err)
			return
		}
		if len(page.Instances) > size {
			r.fail("GET /v1/instances cursor", "%s limit=%d: page of %d", lc.name, size, len(page.Instances))
		}
		if page.Instances == nil {
			r.fail("GET /v1/instances cursor", "%s limit=%d page %d: instances is null, want a list", lc.name, size, pages)
		}
		got = append(got, page.Instances...)
		more := len(got) < len(want)
		if (page.NextPageToken != nil) != more {
			r.fail("GET /v1/instances cursor", "%s limit=%d page %d: next_page_token %v with %d of %d instances listed",
				lc.name, size, pages, page.NextPageToken != nil, len(got), len(want))
		}
		if page.NextPageToken == nil || len(page.Instances) == 0 {
			break
		}
		if maxPages > 0 && pages >= maxPages {
			want = want[:min(len(want), len(got))]
			break
		}
		p.PageToken = *page.NextPageToken
	}
	r.equal("GET /v1/instances cursor", fmt.Sprintf("%s limit=%d", lc.name, size), got, want)
}

// diffStats compares orchestration stats, activity stats and performance
// for every orchestration name and several `since` values.
func diffStats(t *testing.T, env *diffEnv, r *diffReport) { diffStatsSome(env, r, true) }

// diffStatsSome compares the statistics; !full leaves out the `since`
// variants (for the second, merged-state pass).
func diffStatsSome(env *diffEnv, r *diffReport, full bool) {
	ctx := context.Background()
	o := env.oracle
	names := orchestrationNames(env)
	type job func()
	var jobs []job
	for _, n := range append([]string{""}, append(names, "NoSuchOrchestration")...) {
		jobs = append(jobs, func() {
			got, err := env.cl.OrchestrationStats(ctx, n)
			if err != nil {
				r.fail("GET /v1/stats/orchestrations", "%q: %v", n, err)
				return
			}
			var f *string
			if n != "" {
				f = &n
			}
			r.equal("GET /v1/stats/orchestrations", "orchestration="+n, got, o.OrchestrationStats(f))
		})
	}
	sinces := []int64{0, diffStartMs, diffStartMs + 10*60_000 + 1, diffStartMs + 45*60_000, diffStartMs + 3*3_600_000, env.nowMs}
	for _, n := range append([]string{""}, append(names, "NoSuchOrchestration")...) {
		for _, since := range sinces {
			for _, sys := range []bool{false, true} {
				// Per orchestration, two `since` values are enough.
				if (n != "" && since != 0 && since != diffStartMs+45*60_000) || (!full && since != 0) {
					continue
				}
				jobs = append(jobs, func() {
					p := client.ActivityStatsParams{Orchestration: n, IncludeSystem: sys}
					var f *string
					var s *int64
					if n != "" {
						f = &n
					}
					if since != 0 {
						p.Since, s = time.UnixMilli(since), &since
					}
					got, err := env.cl.ActivityStats(ctx, p)
					what := fmt.Sprintf("orchestration=%q since=%d include_system=%v", n, since, sys)
					if err != nil {
						r.fail("GET /v1/stats/activities", "%s: %v", what, err)
						return
					}
					r.equal("GET /v1/stats/activities", what, api.ActivityStatsList{Activities: got}, o.ActivityStats(f, s, sys))
				})
			}
		}
	}
	for _, n := range append(names, "NoSuchOrchestration") {
		for _, since := range []int64{0, diffStartMs + 20*60_000, diffStartMs + 50*60_000 + 7} {
			if !full && since != 0 {
				continue
			}
			jobs = append(jobs, func() {
				p := client.PerformanceParams{Orchestration: n}
				var s *int64
				if since != 0 {
					p.Since, s = time.UnixMilli(since), &since
				}
				got, err := env.cl.Performance(ctx, p)
				what := fmt.Sprintf("orchestration=%q since=%d", n, since)
				if err != nil {
					r.fail("GET /v1/stats/performance", "%s: %v", what, err)
					return
				}
				r.equal("GET /v1/stats/performance", what, got, o.Performance(n, s))
			})
		}
	}
	runJobs(jobs, 4)
}

func runJobs[F ~func()](jobs []F, workers int) {
	ch := make(chan F)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				j()
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
}

// diffHealthProblems compares /v1/health and /v1/problems at the fixed
// "now" with the defaults and with windows that split the data.
func diffHealthProblems(t *testing.T, env *diffEnv, r *diffReport) {
	ctx := context.Background()
	o := env.oracle
	type set struct{ long, stuck, recent time.Duration }
	sets := []set{
		{24 * time.Hour, time.Hour, 0}, // defaults (recent differs per endpoint)
		{time.Millisecond, time.Millisecond, 10 * time.Hour},
	}
	// Windows that end exactly on an instance's created_at / updated_at
	// split the data and test the ends: long-running is created_at < now −
	// d (so the instance on the boundary is not), stuck updated_at < now −
	// d, recent failure updated_at >= now − d (the one on it is).
	running := o.ListInstances(oracle.ListFilter{Statuses: []string{api.StatusRunning}}) // created_at desc
	failed := o.ListInstances(oracle.ListFilter{Statuses: []string{api.StatusFailed}})
	byUpdated := func(list []api.InstanceSummary) []api.InstanceSummary {
		l := slices.Clone(list)
		sort.Slice(l, func(i, j int) bool { return l[i].UpdatedAt > l[j].UpdatedAt })
		return l
	}
	upRunning, upFailed := byUpdated(running), byUpdated(failed)
	since := func(at api.Time) time.Duration { return time.Duration(env.nowMs-int64(at)) * time.Millisecond }
	if len(running) > 8 && len(failed) > 8 {
		// (fractions of the Running list by created_at desc, of the Running
		// list by updated_at desc, of the Failed list by updated_at desc)
		for _, q := range [][3]float64{{0.5, 0.2, 0.5}, {0.8, 0.1, 0.25}, {0.25, 0.05, 0.9}, {0.1, 0.6, 0.05}} {
			sets = append(sets, set{
				long:   since(running[int(q[0]*float64(len(running)))].CreatedAt),
				stuck:  since(upRunning[int(q[1]*float64(len(upRunning)))].UpdatedAt),
				recent: since(upFailed[int(q[2]*float64(len(upFailed)))].UpdatedAt),
			})
		}
	}
	for i, s := range sets {
		def := i == 0
		hp := client.HealthParams{LongRunningAfter: s.long, RecentFailureWindow: s.recent}
		pp := client.ProblemsParams{LongRunningAfter: s.long, StuckAfter: s.stuck, RecentFailureWindow: s.recent, Limit: 1000}
		hRecent, pRecent := s.recent, s.recent
		if def {
			hp, pp = client.HealthParams{}, client.ProblemsParams{}
			hRecent, pRecent = time.Hour, 24*time.Hour
		}
		what := fmt.Sprintf("long_running_after=%v stuck_after=%v recent_failure_window=%v", s.long, s.stuck, s.recent)
		if got, err := env.cl.Health(ctx, hp); err != nil {
			r.fail("GET /v1/health", "%s: %v", what, err)
		} else {
			r.equal("GET /v1/health", what, got, o.Health(env.nowMs, s.long, hRecent))
		}
		limit := 1000
		if def {
			limit = 100
		}
		if got, err := env.cl.Problems(ctx, pp); err != nil {
			r.fail("GET /v1/problems", "%s: %v", what, err)
		} else {
			r.equal("GET /v1/problems", what, got, o.Problems(env.nowMs, s.long, s.stuck, pRecent, limit))
		}
		// A small limit cuts each list after the same instances.
		pp.Limit = 7
		if def {
			pp = client.ProblemsParams{Limit: 7}
		}
		if got, err := env.cl.Problems(ctx, pp); err != nil {
			r.fail("GET /v1/problems", "%s limit=7: %v", what, err)
		} else {
			r.equal("GET /v1/problems", what+" limit=7", got, o.Problems(env.nowMs, s.long, s.stuck, pRecent, 7))
		}
	}
}

// diffQueues compares /v1/queues (pending work plus the newest snapshot).
func diffQueues(t *testing.T, env *diffEnv, r *diffReport) {
	got, err := env.cl.Queues(context.Background())
	if err != nil {
		r.fail("GET /v1/queues", "%v", err)
		return
	}
	r.equal("GET /v1/queues", "", got, env.oracle.Queues(env.snapshots))
}

// diffAfterMerges forces ClickHouse's background merges to their end
// (OPTIMIZE ... FINAL collapses every ReplacingMergeTree's versions and
// duplicate keys, as merges eventually do) and compares the aggregate
// endpoints, the full list and a sample of instances again: the answers
// must not depend on whether merges have run yet.
func diffAfterMerges(t *testing.T, env *diffEnv, r *diffReport) {
	ctx := context.Background()
	for _, table := range []string{"history_v3", "notices", "instances", "executions", "activities", "pending_work", "queue_snapshots"} {
		if err := env.db.Conn.Exec(ctx, "OPTIMIZE TABLE "+env.db.Name+"."+table+" FINAL"); err != nil {
			t.Fatalf("OPTIMIZE %s: %v", table, err)
		}
	}
	m := r.prefixed("merged: ")
	diffQueues(t, env, m)
	diffStatsSome(env, m, false)
	diffHealthProblems(t, env, m)
	all := env.oracle.ListInstances(oracle.ListFilter{})
	diffPageCursor(env, m, listCase{name: "all"}, all, 1000, 0)
	ids := diffInstanceIDs(env, uint64(env.nowMs)+1)
	runJobs(func() (jobs []func()) {
		for i, id := range ids {
			if i%8 == 0 {
				jobs = append(jobs, func() { diffOneInstance(ctx, env, m, id) })
			}
		}
		return jobs
	}(), 4)
}

// TestDiffFixturesExpected publishes every contract fixture together
// through JetStream, the projector and the HTTP stack and checks
// fixtures/expected.json (and the oracle, which must agree with it).
func TestDiffFixturesExpected(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixturesDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var expected struct {
		Instances          map[string]json.RawMessage `json:"instances"`
		ActivityStats      json.RawMessage            `json:"activity_stats"`
		OrchestrationStats json.RawMessage            `json:"orchestration_stats"`
	}
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	if len(expected.Instances) == 0 {
		t.Fatal("expected.json has no instances")
	}
	fx := fixtureEvents(t)
	for _, tc := range []struct {
		name string
		pub  []events.Event
	}{
		{"file order", fx},
		// Whole-set shuffle, half of the events published twice.
		{"shuffled+duplicated", shuffleDup(fx, 5, len(fx), 0.5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diffFixtures(t, tc.pub, expected.Instances, expected.ActivityStats, expected.OrchestrationStats)
		})
	}
}

func diffFixtures(t *testing.T, pub []events.Event, instances map[string]json.RawMessage, activityStats, orchestrationStats json.RawMessage) {
	env := diffSetup(t, "difffx", pub, nil, diffStartMs)
	ctx := context.Background()
	r := newDiffReport(t)
	defer r.summary()
	// Both the service and the oracle are compared with expected.json.
	svc, orc := r.sides("service", "expected.json"), r.sides("oracle", "expected.json")
	for id, want := range instances {
		got, err := env.cl.Details(ctx, id)
		if err != nil {
			r.fail("details vs expected.json", "%q: %v", id, err)
			continue
		}
		svc.equal("details vs expected.json", id, got, want)
		od, _ := env.oracle.Details(id)
		orc.equal("oracle details vs expected.json", id, od, want)
	}
	// Every fixture instance is in expected.json.
	for _, s := range env.oracle.ListInstances(oracle.ListFilter{}) {
		if _, ok := instances[s.InstanceID]; !ok {
			r.fail("expected.json coverage", "instance %q is not in expected.json", s.InstanceID)
		}
	}
	acts, err := env.cl.ActivityStats(ctx, client.ActivityStatsParams{})
	if err != nil {
		t.Fatal(err)
	}
	svc.equal("activities vs expected.json", "", api.ActivityStatsList{Activities: acts}, activityStats)
	orc.equal("oracle activities vs expected.json", "", env.oracle.ActivityStats(nil, nil, false), activityStats)
	orch, err := env.cl.OrchestrationStats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	svc.equal("orchestrations vs expected.json", "", orch, orchestrationStats)
	orc.equal("oracle orchestrations vs expected.json", "", env.oracle.OrchestrationStats(nil), orchestrationStats)
}
