package reliability

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
)

// logLine is the part of a zerolog JSON line the tests read.
type logLine struct {
	Level   string  `json:"level"`
	Message string  `json:"message"`
	Op      string  `json:"op"`
	Attempt int     `json:"attempt"`
	Backoff float64 `json:"backoff"` // ms
}

func parseLog(s string) []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// statusCounter tallies answers by "<status>[+Retry-After]".
type statusCounter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *statusCounter) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[k]++
}

func (c *statusCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, _ := json.Marshal(c.m)
	return string(b)
}

// probe GETs url and returns "<status>" plus "+RA" when a Retry-After came.
func probe(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return "transport-error"
	}
	resp.Body.Close()
	k := fmt.Sprint(resp.StatusCode)
	if resp.Header.Get("Retry-After") != "" {
		k += "+RA"
	}
	return k
}

// TestClickHouseOutage stops a private ClickHouse for ~30 s while events
// are being ingested: the projector keeps the batch unacked and retries with
// bounded exponential backoff (logged), the query service answers 503 with
// Retry-After and /readyz says 503, and after the restart both recover by
// themselves and every answer equals the oracle's.
func TestClickHouseOutage(t *testing.T) {
	outage := 30 * time.Second
	ch := startClickHouse(t, "", "")
	db := ch.database("rel_outage")
	n := testenv.StartNATS(t)
	evs := workload(31, 2000)
	cut := len(evs) * 6 / 10
	publishEvents(t, n.JS, evs[:cut])
	proj := startProc(t, "projector", binary(t, "projector"), nil,
		projectorEnv(n.URL, ch.Addr(), db.Name, "DUROSCOPE_BATCH_SIZE=500", "DUROSCOPE_ACK_WAIT=5s"))
	q := startQuery(t, n.URL, ch.Addr(), db.Name)
	waitReady(t, q.URL, 30*time.Second)
	for ackFloor(n.JS, projector.ConsumerPrefix) < uint64(cut)/5 {
		if proj.exited() {
			t.Fatalf("projector exited: %v", proj.err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	ch.Stop()
	stopped := time.Now()
	// Ingest goes on into JetStream meanwhile.
	publishEvents(t, n.JS, evs[cut:])
	// The floor the outage must hold is read once a write has failed:
	// the finisher acks batch N-1 before it writes batch N, so no ack of a
	// batch written before the stop can still move it.
	waitFor(t, time.Minute, func() bool { return strings.Contains(proj.log(), `"message":"retrying"`) },
		func() string { return "the projector's first failed write:\n" + tail(proj.log(), 1500) })
	floorAtStop := ackFloor(n.JS, projector.ConsumerPrefix)
	var v1, ready, healthz statusCounter
	for time.Since(stopped) < outage {
		v1.add(probe(q.URL + "/v1/instances?limit=5"))
		v1.add(probe(q.URL + "/v1/health"))
		ready.add(probe(q.URL + "/readyz"))
		healthz.add(probe(q.URL + "/healthz"))
		time.Sleep(250 * time.Millisecond)
	}
	floorAfterOutage := ackFloor(n.JS, projector.ConsumerPrefix)
	if floorAfterOutage != floorAtStop {
		t.Errorf("ack floor moved from %d to %d while ClickHouse was down: messages acked unwritten", floorAtStop, floorAfterOutage)
	}
	for _, c := range []struct {
		name string
		c    *statusCounter
		want string
	}{{"/v1", &v1, "503+RA"}, {"/readyz", &ready, "503+RA"}, {"/healthz", &healthz, "200"}} {
		c.c.mu.Lock()
		for k, cnt := range c.c.m {
			if k != c.want {
				t.Errorf("%s during the outage: %d answers %s, want only %s", c.name, cnt, k, c.want)
			}
		}
		c.c.mu.Unlock()
	}
	if proj.exited() || q.exited() {
		t.Fatalf("a process exited during the outage: projector %v, query %v", proj.err, q.err)
	}

	restarted := time.Now()
	ch.Start()
	chUp := time.Since(restarted)
	readyAfter := waitReady(t, q.URL, 60*time.Second) + chUp
	for ackFloor(n.JS, projector.ConsumerPrefix) == floorAtStop {
		if time.Since(restarted) > 60*time.Second {
			t.Fatal("projector did not resume within 60s of ClickHouse's restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resumedAfter := time.Since(restarted)
	projtest.WaitCaughtUp(t, n.JS, 3*time.Minute)
	if k := probe(q.URL + "/v1/instances?limit=5"); k != "200" {
		t.Errorf("query service after recovery: %s", k)
	}

	// The retries are logged with a bounded backoff that doubles within
	// each retry loop (the finisher's writes and the recounter's recounts
	// retry concurrently, each with its own backoff).
	var backoffs []float64
	byOp := map[string][]float64{}
	recovered := 0
	for _, l := range parseLog(proj.log()) {
		if l.Message == "retrying" {
			backoffs = append(backoffs, l.Backoff)
			byOp[l.Op] = append(byOp[l.Op], l.Backoff)
		}
		if l.Message == "recovered" {
			recovered++
		}
	}
	if len(backoffs) < 5 || recovered == 0 {
		t.Errorf("projector log: %d retries, %d recoveries logged; want a backoff sequence and a recovery", len(backoffs), recovered)
	}
	for op, seq := range byOp {
		for i, b := range seq {
			if b < 100 || b > 10000 {
				t.Errorf("%s retry %d: backoff %vms outside [100ms, 10s]", op, i, b)
			}
			if i > 0 && b != 100 && b != min(2*seq[i-1], 10000) {
				t.Errorf("%s retry %d: backoff %vms after %vms: not doubling", op, i, b, seq[i-1])
			}
		}
	}

	o := oracle.New(evs)
	checked := checkOracle(t, apiServer(t, ch.Addr(), db.Name, queryNowMs(evs)), o, queryNowMs(evs), 200)
	stored := countRows(t, db, "SELECT count() FROM (SELECT DISTINCT instance_id, execution_id, event_id FROM {db}.history_v3)")
	dl := len(deadLetters(t, n.JS))
	summaryLine(t, "clickhouse-outage", "outage", outage, "messages", streamLastSeq(t, n.JS), "projected_distinct", stored,
		"dead_lettered", dl, "lost", len(evs)-int(stored), "ack_floor_during_outage", floorAtStop,
		"v1_answers", v1.String(), "readyz", ready.String(), "healthz", healthz.String(),
		"projector_retries_logged", len(backoffs), "backoffs_ms", fmt.Sprint(backoffs),
		"clickhouse_up_after", chUp.Round(time.Millisecond), "readyz_200_after_restart", readyAfter.Round(time.Millisecond), "projector_resumed_after", resumedAfter.Round(time.Millisecond),
		"answers_checked", checked)
}

// TestNATSRestart restarts the JetStream server (same port, same store)
// twice while the projector process is ingesting: it reconnects by itself
// and projects everything, once.
func TestNATSRestart(t *testing.T) {
	port := freePort(t)
	dir := t.TempDir()
	n := testenv.StartNATSAt(t, dir, port)
	url := n.URL
	db := testenv.NewDatabase(t, "relnats")
	evs := workload(32, 1500)
	half := len(evs) / 2
	publishEvents(t, n.JS, evs[:half])
	proj := startProc(t, "projector", binary(t, "projector"), nil,
		projectorEnv(url, db.Addr, db.Name, "DUROSCOPE_BATCH_SIZE=300", "DUROSCOPE_ACK_WAIT=3s"))
	restarts := 0
	var floors []uint64
	var resumed []time.Duration
	restart := func() {
		t.Helper()
		floor := ackFloor(n.JS, projector.ConsumerPrefix)
		floors = append(floors, floor)
		disconnects := strings.Count(proj.log(), `"NATS disconnected"`)
		n.Stop()
		// The projector must see the server gone before it comes back.
		waitFor(t, time.Minute, func() bool { return strings.Count(proj.log(), `"NATS disconnected"`) > disconnects },
			func() string { return "the projector to log the NATS disconnect:\n" + tail(proj.log(), 1500) })
		n = testenv.StartNATSAt(t, dir, port)
		restarts++
		// How long until the projector acks again.
		up := time.Now()
		floor = ackFloor(n.JS, projector.ConsumerPrefix)
		for ackFloor(n.JS, projector.ConsumerPrefix) <= floor && streamLastSeq(t, n.JS) > floor {
			if time.Since(up) > 2*time.Minute {
				t.Fatalf("projector did not resume within 2 minutes of the NATS restart\n%s", tail(proj.log(), 2000))
			}
			time.Sleep(10 * time.Millisecond)
		}
		resumed = append(resumed, time.Since(up).Round(time.Millisecond))
	}
	// waitFloor waits for the ack floor to reach target, failing only when
	// it stops moving for 2 minutes (a loaded machine projects slowly).
	waitFloor := func(target uint64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		best := uint64(0)
		for floor := ackFloor(n.JS, projector.ConsumerPrefix); floor < target; floor = ackFloor(n.JS, projector.ConsumerPrefix) {
			if proj.exited() {
				t.Fatalf("projector exited: %v", proj.err)
			}
			if floor > best {
				best, deadline = floor, time.Now().Add(2*time.Minute)
			}
			if time.Now().After(deadline) {
				t.Fatalf("ack floor stuck at %d (below %d) for 2 minutes", floor, target)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFloor(uint64(half) / 4)
	restart()
	publishEvents(t, n.JS, evs[half:])
	caughtUpStart := time.Now()
	waitFloor(uint64(len(evs)) * 6 / 10)
	restart()
	projtest.WaitCaughtUp(t, n.JS, 3*time.Minute)
	t.Logf("second half projected in %v", time.Since(caughtUpStart).Round(time.Millisecond))
	if proj.exited() {
		t.Fatalf("projector exited: %v", proj.err)
	}
	// The last restart may land after everything was projected; the
	// reconnect is then logged up to a reconnect wait later.
	var disc, reconn int
	for waitLog := time.Now().Add(15 * time.Second); ; {
		log := proj.log()
		disc, reconn = strings.Count(log, `"NATS disconnected"`), strings.Count(log, `"NATS reconnected"`)
		if (disc >= restarts && reconn >= restarts) || time.Now().After(waitLog) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if disc < restarts || reconn < restarts {
		t.Errorf("projector logged %d disconnects and %d reconnects for %d restarts", disc, reconn, restarts)
	}
	o := oracle.New(evs)
	checked := checkOracle(t, apiServer(t, db.Addr, db.Name, queryNowMs(evs)), o, queryNowMs(evs), 200)
	stored := countRows(t, db, "SELECT count() FROM (SELECT DISTINCT instance_id, execution_id, event_id FROM {db}.history_v3)")
	dl := len(deadLetters(t, n.JS))
	if dl != 0 {
		t.Errorf("%d dead letters from a clean workload", dl)
	}
	summaryLine(t, "nats-restart", "restarts", restarts, "ack_floor_at_restart", fmt.Sprint(floors), "messages", streamLastSeq(t, n.JS),
		"projected_distinct", stored, "dead_lettered", dl, "lost", len(evs)-int(stored),
		"resumed_after_restart", fmt.Sprint(resumed), "disconnects_logged", disc, "reconnects_logged", reconn, "answers_checked", checked)
}
