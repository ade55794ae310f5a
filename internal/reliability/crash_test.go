package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/readmodel/chconn"
)

// TestProjectorSurvivesSIGKILLs kills the projector process with SIGKILL at
// random points of one workload, at least 20 times, each time after it made
// some random progress (so kills land mid-batch, between insert and ack,
// while deriving...), restarts it, and checks that every answer of the
// query API then equals the replay oracle's.
func TestProjectorSurvivesSIGKILLs(t *testing.T) {
	instances, kills := 800, 25
	if heavy() {
		instances, kills = 20000, 100
	}
	evs := workload(21, instances)
	bin := binary(t, "projector")
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "relkill")
	publishEvents(t, n.JS, evs)
	total := streamLastSeq(t, n.JS)
	// Small batches and a short flush: many batches in flight over the run.
	// A 1 s ack wait: what a killed process had pulled is re-delivered soon.
	env := projectorEnv(n.URL, db.Addr, db.Name, "DUROSCOPE_BATCH_SIZE=200", "DUROSCOPE_ACK_WAIT=1s")

	rng := rand.New(rand.NewPCG(21, 22))
	start := time.Now()
	midStream, landed := 0, 0
	var floors, delivered []uint64
	for landed < kills {
		p := startProc(t, fmt.Sprintf("projector-%d", landed), bin, nil, env)
		// Kill points spread over the whole workload: kill k comes once
		// the consumer has delivered past a random point of the k-th of
		// kills+1 equal slices of the stream, plus 0-50 ms, so it lands
		// wherever the process then is (pulling, inserting, deriving,
		// between insert and ack, in start-up after a quick restart).
		target := total * (uint64(landed)*1000 + uint64(rng.IntN(1000))) / (uint64(kills+1) * 1000)
		deadline := time.Now().Add(30 * time.Second)
		for deliveredSeq(n.JS, projector.ConsumerPrefix) < target && time.Now().Before(deadline) && !p.exited() {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
		if p.exited() {
			t.Fatalf("projector exited by itself: %v\n%s", p.err, tail(p.log(), 3000))
		}
		p.kill()
		landed++
		at := ackFloor(n.JS, projector.ConsumerPrefix)
		floors = append(floors, at)
		delivered = append(delivered, deliveredSeq(n.JS, projector.ConsumerPrefix))
		if at < total {
			midStream++
		} else {
			break // the workload was done before this kill
		}
	}
	if midStream < 20 && !heavy() {
		t.Fatalf("only %d kills landed mid-stream (want >= 20): workload too small for the kill pace", midStream)
	}
	killPhase := time.Since(start)
	p := startProc(t, "projector-final", bin, nil, projectorEnv(n.URL, db.Addr, db.Name))
	projtest.WaitCaughtUp(t, n.JS, 5*time.Minute)
	p.stop()
	t.Logf("kill phase %v, final catch-up %v", killPhase.Round(time.Millisecond), (time.Since(start) - killPhase).Round(time.Millisecond))

	// Nothing lost or duplicated: every published event once in history,
	// nothing dead-lettered, and every answer equal to the oracle's.
	o := oracle.New(evs)
	distinct := map[[3]any]bool{}
	for i := range evs {
		distinct[[3]any{evs[i].InstanceID, evs[i].ExecutionID, evs[i].EventID}] = true
	}
	stored := countRows(t, db, "SELECT count() FROM (SELECT DISTINCT instance_id, execution_id, event_id FROM {db}.history_v3)")
	if stored != uint64(len(distinct)) {
		t.Errorf("history holds %d distinct events, published %d", stored, len(distinct))
	}
	dl := len(deadLetters(t, n.JS))
	if dl != 0 {
		t.Errorf("%d messages dead-lettered from a clean workload", dl)
	}
	// The report cells, recounted across the kills by whichever process
	// got their messages, equal a recount of all facts from scratch.
	if _, err := db.Digest(context.Background()); err != nil {
		t.Errorf("after the kills: %v", err)
	}
	checkStart := time.Now()
	checked := checkOracle(t, apiServer(t, db.Addr, db.Name, queryNowMs(evs)), o, queryNowMs(evs), 200)
	t.Logf("oracle check: %d answers in %v", checked, time.Since(checkStart).Round(time.Millisecond))
	summaryLine(t, "projector-sigkill", "kills", landed, "kills_mid_stream", midStream, "messages", total,
		"projected_distinct", stored, "dead_lettered", dl, "lost", uint64(len(distinct))-min(stored, uint64(len(distinct))),
		"answers_checked", checked, "ack_floor_at_kill", fmt.Sprint(floors), "delivered_through_at_kill", fmt.Sprint(delivered))
}

