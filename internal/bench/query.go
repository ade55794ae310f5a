package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// endpointResult is one endpoint's latency over repeated requests.
type endpointResult struct {
	Name     string  `json:"name"`
	Request  string  `json:"request"`
	Requests int     `json:"requests"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Maxms    float64 `json:"max_ms"`
	Minms    float64 `json:"min_ms"`
	// Replay baseline (stats endpoints): the time to answer the same call
	// by reading every history from ClickHouse and replaying it.
	ReplayMs    *summary `json:"replay_ms,omitempty"`
	ReplayRatio float64  `json:"replay_over_api_p50,omitempty"`
	// Verified is set when the answer was compared with the replay's.
	Verified string `json:"verified,omitempty"`
}

type queryResult struct {
	Instances   int64            `json:"instances"`
	Events      int64            `json:"events"`
	Loaded      string           `json:"loaded_by"`
	LoadSeconds float64          `json:"load_seconds,omitempty"`
	Parts       map[string]int   `json:"active_parts"`
	Endpoints   []endpointResult `json:"endpoints"`
	Replay      *replayResult    `json:"replay,omitempty"`
}

// preloaded is a read model the scale section already built through the
// projector.
type preloaded struct {
	db       string
	loadedBy string
	sample   []string
	events   int64
	instCnt  int64
}

// endpoint is one API call of the query benchmark; req builds the i-th
// request (ids rotate through the sample).
type endpoint struct {
	name  string
	stats string // oracle call this endpoint's replay baseline answers, "" = none
	req   func(i int) (method, path string, body []byte)
}

func (b *bench) endpoints(ids []string, deepToken string) []endpoint {
	id := func(i int) string { return url.PathEscape(ids[i%len(ids)]) }
	get := func(p string) func(int) (string, string, []byte) {
		return func(int) (string, string, []byte) { return "GET", p, nil }
	}
	bulk := func(i int) (string, string, []byte) {
		req := api.BulkStatusRequest{}
		for j := 0; j < 100; j++ {
			req.InstanceIDs = append(req.InstanceIDs, ids[(i*100+j)%len(ids)])
		}
		body, _ := json.Marshal(req)
		return "POST", "/v1/bulk/status", body
	}
	eps := []endpoint{
		{name: "list first page", req: get("/v1/instances?limit=100")},
		{name: "list Running", req: get("/v1/instances?status=Running&limit=100")},
		{name: "list by orchestration", req: get("/v1/instances?orchestration=ProcessOrder&limit=100")},
		{name: "list instance_prefix", req: get("/v1/instances?instance_prefix=order-1&limit=100")},
		{name: "list deep page (token)", req: get("/v1/instances?limit=100&page_token=" + url.QueryEscape(deepToken))},
		{name: "list roots only, Failed", req: get("/v1/instances?status=Failed&root_only=true&limit=100")},
		{name: "list error kind", req: get("/v1/instances?error_kind=ActivityFailed&limit=100")},
		{name: "list activity tag", req: get("/v1/instances?activity_tag=gpu&limit=100")},
		{name: "count", req: get("/v1/instances/count")},
		{name: "count by status, one orchestration", req: get("/v1/instances/count?orchestration=ProcessOrder&group_by=status")},
		{name: "history page of 500, no payloads", req: func(i int) (string, string, []byte) {
			return "GET", "/v1/instances/" + id(i) + "/history?limit=500&include_payloads=false", nil
		}},
		{name: "instance", req: func(i int) (string, string, []byte) { return "GET", "/v1/instances/" + id(i), nil }},
		{name: "details", req: func(i int) (string, string, []byte) { return "GET", "/v1/instances/" + id(i) + "/details", nil }},
		{name: "executions", req: func(i int) (string, string, []byte) { return "GET", "/v1/instances/" + id(i) + "/executions", nil }},
		{name: "history", req: func(i int) (string, string, []byte) { return "GET", "/v1/instances/" + id(i) + "/history", nil }},
		{name: "bulk status (100 ids)", req: bulk},
		{name: "stats/orchestrations", stats: "orchestrations", req: get("/v1/stats/orchestrations")},
		{name: "stats/activities", stats: "activities", req: get("/v1/stats/activities")},
		{name: "stats/activities by orchestration", req: get("/v1/stats/activities?orchestration=ProcessOrder")},
		{name: "stats/activities since (inside an hour)", req: get(fmt.Sprintf("/v1/stats/activities?since=%d", b.nowMs-6*3600_000+1_234_567))},
		{name: "stats/performance", stats: "performance", req: get("/v1/stats/performance?orchestration=ProcessOrder")},
		{name: "performance drill-down (100 slowest)", req: get("/v1/stats/performance/instances?orchestration=ProcessOrder")},
		{name: "activity calls drill-down (100 slowest)", req: get("/v1/stats/activities/calls?activity=ChargeCard")},
		{name: "health", stats: "health", req: get("/v1/health")},
		{name: "problems", stats: "problems", req: get("/v1/problems")},
		{name: "queues", stats: "queues", req: get("/v1/queues")},
	}
	if deepToken == "" {
		eps = append(eps[:4], eps[5:]...)
	}
	return eps
}

// runQueries measures every endpoint over a read model of about n
// instances: pre (built by the scale section through the projector) or,
// when nil, a fresh database loaded directly (gen → projection.DeriveAll →
// chwrite.Writer, no NATS).
func (b *bench) runQueries(ctx context.Context, n int64, pre *preloaded) (*queryResult, error) {
	res := &queryResult{Parts: map[string]int{}}
	var db string
	var ids []string
	if pre == nil {
		var err error
		db, err = b.env.newDatabase(ctx, "query")
		if err != nil {
			return nil, err
		}
		defer b.env.dropDatabase(context.WithoutCancel(ctx), db)
		m := measureMix(genConfig(b.cfg.seed+3, 0, 24*time.Hour, b.nowMs, ""))
		wl := &workload{cfg: genConfig(b.cfg.seed+3, m.topForInstances(n), 24*time.Hour, b.nowMs, "")}
		logf("queries: loading ~%s instances directly (gen → projection.DeriveAll → chwrite.Writer; NATS and the projector bypassed)", groupThousands(n))
		start := time.Now()
		w := chwrite.NewWriter(b.env.ch, chwrite.WriterConfig{Database: db})
		ids, err = directLoad(ctx, w, wl, 5000, n)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		if err := writeQueueSnapshots(ctx, w, b.nowMs); err != nil {
			return nil, err
		}
		res.LoadSeconds = time.Since(start).Seconds()
		res.Instances, res.Events, res.Loaded = wl.Instances, wl.Events, "direct (DeriveAll + Writer, no NATS)"
		logf("  loaded %s instances / %s events in %.0fs", groupThousands(wl.Instances), groupThousands(wl.Events), res.LoadSeconds)
	} else {
		db, ids = pre.db, pre.sample
		res.Instances, res.Events, res.Loaded = pre.instCnt, pre.events, pre.loadedBy
	}
	b.settleMerges(ctx, db)
	rows, err := b.env.ch.Query(ctx, "SELECT table, toUInt64(count()) FROM system.parts WHERE database = ? AND active GROUP BY table", db)
	if err == nil {
		for rows.Next() {
			var t string
			var c uint64
			if rows.Scan(&t, &c) == nil {
				res.Parts[t] = int(c)
			}
		}
		rows.Close()
	}

	base, stop, err := b.serveAPI(db)
	if err != nil {
		return nil, err
	}
	defer stop()
	client := &http.Client{Timeout: 60 * time.Second}
	deep := ""
	{
		off := min(res.Instances/2, 100000)
		var list api.InstanceList
		if _, err := call(ctx, client, base, "GET", fmt.Sprintf("/v1/instances?limit=1&offset=%d", off), nil, &list); err != nil {
			return nil, err
		}
		if list.NextPageToken != nil {
			deep = *list.NextPageToken
		}
	}
	eps := b.endpoints(ids, deep)
	logf("queries: %d endpoints over %s instances, up to %d requests each (load average %s)", len(eps), groupThousands(res.Instances), b.cfg.queryReps, loadAvg())
	answers := map[string][]byte{}
	for _, ep := range eps {
		er := endpointResult{Name: ep.name}
		m, p, body := ep.req(0)
		er.Request = m + " " + p
		// One unmeasured request warms the connection and the caches.
		first, err := call(ctx, client, base, m, p, body, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ep.name, err)
		}
		if ep.stats != "" {
			answers[ep.stats] = first
		}
		var lat latencies
		start := time.Now()
		for i := 1; i <= b.cfg.queryReps; i++ {
			if i > 20 && time.Since(start) > b.cfg.queryBudget {
				break
			}
			m, p, body := ep.req(i)
			t := time.Now()
			if _, err := call(ctx, client, base, m, p, body, nil); err != nil {
				return nil, fmt.Errorf("%s: %w", ep.name, err)
			}
			lat.add(time.Since(t))
		}
		er.Requests = len(lat.ms)
		er.P50ms, er.P99ms, er.Maxms, er.Minms = lat.p(50), lat.p(99), lat.p(100), percentile(lat.ms, 0)
		logf("  %-24s p50 %7s ms  p99 %7s ms  (%d requests)", ep.name, fmtF(er.P50ms), fmtF(er.P99ms), er.Requests)
		res.Endpoints = append(res.Endpoints, er)
	}
	if b.cfg.replayRuns > 0 {
		rr, err := b.replay(ctx, db, answers)
		if err != nil {
			return nil, fmt.Errorf("replay baseline: %w", err)
		}
		res.Replay = rr
		for i := range res.Endpoints {
			er := &res.Endpoints[i]
			for _, ep := range eps {
				if ep.name != er.Name || ep.stats == "" {
					continue
				}
				s := rr.PerCall[ep.stats]
				er.ReplayMs = &s
				er.ReplayRatio = ratio(s.Median, er.P50ms)
				er.Verified = rr.Verified[ep.stats]
			}
		}
	}
	return res, nil
}

// call performs one request; it fails on any status but 200. With out, the
// body is decoded into it; the raw body is returned.
func call(ctx context.Context, client *http.Client, base, method, path string, body []byte, out any) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return b, nil
}

// writeQueueSnapshots stores a minute of queue-depth snapshots, so /v1/queues
// reads a real newest snapshot.
func writeQueueSnapshots(ctx context.Context, w *chwrite.Writer, nowMs int64) error {
	walk := gen.NewQueueWalk(1)
	var snaps []events.QueueSnapshot
	for t := nowMs - 60_000; t <= nowMs; t += 1000 {
		snaps = append(snaps, walk.Next(t))
	}
	return w.WriteQueueSnapshots(ctx, snaps)
}

// settleMerges waits (at most two minutes) until ClickHouse runs no merge in
// db, so that latencies are not measured against a merge in flight.
func (b *bench) settleMerges(ctx context.Context, db string) {
	deadline := time.Now().Add(2 * time.Minute)
	quiet := 0
	for time.Now().Before(deadline) && quiet < 3 {
		var n uint64
		if err := b.env.ch.QueryRow(ctx, "SELECT toUInt64(count()) FROM system.merges WHERE database = ?", db).Scan(&n); err != nil {
			return
		}
		if n == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(time.Second)
	}
}

// settleServer waits (at most a minute) until the ClickHouse server runs no
// merge at all.
func (b *bench) settleServer(ctx context.Context) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var n uint64
		if err := b.env.ch.QueryRow(ctx, "SELECT toUInt64(count()) FROM system.merges").Scan(&n); err != nil || n == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// replayResult is the replay baseline: each stats call answered the way the
// seed's ManagementClient answers it, by reading every instance's history
// and replaying it (internal/oracle).
type replayResult struct {
	Runs    int                `json:"runs"`
	Chunks  int                `json:"chunks"`
	Exact   bool               `json:"exact"` // one chunk: answers complete and compared with the API's
	ReadMs  summary            `json:"read_decode_ms"`
	BuildMs summary            `json:"replay_ms"`
	PerCall map[string]summary `json:"per_call_ms"`
	// Verified says, per call, whether the API's answer equals the
	// replay's ("identical", "differs", or why it was not compared).
	Verified map[string]string `json:"verified"`
}

// replayChunkInstances bounds the instances replayed at once: the oracle
// holds its events in memory (~0.6 KB each), so a million instances are
// replayed in id ranges. The per-call time is then the sum over the ranges,
// which leaves out only merging the partial answers: a lower bound of the
// replay's cost.
const replayChunkInstances = 150_000

var replayCalls = []string{"orchestrations", "activities", "performance", "health", "problems", "queues"}

func (b *bench) replay(ctx context.Context, db string, answers map[string][]byte) (*replayResult, error) {
	bounds, err := b.idRanges(ctx, db)
	if err != nil {
		return nil, err
	}
	rr := &replayResult{Runs: b.cfg.replayRuns, Chunks: len(bounds), Exact: len(bounds) == 1,
		PerCall: map[string]summary{}, Verified: map[string]string{}}
	logf("replay baseline: %d run(s), %d id range(s) (load average %s)", b.cfg.replayRuns, len(bounds), loadAvg())
	var readMs, buildMs []float64
	perCall := map[string][]float64{}
	nowMs := time.Now().UnixMilli()
	for run := 0; run < b.cfg.replayRuns; run++ {
		var read, build time.Duration
		calls := map[string]time.Duration{}
		for _, r := range bounds {
			t := time.Now()
			evs, err := b.readHistories(ctx, db, r)
			if err != nil {
				return nil, err
			}
			read += time.Since(t)
			t = time.Now()
			o := oracle.New(evs)
			build += time.Since(t)
			for _, c := range replayCalls {
				t := time.Now()
				ans := replayCall(o, c, nowMs)
				calls[c] += time.Since(t)
				if run == 0 && rr.Exact {
					rr.Verified[c] = compareAnswer(c, ans, answers[c])
				}
			}
			evs = nil
		}
		readMs = append(readMs, float64(read.Milliseconds()))
		buildMs = append(buildMs, float64(build.Milliseconds()))
		for c, d := range calls {
			perCall[c] = append(perCall[c], float64((read + build + d).Milliseconds()))
		}
		logf("  run %d: read+decode %v, replay %v", run+1, read.Round(time.Millisecond), build.Round(time.Millisecond))
	}
	if !rr.Exact {
		for _, c := range replayCalls {
			rr.Verified[c] = "not compared (replayed in id ranges)"
		}
	}
	rr.ReadMs, rr.BuildMs = summarize(readMs), summarize(buildMs)
	for c, v := range perCall {
		rr.PerCall[c] = summarize(v)
	}
	return rr, nil
}

// replayCall answers one stats call from the oracle; health and problems
// use the API's defaults.
func replayCall(o *oracle.Oracle, c string, nowMs int64) any {
	switch c {
	case "orchestrations":
		return o.OrchestrationStats(nil)
	case "activities":
		return o.ActivityStats(nil, nil, false)
	case "performance":
		return o.Performance("ProcessOrder", nil)
	case "health":
		return o.Health(nowMs, 24*time.Hour, time.Hour)
	case "problems":
		return o.Problems(nowMs, 24*time.Hour, time.Hour, 24*time.Hour, 100)
	case "queues":
		return o.Queues(nil)
	}
	return nil
}

// compareAnswer checks the API's answer against the replay's for the calls
// that do not depend on the clock or on queue snapshots.
func compareAnswer(c string, replayed any, apiBody []byte) string {
	var got any
	switch c {
	case "orchestrations":
		got = new(api.OrchestrationStats)
	case "activities":
		got = new(api.ActivityStatsList)
	case "performance":
		got = new(api.PerformanceMetrics)
	default:
		return "not compared (depends on the clock or queue snapshots)"
	}
	if err := json.Unmarshal(apiBody, got); err != nil {
		return "differs (undecodable: " + err.Error() + ")"
	}
	if reflect.DeepEqual(reflect.ValueOf(got).Elem().Interface(), replayed) {
		return "identical"
	}
	return "differs"
}

// idRange is a half-open range of instance ids ("" = unbounded).
type idRange struct{ from, to string }

// idRanges splits the instances into ranges of replayChunkInstances.
func (b *bench) idRanges(ctx context.Context, db string) ([]idRange, error) {
	rows, err := b.env.ch.Query(ctx, "SELECT DISTINCT instance_id FROM "+db+".history_v3 ORDER BY instance_id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []idRange
	cur := idRange{}
	n := 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		if n == replayChunkInstances {
			cur.to = id
			out = append(out, cur)
			cur, n = idRange{from: id}, 0
		}
		n++
	}
	out = append(out, cur)
	return out, rows.Err()
}

// readHistories reads and decodes every stored event of the range (the
// history table's primary key restricts the read to it).
func (b *bench) readHistories(ctx context.Context, db string, r idRange) ([]events.Event, error) {
	q := "SELECT payload FROM " + db + ".history_v3"
	var args []any
	switch {
	case r.from != "" && r.to != "":
		q += " WHERE instance_id >= ? AND instance_id < ?"
		args = []any{r.from, r.to}
	case r.from != "":
		q += " WHERE instance_id >= ?"
		args = []any{r.from}
	case r.to != "":
		q += " WHERE instance_id < ?"
		args = []any{r.to}
	}
	rows, err := b.env.ch.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []events.Event
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		e, err := events.Decode([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("stored event does not decode: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
