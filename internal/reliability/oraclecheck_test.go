package reliability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/oracle"
)

// oracleCheck compares the answers of a query service (base URL, clock
// nowMs) with the replay oracle over the same events, through HTTP:
// every instance of the list (paged by token, unfiltered and per status),
// list filters, bulk status of every id, the per-instance endpoints of a
// sample (and of unknown ids: 404), and every statistics endpoint. It
// returns the number of answers compared; each difference fails t.
type oracleCheck struct {
	t      testing.TB
	base   string
	o      *oracle.Oracle
	nowMs  int64
	sample int // instances whose per-instance endpoints are compared
	token  string

	mu      sync.Mutex
	checked int
	failed  int
}

func checkOracle(t testing.TB, base string, o *oracle.Oracle, nowMs int64, sample int) int {
	t.Helper()
	c := &oracleCheck{t: t, base: base, o: o, nowMs: nowMs, sample: sample}
	c.run()
	return c.checked
}

var httpClient = &http.Client{Timeout: 2 * time.Minute}

// get fetches path and decodes the JSON answer into a generic value.
func (c *oracleCheck) get(method, path string, body []byte) (int, any, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	v, err := canonical(b)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("answer is not JSON: %v: %.200s", err, b)
	}
	return resp.StatusCode, v, nil
}

// canonical decodes JSON (numbers kept exact) for comparison.
func canonical(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

func toCanonical(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out, err := canonical(b)
	if err != nil {
		panic(err)
	}
	return out
}

// compare checks one answer against the oracle's.
func (c *oracleCheck) compare(what string, status int, got any, err error, want any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked++
	if err == nil && status == 200 && reflect.DeepEqual(got, toCanonical(want)) {
		return
	}
	c.failed++
	if c.failed > 20 {
		return
	}
	if err != nil || status != 200 {
		c.t.Errorf("%s: status %d, error %v, answer %.300v", what, status, err, got)
		return
	}
	c.t.Errorf("%s differs from the oracle: %s", what, firstDiff("$", got, toCanonical(want)))
}

func (c *oracleCheck) want404(what string, status int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked++
	if err != nil || status != 404 {
		c.failed++
		c.t.Errorf("%s: status %d (%v), want 404", what, status, err)
	}
}

// firstDiff names the first differing leaf of two canonical values.
func firstDiff(path string, a, b any) string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(av)+len(bv))
		for k := range av {
			keys = append(keys, k)
		}
		for k := range bv {
			if _, ok := av[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !reflect.DeepEqual(av[k], bv[k]) {
				return firstDiff(path+"."+k, av[k], bv[k])
			}
		}
		return path + ": equal?"
	case []any:
		bv, ok := b.([]any)
		if !ok {
			break
		}
		for i := 0; i < min(len(av), len(bv)); i++ {
			if !reflect.DeepEqual(av[i], bv[i]) {
				return firstDiff(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])
			}
		}
		return fmt.Sprintf("%s: service has %d elements, oracle %d", path, len(av), len(bv))
	}
	sa, _ := json.Marshal(a)
	sb, _ := json.Marshal(b)
	return fmt.Sprintf("%s: service %.200s, oracle %.200s", path, sa, sb)
}

func (c *oracleCheck) run() {
	all := c.o.ListInstances(oracle.ListFilter{})
	if len(all) == 0 {
		c.t.Fatal("oracle check: the oracle holds no instance")
	}
	c.lists(all)
	c.bulk(all)
	c.instances(all)
	c.stats(all)
	if c.failed > 0 {
		c.t.Errorf("oracle check: %d of %d answers differ", c.failed, c.checked)
	}
}

