package e2e

// The dashboard's browser test: the real stack (embedded JetStream, the
// in-process projector writing a private ClickHouse database, the real
// cmd/query binary serving the API and the embedded dashboard) and a
// headless Chromium driven by web/e2e/dashboard.mjs (playwright-core).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
)

const (
	chromiumPath   = "/usr/bin/chromium"
	dashboardE2E   = "../web/e2e"
	dashboardStart = 1764105600000 // 2025-11-25T21:20:00Z, the fixtures' hour
	// dashboardXSSID is an instance whose id, names and custom status are
	// HTML: the page must show them as text. The "/.." checks the path
	// encoding too.
	dashboardXSSID = `xss <img src=x onerror="window.__pwned=1">/..`
	// dashboardHugeID is an instance with a huge history (hugeEvents
	// events): the page must open it by pages without payloads.
	dashboardHugeID = "huge-history"
)

// hugeEvents is the size of dashboardHugeID's history: 4,001 in CI,
// DUROSCOPE_DASHBOARD_HUGE_EVENTS to measure a bigger one (BENCHMARKS.md).
func hugeEvents(t *testing.T) int {
	t.Helper()
	n := 4001
	if s := os.Getenv("DUROSCOPE_DASHBOARD_HUGE_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 3 {
			t.Fatalf("DUROSCOPE_DASHBOARD_HUGE_EVENTS=%q: want a number of events >= 3", s)
		}
		n = v
	}
	return n
}

// hugeHistory is one running instance with n events: its start, then
// activities scheduled and completed in turn, each with a 200-byte payload.
func hugeHistory(t *testing.T, n int) []events.Event {
	t.Helper()
	payload := strings.Repeat("p", 200)
	ts := int64(dashboardStart + 900_000)
	line := fmt.Sprintf(`{"event_id":1,"source_event_id":null,"instance_id":%q,"execution_id":1,"timestamp_ms":%d,"type":"OrchestrationStarted","name":"Huge","version":"1.0.0","input":%q,"parent_instance":null,"parent_id":null}`,
		dashboardHugeID, ts, payload)
	out := make([]events.Event, 0, n)
	for id := 1; id <= n; id++ {
		switch {
		case id == 1:
		case id%2 == 0:
			line = fmt.Sprintf(`{"event_id":%d,"source_event_id":null,"instance_id":%q,"execution_id":1,"timestamp_ms":%d,"type":"ActivityScheduled","name":"Step","input":%q}`,
				id, dashboardHugeID, ts+int64(id), payload)
		default:
			line = fmt.Sprintf(`{"event_id":%d,"source_event_id":%d,"instance_id":%q,"execution_id":1,"timestamp_ms":%d,"type":"ActivityCompleted","result":%q}`,
				id, id-1, dashboardHugeID, ts+int64(id), payload)
		}
		e, err := events.Decode([]byte(line))
		if err != nil {
			t.Fatalf("huge history event %d: %v", id, err)
		}
		out = append(out, e)
	}
	return out
}

// browserTools returns node's path, or skips the test when node, Chromium
// or playwright-core are missing, unless DUROSCOPE_REQUIRE_BROWSER is set
// (scripts/test.sh sets it after installing them), where that is a failure.
func browserTools(t *testing.T) string {
	t.Helper()
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (Debian package nodejs)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, chromiumPath+" (apt-get install -y chromium)")
	}
	if _, err := os.Stat(filepath.Join(dashboardE2E, "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "playwright-core (npm ci in web/e2e)")
	}
	if len(missing) == 0 {
		return node
	}
	msg := "the dashboard browser test needs " + strings.Join(missing, ", ") + "; scripts/test.sh installs them"
	if os.Getenv("DUROSCOPE_REQUIRE_BROWSER") != "" {
		t.Fatal(msg + " (DUROSCOPE_REQUIRE_BROWSER is set)")
	}
	t.Skip(msg + " (set DUROSCOPE_REQUIRE_BROWSER=1 to make this a failure)")
	return ""
}

func TestDashboardInBrowser(t *testing.T) {
	node := browserTools(t)
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "dashboard")

	evs := dashboardWorkload(t)
	startProjector(t, n, db, nil)
	publish(t, n.JS, evs)
	projtest.WaitCaughtUp(t, n.JS, 2*time.Minute)

	token := randomHex(t, 16)
	base := startQueryService(t, n, db, token)
	publishQueueSnapshot(t, n, base, token)

	shots := os.Getenv("DUROSCOPE_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	shots, _ = filepath.Abs(shots)
	script, _ := filepath.Abs(filepath.Join(dashboardE2E, "dashboard.mjs"))
	cfg, _ := json.Marshal(map[string]string{"token": token, "xss_id": dashboardXSSID, "prefix": "e2e/",
		"huge_id": dashboardHugeID, "huge_events": strconv.Itoa(hugeEvents(t)),
		"live_url": liveTrigger(t, n)})

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, base, shots)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(os.Environ(), "DUROSCOPE_E2E_CONFIG="+string(cfg), "CHROMIUM_PATH="+chromiumPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("dashboard.mjs (%v):\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
	for _, name := range []string{"overview.png", "instances.png", "instance.png", "activities.png"} {
		b, err := os.ReadFile(filepath.Join(shots, name))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			continue
		}
		if len(b) < 10_000 || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("screenshot %s: not a plausible PNG (%d bytes)", name, len(b))
		}
	}
	t.Logf("screenshots in %s", shots)
}