// TestQueryKillUnderLoad hammers a cmd/query process with concurrent
// requests with large answers and SIGKILLs it mid-load, several times: a
// client must see either a complete JSON answer or a transport error,
// never a truncated body reported as a 200 success.
func TestQueryKillUnderLoad(t *testing.T) {
	// Plus one instance whose history answer (~9 MiB) is larger than the
	// kernel's socket buffers, so a kill can land mid-body.
	evs := append(workload(22, 1500), hugeInstance(t, "huge-history", 10)...)
	db := testenv.NewDatabase(t, "relqkill")
	writeReadModel(t, chconn.ConnConfig{Addrs: []string{db.Addr}, Database: db.Name, User: "default"}, db.Name, evs)
	o := oracle.New(evs)
	all := o.ListInstances(oracle.ListFilter{})
	// The instances with the longest histories give the largest answers.
	big := make([]string, 0, 50)
	for _, s := range all {
		if h, _ := o.History(s.InstanceID, nil); len(h.Events) > 25 && len(big) < 50 {
			big = append(big, s.InstanceID)
		}
	}
	if len(big) == 0 {
		big = append(big, all[0].InstanceID)
	}
	ids := make([]string, 0, 5000)
	for _, s := range all {
		ids = append(ids, s.InstanceID)
		if len(ids) == cap(ids) {
			break
		}
	}
	bulkBody, _ := json.Marshal(api.BulkStatusRequest{InstanceIDs: ids})
	n := testenv.StartNATS(t)

	var (
		ok200, transportErr, truncated200, other atomic.Int64
		status503, bodyBroken                    atomic.Int64
		bytes200                                 atomic.Int64
		// midBody counts the slow readers reading a 200 body right now:
		// a kill while it is > 0 cuts a body off.
		midBody atomic.Int64
	)
	cycles := 4
	for cycle := 0; cycle < cycles; cycle++ {
		// A query bound a loaded ClickHouse cannot break: the test is
		// about kills, so the large answers must be served, however late.
		q := startQuery(t, n.URL, db.Addr, db.Name, "DUROSCOPE_MAX_IN_FLIGHT=256", "DUROSCOPE_QUERY_TIMEOUT=3m")
		waitReady(t, q.URL, 30*time.Second)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for c := 0; c < 32; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				client := &http.Client{Timeout: 5 * time.Minute}
				if c < 8 {
					client.Transport = smallWindowTransport()
				}
				rng := rand.New(rand.NewPCG(uint64(cycle), uint64(c)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					var req *http.Request
					k := rng.IntN(4)
					if c < 8 {
						k = 4 // the largest answer
					}
					switch k {
					case 4:
						req, _ = http.NewRequest("GET", q.URL+"/v1/instances/huge-history/history", nil)
					case 0:
						req, _ = http.NewRequest("GET", q.URL+"/v1/instances?limit=1000", nil)
					case 1:
						req, _ = http.NewRequest("GET", q.URL+"/v1/instances/"+url.PathEscape(big[rng.IntN(len(big))])+"/history", nil)
					case 2:
						req, _ = http.NewRequest("POST", q.URL+"/v1/bulk/status", bytes.NewReader(bulkBody))
					default:
						req, _ = http.NewRequest("GET", q.URL+"/v1/stats/activities?include_system=true", nil)
					}
					resp, err := client.Do(req)
					if err != nil {
						transportErr.Add(1)
						time.Sleep(5 * time.Millisecond)
						continue
					}
					var body []byte
					var rerr error
					if c < 8 {
						// Slow readers: the server blocks writing their
						// large answers, so kills land mid-body.
						if resp.StatusCode == 200 {
							midBody.Add(1)
						}
						body, rerr = slowRead(resp.Body)
						if resp.StatusCode == 200 {
							midBody.Add(-1)
						}
					} else {
						body, rerr = io.ReadAll(resp.Body)
					}
					resp.Body.Close()
					switch {
					case rerr != nil:
						// The body broke off: the client knows it failed.
						transportErr.Add(1)
						bodyBroken.Add(1)
					case resp.StatusCode == 200:
						_, jerr := canonical(body)
						cl, _ := strconv.Atoi(resp.Header.Get("Content-Length"))
						if jerr != nil || cl != len(body) {
							truncated200.Add(1)
							t.Errorf("200 with an incomplete body: %d of Content-Length %d bytes, JSON error %v", len(body), cl, jerr)
						} else {
							ok200.Add(1)
							bytes200.Add(int64(len(body)))
						}
					case resp.StatusCode == 503:
						status503.Add(1)
					default:
						other.Add(1)
						t.Errorf("status %d: %.200s", resp.StatusCode, body)
					}
				}
			}(c)
		}
		// The kill must overlap the load whatever the machine's speed: it
		// waits until this process has served a complete answer and a
		// slow reader is in the middle of a large body, and the load goes
		// on until the clients have seen the kill (a cut body and a
		// refused connection).
		okBefore, brokenBefore := ok200.Load(), bodyBroken.Load()
		if !until(5*time.Minute, func() bool { return ok200.Load() > okBefore && midBody.Load() > 0 }) {
			close(stop)
			wg.Wait()
			t.Fatalf("cycle %d: no complete answer with a body in flight within 5m (%d complete, %d reading, %d transport errors, %d 503)",
				cycle, ok200.Load()-okBefore, midBody.Load(), transportErr.Load(), status503.Load())
		}
		q.kill()
		errsAtKill := transportErr.Load()
		sawKill := until(time.Minute, func() bool {
			cut := bodyBroken.Load() - brokenBefore
			return cut > 0 && transportErr.Load()-errsAtKill > cut // a cut body and a refused connection
		})
		if !sawKill {
			t.Errorf("cycle %d: within 1m of the kill the clients saw %d bodies cut off and %d transport errors",
				cycle, bodyBroken.Load()-brokenBefore, transportErr.Load()-errsAtKill)
		}
		close(stop)
		wg.Wait()
	}
	if ok200.Load() == 0 || transportErr.Load() == 0 || bodyBroken.Load() == 0 {
		t.Errorf("the load did not overlap the kills: %d complete answers, %d transport errors, %d bodies cut off",
			ok200.Load(), transportErr.Load(), bodyBroken.Load())
	}
	summaryLine(t, "query-sigkill-under-load", "kills", cycles, "clients", 32, "complete_200", ok200.Load(),
		"bytes_200", bytes200.Load(), "transport_errors", transportErr.Load(), "of_which_body_cut_off", bodyBroken.Load(), "status_503", status503.Load(),
		"truncated_200", truncated200.Load(), "other_status", other.Load())
}