// lists pages through /v1/instances with tokens, unfiltered and filtered.
func (c *oracleCheck) lists(all []api.InstanceSummary) {
	names := orchestrationNames(all)
	type lc struct {
		query string
		f     oracle.ListFilter
	}
	cases := []lc{{"", oracle.ListFilter{}}}
	for _, st := range []string{api.StatusRunning, api.StatusCompleted, api.StatusFailed} {
		cases = append(cases, lc{"status=" + st, oracle.ListFilter{Statuses: []string{st}}})
	}
	for i, n := range names {
		if i >= 4 {
			break
		}
		cases = append(cases, lc{"orchestration=" + url.QueryEscape(n), oracle.ListFilter{Orchestration: ptr(n)}})
	}
	mid := int64(all[len(all)/2].CreatedAt)
	cases = append(cases,
		lc{"created_after=" + strconv.FormatInt(mid, 10), oracle.ListFilter{CreatedAfter: ptr(mid)}},
		lc{fmt.Sprintf("status=Running,Failed&created_before=%d", mid), oracle.ListFilter{Statuses: []string{api.StatusRunning, api.StatusFailed}, CreatedBefore: ptr(mid)}},
	)
	if p := all[0].InstanceID; len(p) > 3 {
		cases = append(cases, lc{"instance_prefix=" + url.QueryEscape(p[:3]), oracle.ListFilter{InstancePrefix: ptr(p[:3])}})
	}
	for _, s := range all {
		if s.ParentInstance != nil {
			cases = append(cases, lc{"parent_instance=" + url.QueryEscape(*s.ParentInstance), oracle.ListFilter{ParentInstance: s.ParentInstance}})
			break
		}
	}
	for _, k := range cases {
		want := c.o.ListInstances(k.f)
		limit := 1000
		if k.query != "" {
			limit = 97 // several pages, with a short last one
		}
		token := ""
		for page := 0; ; page++ {
			q := fmt.Sprintf("limit=%d", limit)
			if k.query != "" {
				q += "&" + k.query
			}
			if token != "" {
				q += "&page_token=" + url.QueryEscape(token)
			}
			lo := page * limit
			hi := min(lo+limit, len(want))
			wantPage := api.InstanceList{Instances: []api.InstanceSummary{}}
			if lo < len(want) {
				wantPage.Instances = want[lo:hi]
			}
			status, got, err := c.get("GET", "/v1/instances?"+q, nil)
			// The token is opaque: compare everything else, then follow it.
			token = ""
			var gotTok any
			if m, ok := got.(map[string]any); ok {
				gotTok = m["next_page_token"]
				if s, ok := gotTok.(string); ok {
					token = s
				}
				m["next_page_token"] = nil
			}
			c.compare("GET /v1/instances?"+q, status, got, err, wantPage)
			if (hi < len(want)) != (token != "") {
				c.compare("GET /v1/instances?"+q+" next_page_token", 200, gotTok, nil, hi < len(want))
				break
			}
			if token == "" || page > len(want)/limit+1 {
				break
			}
		}
	}
}

func (c *oracleCheck) bulk(all []api.InstanceSummary) {
	ids := make([]string, 0, len(all)+10)
	for _, s := range all {
		ids = append(ids, s.InstanceID)
	}
	for i := 0; i < 5; i++ {
		ids = append(ids, fmt.Sprintf("no-such-instance-%d", i), ids[i])
	}
	for lo := 0; lo < len(ids); lo += 10000 {
		part := ids[lo:min(lo+10000, len(ids))]
		body, _ := json.Marshal(api.BulkStatusRequest{InstanceIDs: part})
		status, got, err := c.get("POST", "/v1/bulk/status", body)
		c.compare(fmt.Sprintf("POST /v1/bulk/status (%d ids from %d)", len(part), lo), status, got, err, c.o.BulkStatus(part))
	}
}

// instances compares the per-instance endpoints of a sample.
func (c *oracleCheck) instances(all []api.InstanceSummary) {
	rng := rand.New(rand.NewPCG(uint64(len(all)), 42))
	ids := make([]string, 0, c.sample)
	for _, i := range rng.Perm(len(all)) {
		if len(ids) >= c.sample {
			break
		}
		ids = append(ids, all[i].InstanceID)
	}
	jobs := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				c.instance(id)
			}
		}()
	}
	for _, id := range ids {
		jobs <- id
	}
	close(jobs)
	wg.Wait()
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("no-such-instance-%d", i)
		for _, sub := range []string{"", "/details", "/executions", "/history"} {
			status, _, err := c.get("GET", "/v1/instances/"+url.PathEscape(id)+sub, nil)
			c.want404("GET /v1/instances/"+id+sub, status, err)
		}
	}
}

