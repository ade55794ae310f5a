package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// loadReadModel writes the read model of a generated workload of n
// top-level instances straight into db, in chunks (memory stays bounded
// for a million instances). It returns a sample of instance ids and the
// orchestration names.
func loadReadModel(t testing.TB, db *testenv.Database, instances int) (ids, names []string) {
	t.Helper()
	ctx := context.Background()
	w := chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name})
	seenName := map[string]bool{}
	rng := rand.New(rand.NewPCG(51, 52))
	var chunk []events.Event
	seq := uint64(0)
	total, histories := 0, 0
	flush := func() {
		if len(chunk) == 0 {
			return
		}
		rows := make([]chwrite.HistoryRow, len(chunk))
		for i := range chunk {
			seq++
			rows[i] = chwrite.HistoryRow{Event: &chunk[i], StreamSeq: seq}
		}
		if err := w.WriteHistory(ctx, rows); err != nil {
			t.Fatal(err)
		}
		derived, err := projection.DeriveAll(chunk)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteDerived(ctx, derived); err != nil {
			t.Fatal(err)
		}
		total += len(chunk)
		chunk = chunk[:0]
	}
	// Histories are whole instances, so a chunk never splits one.
	for h := range gen.Histories(gen.Config{Seed: 51, Instances: instances, StartMs: workloadStartMs,
		SpreadMs: 24 * 3_600_000, RunningFraction: 0.15, UnknownTypeFraction: 0.02, Workers: 2}) {
		// A uniform sample of 5000 ids (reservoir sampling).
		histories++
		if len(ids) < 5000 {
			ids = append(ids, h[0].InstanceID)
		} else if j := rng.IntN(histories); j < len(ids) {
			ids[j] = h[0].InstanceID
		}
		for i := range h {
			if h[i].Type == events.TypeOrchestrationStarted && !seenName[h[i].Name] {
				seenName[h[i].Name] = true
				names = append(names, h[i].Name)
			}
		}
		chunk = append(chunk, h...)
		if len(chunk) >= 200_000 {
			flush()
		}
	}
	flush()
	sort.Strings(names)
	t.Logf("read model: %d top-level instances, %d events", instances, total)
	return ids, names
}

// procMem reads a process's current and peak resident memory (KiB).
func procMem(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				rss = v
			case "VmHWM:":
				hwm = v
			}
		}
	}
	return rss, hwm
}