// slowRead reads a body 16 KiB at a time with a pause between reads.
func slowRead(r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 16<<10)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// smallWindowTransport dials with a 4 KiB receive buffer, so that a large
// answer cannot sit whole in the kernel's socket buffers: the server is
// still writing it when it is killed, and the client sees the cut.
func smallWindowTransport() *http.Transport {
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
}

// hugeInstance is a valid instance of n+1 events of about 900 KB each (an
// OrchestrationStarted, then n ActivityScheduled with large inputs).
func hugeInstance(t testing.TB, id string, n int) []events.Event {
	t.Helper()
	pad := strings.Repeat("p", 900_000)
	raws := []string{fmt.Sprintf(`{"event_id":1,"source_event_id":null,"instance_id":%q,"execution_id":1,"timestamp_ms":%d,"duroxide_version":"0.1.26","type":"OrchestrationStarted","name":"Huge","version":"1.0.0","input":%q,"parent_instance":null,"parent_id":null}`, id, workloadStartMs, pad)}
	for i := 0; i < n; i++ {
		raws = append(raws, fmt.Sprintf(`{"event_id":%d,"source_event_id":null,"instance_id":%q,"execution_id":1,"timestamp_ms":%d,"duroxide_version":"0.1.26","type":"ActivityScheduled","name":"Upload","input":%q}`, i+2, id, workloadStartMs+i+1, pad))
	}
	out := make([]events.Event, len(raws))
	for i, r := range raws {
		e, err := events.Decode([]byte(r))
		if err != nil {
			t.Fatalf("huge instance event %d: %v", i, err)
		}
		out[i] = e
	}
	return out
}