func (c *oracleCheck) instance(id string) {
	p := "/v1/instances/" + url.PathEscape(id)
	s, _ := c.o.Instance(id)
	status, got, err := c.get("GET", p, nil)
	c.compare("GET "+p, status, got, err, s)
	d, _ := c.o.Details(id)
	status, got, err = c.get("GET", p+"/details", nil)
	c.compare("GET "+p+"/details", status, got, err, d)
	x, _ := c.o.Executions(id)
	status, got, err = c.get("GET", p+"/executions", nil)
	c.compare("GET "+p+"/executions", status, got, err, x)
	h, _ := c.o.History(id, nil)
	status, got, err = c.get("GET", p+"/history", nil)
	c.compare("GET "+p+"/history", status, got, err, h)
	if s.ExecutionCount > 1 {
		e := s.CurrentExecutionID
		h, _ := c.o.History(id, &e)
		status, got, err = c.get("GET", fmt.Sprintf("%s/history?execution_id=%d", p, e), nil)
		c.compare("GET "+p+"/history?execution_id", status, got, err, h)
	}
}

func (c *oracleCheck) stats(all []api.InstanceSummary) {
	names := orchestrationNames(all)
	status, got, err := c.get("GET", "/v1/stats/orchestrations", nil)
	c.compare("GET /v1/stats/orchestrations", status, got, err, c.o.OrchestrationStats(nil))
	status, got, err = c.get("GET", "/v1/stats/activities", nil)
	c.compare("GET /v1/stats/activities", status, got, err, c.o.ActivityStats(nil, nil, false))
	status, got, err = c.get("GET", "/v1/stats/activities?include_system=true", nil)
	c.compare("GET /v1/stats/activities?include_system=true", status, got, err, c.o.ActivityStats(nil, nil, true))
	since := int64(all[len(all)/3].CreatedAt)
	status, got, err = c.get("GET", fmt.Sprintf("/v1/stats/activities?since=%d", since), nil)
	c.compare("GET /v1/stats/activities?since", status, got, err, c.o.ActivityStats(nil, &since, false))
	for _, n := range names {
		q := url.QueryEscape(n)
		status, got, err = c.get("GET", "/v1/stats/orchestrations?orchestration="+q, nil)
		c.compare("GET /v1/stats/orchestrations?orchestration="+n, status, got, err, c.o.OrchestrationStats(ptr(n)))
		status, got, err = c.get("GET", "/v1/stats/activities?orchestration="+q, nil)
		c.compare("GET /v1/stats/activities?orchestration="+n, status, got, err, c.o.ActivityStats(ptr(n), nil, false))
		status, got, err = c.get("GET", "/v1/stats/performance?orchestration="+q, nil)
		c.compare("GET /v1/stats/performance?orchestration="+n, status, got, err, c.o.Performance(n, nil))
		status, got, err = c.get("GET", fmt.Sprintf("/v1/stats/performance?orchestration=%s&since=%d", q, since), nil)
		c.compare("GET /v1/stats/performance?orchestration="+n+"&since", status, got, err, c.o.Performance(n, &since))
	}
	status, got, err = c.get("GET", "/v1/health", nil)
	c.compare("GET /v1/health", status, got, err, c.o.Health(c.nowMs, 24*time.Hour, time.Hour))
	status, got, err = c.get("GET", "/v1/health?long_running_after=90m&recent_failure_window=2h", nil)
	c.compare("GET /v1/health?long_running_after=90m", status, got, err, c.o.Health(c.nowMs, 90*time.Minute, 2*time.Hour))
	status, got, err = c.get("GET", "/v1/problems", nil)
	c.compare("GET /v1/problems", status, got, err, c.o.Problems(c.nowMs, 24*time.Hour, time.Hour, 24*time.Hour, 100))
	status, got, err = c.get("GET", "/v1/problems?long_running_after=100m&stuck_after=70m&recent_failure_window=3h&limit=1000", nil)
	c.compare("GET /v1/problems?...", status, got, err, c.o.Problems(c.nowMs, 100*time.Minute, 70*time.Minute, 3*time.Hour, 1000))
	status, got, err = c.get("GET", "/v1/queues", nil)
	c.compare("GET /v1/queues", status, got, err, c.o.Queues(nil))
}

func orchestrationNames(all []api.InstanceSummary) []string {
	seen := map[string]bool{}
	var names []string
	for _, s := range all {
		if s.OrchestrationName != "" && !seen[s.OrchestrationName] {
			seen[s.OrchestrationName] = true
			names = append(names, s.OrchestrationName)
		}
	}
	sort.Strings(names)
	return names
}

func ptr[T any](v T) *T { return &v }

// summaryLine formats a test's figures as one line for RELIABILITY.md.
func summaryLine(t testing.TB, name string, kv ...any) {
	t.Helper()
	var b strings.Builder
	b.WriteString("SUMMARY " + name + ":")
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	t.Log(b.String())
}