// gcHeapRe matches the heap sizes of a GODEBUG=gctrace=1 line:
// "... 12->13->6 MB, 14 MB goal ...".
var gcHeapRe = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB`)

func peakHeapMB(log string) (peak int, gcs int) {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		if m := gcHeapRe.FindStringSubmatch(sc.Text()); m != nil && strings.HasPrefix(sc.Text(), "gc ") {
			gcs++
			for _, s := range m[1:3] {
				v, _ := strconv.Atoi(s)
				peak = max(peak, v)
			}
		}
	}
	return peak, gcs
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)))
	return sorted[min(i, len(sorted)-1)]
}

// TestQueryServiceUnderLoad runs 200 concurrent clients (on 127.0.0.1)
// against cmd/query with its default limits: the only answers besides 200
// are 503 with Retry-After (overload), memory stays bounded, and the
// latency percentiles are reported. Default: 10 s on a 3,000-instance read
// model; DUROSCOPE_HEAVY=1: 60 s on a 1,000,000-instance read model
// (DUROSCOPE_LOAD_INSTANCES and DUROSCOPE_LOAD_DURATION set other sizes).
func TestQueryServiceUnderLoad(t *testing.T) {
	instances, duration, clients := 3000, 10*time.Second, 200
	if heavy() {
		instances, duration = 1_000_000, 60*time.Second
	}
	// Explicit sizes for an in-between run.
	if v, err := strconv.Atoi(os.Getenv("DUROSCOPE_LOAD_INSTANCES")); err == nil && v > 0 {
		instances = v
	}
	if v, err := time.ParseDuration(os.Getenv("DUROSCOPE_LOAD_DURATION")); err == nil && v > 0 {
		duration = v
	}
	db := testenv.NewDatabase(t, "relload")
	ids, names := loadReadModel(t, db, instances)
	n := testenv.StartNATS(t)
	q := startQuery(t, n.URL, db.Addr, db.Name, "GODEBUG=gctrace=1")
	waitReady(t, q.URL, 30*time.Second)
	pid := q.cmd.Process.Pid

	type result struct {
		lat  time.Duration
		code int
		bad  string
		// lookup: a key lookup (instance, details, history, bulk status),
		// not a table scan; they have their own admission slots.
		lookup bool
	}
	var (
		mu      sync.Mutex
		results []result
	)
	transport := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	client := &http.Client{Transport: transport, Timeout: 60 * time.Second}
	bulk := func(rng *rand.Rand) []byte {
		list := make([]string, 100)
		for i := range list {
			list[i] = ids[rng.IntN(len(ids))]
		}
		b, _ := json.Marshal(api.BulkStatusRequest{InstanceIDs: list})
		return b
	}
	// Cases 2-6 are key lookups (instance, details, history, bulk status).
	requestOf := func(k int, id, name string, rng *rand.Rand) (*http.Request, error) {
		switch k {
		case 0:
			return http.NewRequest("GET", q.URL+"/v1/instances?limit=100", nil)
		case 1:
			return http.NewRequest("GET", q.URL+"/v1/instances?status=Running&orchestration="+name+"&limit=50", nil)
		case 2, 3:
			return http.NewRequest("GET", q.URL+"/v1/instances/"+id+"/details", nil)
		case 4:
			return http.NewRequest("GET", q.URL+"/v1/instances/"+id+"/history", nil)
		case 5:
			return http.NewRequest("GET", q.URL+"/v1/instances/"+id, nil)
		case 6:
			return http.NewRequest("POST", q.URL+"/v1/bulk/status", bytes.NewReader(bulk(rng)))
		case 7:
			return http.NewRequest("GET", q.URL+"/v1/stats/orchestrations?orchestration="+name, nil)
		case 8:
			return http.NewRequest("GET", q.URL+"/v1/stats/activities", nil)
		case 9:
			return http.NewRequest("GET", q.URL+"/v1/stats/performance?orchestration="+name, nil)
		case 10:
			return http.NewRequest("GET", q.URL+"/v1/health", nil)
		default:
			return http.NewRequest("GET", q.URL+"/v1/problems?limit=20", nil)
		}
	}
	request := func(rng *rand.Rand) (*http.Request, bool, error) {
		id := url.PathEscape(ids[rng.IntN(len(ids))])
		name := url.QueryEscape(names[rng.IntN(len(names))])
		k := rng.IntN(12)
		req, err := requestOf(k, id, name, rng)
		return req, k >= 2 && k <= 6, err
	}
	var peakRSS int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tk.C:
				rss, _ := procMem(pid)
				peakRSS = max(peakRSS, rss)
			}
		}
	}()
	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 53))
			var local []result
			for time.Now().Before(deadline) {
				req, lookup, err := request(rng)
				if err != nil {
					t.Error(err)
					return
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					local = append(local, result{lat: time.Since(t0), bad: "transport: " + err.Error(), lookup: lookup})
					continue
				}
				body, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				r := result{lat: time.Since(t0), code: resp.StatusCode, lookup: lookup}
				switch {
				case rerr != nil:
					r.bad = "body: " + rerr.Error()
				case resp.StatusCode == 200:
					if !json.Valid(body) {
						r.bad = "200 with invalid JSON"
					}
				case resp.StatusCode == 503:
					if resp.Header.Get("Retry-After") == "" {
						r.bad = "503 without Retry-After"
					}
					// A well-behaved client backs off.
					time.Sleep(time.Duration(20+rng.IntN(80)) * time.Millisecond)
				default:
					r.bad = fmt.Sprintf("status %d: %.200s", resp.StatusCode, body)
				}
				local = append(local, r)
			}
			mu.Lock()
			results = append(results, local...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	<-sampled
	_, hwm := procMem(pid)
	q.stop()
	heapMB, gcs := peakHeapMB(q.log())

	var all, ok, okLookup, okScan []time.Duration
	codes := map[string]int{}
	errs := 0
	for _, r := range results {
		all = append(all, r.lat)
		codes[strconv.Itoa(r.code)]++
		if r.code == 200 {
			ok = append(ok, r.lat)
			if r.lookup {
				okLookup = append(okLookup, r.lat)
			} else {
				okScan = append(okScan, r.lat)
			}
		}
		if r.bad != "" {
			errs++
			if errs <= 10 {
				t.Errorf("bad answer: %s", r.bad)
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for _, l := range [][]time.Duration{ok, okLookup, okScan} {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	}
	if len(ok) == 0 {
		t.Fatal("no request succeeded")
	}
	peak := max(peakRSS, hwm)
	if peak > 1<<20 { // KiB: 1 GiB
		t.Errorf("query service peak RSS %d MiB: not bounded", peak>>10)
	}
	summaryLine(t, "query-load", "instances", instances, "clients", clients, "duration", elapsed.Round(time.Millisecond),
		"requests", len(results), "rps", int(float64(len(results))/elapsed.Seconds()), "by_status", fmtCounts(codes),
		"errors", errs, "p50_ms", ms(percentile(all, 0.5)), "p90_ms", ms(percentile(all, 0.9)), "p99_ms", ms(percentile(all, 0.99)),
		"max_ms", ms(percentile(all, 1)), "p99_200_ms", ms(percentile(ok, 0.99)),
		"lookups_200", len(okLookup), "p50_200_lookup_ms", ms(percentile(okLookup, 0.5)), "p99_200_lookup_ms", ms(percentile(okLookup, 0.99)),
		"scans_200", len(okScan), "p50_200_scan_ms", ms(percentile(okScan, 0.5)), "p99_200_scan_ms", ms(percentile(okScan, 0.99)), "peak_rss_mib", peak>>10,
		"peak_heap_mib", heapMB, "gc_cycles", gcs)
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
}