// dashboardWorkload is a small generated workload (ids with a '/', so the
// page's path encoding matters), the contract fixtures, one instance made
// of HTML and the instance ".", in timestamp order.
func dashboardWorkload(t *testing.T) []events.Event {
	t.Helper()
	var evs []events.Event
	for h := range gen.Histories(gen.Config{
		Seed: 31, Instances: 150, StartMs: dashboardStart, SpreadMs: 3_600_000,
		RunningFraction: 0.2, UnknownTypeFraction: 0.02, CancelFraction: 0.05, IDPrefix: "e2e/",
	}) {
		evs = append(evs, h...)
	}
	evs = append(evs, fixtureEvents(t)...)
	evs = append(evs, hugeHistory(t, hugeEvents(t))...)
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	id := q(dashboardXSSID)
	ts := int64(dashboardStart + 600_000)
	for i, line := range []string{
		fmt.Sprintf(`{"event_id":1,"source_event_id":null,"instance_id":%s,"execution_id":1,"timestamp_ms":%d,"type":"OrchestrationStarted","name":%s,"version":"1.0.0","input":%s,"parent_instance":null,"parent_id":null}`,
			id, ts, q("<b>Evil</b>"), q(`<img src=x onerror="window.__pwned=1">`)),
		fmt.Sprintf(`{"event_id":2,"source_event_id":null,"instance_id":%s,"execution_id":1,"timestamp_ms":%d,"type":"CustomStatusUpdated","status":%s}`,
			id, ts+5, q(`<script>window.__pwned=1</script>`)),
		fmt.Sprintf(`{"event_id":3,"source_event_id":null,"instance_id":%s,"execution_id":1,"timestamp_ms":%d,"type":"ActivityScheduled","name":%s,"input":"{}"}`,
			id, ts+10, q("<i>Act</i>")),
		// "." cannot be put in a path by a browser (see web/static/app.js).
		fmt.Sprintf(`{"event_id":1,"source_event_id":null,"instance_id":".","execution_id":1,"timestamp_ms":%d,"type":"OrchestrationStarted","name":"Dot","version":"1.0.0","input":"","parent_instance":null,"parent_id":null}`,
			ts+20),
	} {
		e, err := events.Decode([]byte(line))
		if err != nil {
			t.Fatalf("crafted event %d: %v", i+1, err)
		}
		evs = append(evs, e)
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].TimestampMs < evs[j].TimestampMs })
	return evs
}

// liveTrigger serves GET ?step=<name> for the browser test's live changes
// step: each step publishes its events to the history stream (instances
// live-1 and live-2 started and completed now) and answers once JetStream
// stored them.
func liveTrigger(t *testing.T, n *testenv.NATS) string {
	t.Helper()
	started := func(id string, ts int64) string {
		return fmt.Sprintf(`{"event_id":1,"source_event_id":null,"instance_id":%q,"execution_id":1,"timestamp_ms":%d,"type":"OrchestrationStarted","name":"Live","version":"1.0.0","input":"1","parent_instance":null,"parent_id":null}`, id, ts)
	}
	completed := func(id string, ts int64) string {
		return fmt.Sprintf(`{"event_id":2,"source_event_id":null,"instance_id":%q,"execution_id":1,"timestamp_ms":%d,"type":"OrchestrationCompleted","output":"2"}`, id, ts)
	}
	steps := map[string]func(ts int64) (id, payload string){
		"start-1":    func(ts int64) (string, string) { return "live-1", started("live-1", ts) },
		"complete-1": func(ts int64) (string, string) { return "live-1", completed("live-1", ts) },
		"start-2":    func(ts int64) (string, string) { return "live-2", started("live-2", ts) },
		"complete-2": func(ts int64) (string, string) { return "live-2", completed("live-2", ts) },
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		step, ok := steps[r.URL.Query().Get("step")]
		if !ok {
			http.Error(w, "no such step", http.StatusNotFound)
			return
		}
		id, payload := step(time.Now().UnixMilli())
		if _, err := n.JS.Publish(r.Context(), events.Subject(id), []byte(payload)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// queryBinary builds cmd/query once per test binary.
func queryBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "query")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/query")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build query: %v", err)
	}
	return bin
}

// startQueryService runs the cmd/query binary against the test's NATS and
// database with an API token, and returns its base URL once /readyz says
// ClickHouse answers.
func startQueryService(t *testing.T, n *testenv.NATS, db *testenv.Database, token string) string {
	t.Helper()
	bin := queryBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"DUROSCOPE_NATS_URL="+n.URL,
		"DUROSCOPE_CLICKHOUSE_ADDR="+db.Addr,
		"DUROSCOPE_CLICKHOUSE_DATABASE="+db.Name,
		"DUROSCOPE_HTTP_ADDR="+addr,
		"DUROSCOPE_API_TOKEN="+token,
		"DUROSCOPE_LOG_LEVEL=warn",
	)
	logf, err := os.Create(filepath.Join(t.TempDir(), "query.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("query service log:\n%s", b)
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("query service at %s not ready within 30s (last error %v)", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// publishQueueSnapshot sends a queue-depth snapshot on core NATS until the
// API reports it (the projector subscribes asynchronously at start).
func publishQueueSnapshot(t *testing.T, n *testenv.NATS, base, token string) {
	t.Helper()
	snap, _ := json.Marshal(events.QueueSnapshot{OrchestratorQueue: 17, WorkerQueue: 42, TimerQueue: 3, TimestampMs: dashboardStart + 3_000_000})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := n.NC.Publish(events.QueueSubject, snap); err != nil {
			t.Fatal(err)
		}
		_ = n.NC.Flush()
		time.Sleep(200 * time.Millisecond)
		req, _ := http.NewRequest("GET", base+"/v1/queues", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var q struct {
				Orchestrator uint64 `json:"orchestrator_queue_depth"`
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if json.Unmarshal(b, &q) == nil && q.Orchestrator == 17 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue snapshot not in /v1/queues within 20s (last error %v)", err)
		}
	}
}
