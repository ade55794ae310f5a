package reliability

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/httpapi"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chread"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// heavy reports whether the long variants were asked for.
func heavy() bool { return os.Getenv("DUROSCOPE_HEAVY") == "1" }

// workloadStartMs is the generated workloads' first instant
// (2025-11-25T21:20:00Z); queries run with their clock an hour after the end.
const workloadStartMs = 1764105600000

// workload is a generated workload published in a realistic order
// (instances interleaved by event time).
func workload(seed int64, instances int) []events.Event {
	var all []events.Event
	for h := range gen.Histories(gen.Config{Seed: seed, Instances: instances, StartMs: workloadStartMs,
		SpreadMs: 3_600_000, RunningFraction: 0.15, UnknownTypeFraction: 0.02}) {
		all = append(all, h...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].TimestampMs < all[j].TimestampMs })
	return all
}

// queryNowMs is the query clock for a workload: an hour after its last event.
func queryNowMs(evs []events.Event) int64 {
	var last uint64
	for i := range evs {
		last = max(last, evs[i].TimestampMs)
	}
	return int64(last) + 3_600_000
}

// --- binaries ---------------------------------------------------------------

var (
	binDir   string
	binMu    sync.Mutex
	binBuilt = map[string]string{}
)

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "duroscope-reliability-bin")
	if err != nil {
		panic(err)
	}
	binDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// binary builds ../../cmd/<name> once per test binary and returns its path.
func binary(t testing.TB, name string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := binBuilt[name]; ok {
		return p
	}
	p := filepath.Join(binDir, name)
	cmd := exec.Command("go", "build", "-o", p, "../../cmd/"+name)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("build cmd/%s: %v\n%s", name, err, out.Bytes())
	}
	binBuilt[name] = p
	return p
}

// proc is a started binary whose output goes to a log file.
type proc struct {
	t       testing.TB
	name    string
	cmd     *exec.Cmd
	logPath string
	logf    *os.File
	done    chan struct{}
	err     error
}

// startProc runs bin with args and env (added to the test's environment).
// The process is killed at cleanup; its log is shown when the test failed.
func startProc(t testing.TB, name, bin string, args, env []string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, name)+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{t: t, name: name, cmd: cmd, logPath: logPath, logf: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		f.Close()
		if t.Failed() {
			t.Logf("%s log (last 4 KiB):\n%s", name, tail(p.log(), 4096))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits (SIGKILL after 30 s).
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Errorf("%s did not stop within 30s of SIGTERM", p.name)
		p.kill()
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// projectorEnv is the environment of a projector process writing db.
func projectorEnv(natsURL, chAddr, db string, extra ...string) []string {
	return append([]string{
		"DUROSCOPE_NATS_URL=" + natsURL,
		"DUROSCOPE_CLICKHOUSE_ADDR=" + chAddr,
		"DUROSCOPE_CLICKHOUSE_DATABASE=" + db,
		"DUROSCOPE_ACK_WAIT=5s",
		"DUROSCOPE_BATCH_SIZE=2000",
		"DUROSCOPE_FLUSH_INTERVAL=20ms",
		"DUROSCOPE_LOG_LEVEL=info",
		// Any free port: an empty value means the default 127.0.0.1:8081,
		// which concurrent test runs on one machine would fight over.
		"DUROSCOPE_PROJECTOR_HTTP_ADDR=127.0.0.1:0",
	}, extra...)
}

// queryProc is a running cmd/query.
type queryProc struct {
	*proc
	URL string
}

// startQuery runs cmd/query on a free port and waits for /healthz.
func startQuery(t testing.TB, natsURL, chAddr, db string, extra ...string) *queryProc {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := append([]string{
		"DUROSCOPE_NATS_URL=" + natsURL,
		"DUROSCOPE_CLICKHOUSE_ADDR=" + chAddr,
		"DUROSCOPE_CLICKHOUSE_DATABASE=" + db,
		"DUROSCOPE_HTTP_ADDR=" + addr,
		"DUROSCOPE_LOG_LEVEL=info",
	}, extra...)
	p := startProc(t, "query", binary(t, "query"), nil, env)
	q := &queryProc{proc: p, URL: "http://" + addr}
	q.waitHealthy(t)
	return q
}

func (q *queryProc) waitHealthy(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(q.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if q.exited() || time.Now().After(deadline) {
			t.Fatalf("query service at %s not healthy (exited: %v): %v\n%s", q.URL, q.exited(), err, tail(q.log(), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor polls cond until it holds; after timeout the test fails with
// what(), which says what was awaited and what was seen. Tests wait for
// conditions with it (or until) instead of sleeping for a time that a busy
// machine can outlast.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	if !until(timeout, cond) {
		t.Fatalf("waited %v for %s", timeout, what())
	}
}

// until polls cond every 10 ms until it holds (true) or timeout passes
// (false).
func until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// waitReady waits until /readyz answers 200 (ClickHouse connected).
func waitReady(t testing.TB, base string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(start)
			}
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s/readyz not 200 within %v", base, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --- JetStream --------------------------------------------------------------

// publishEvents sends events to the history stream with their contract
// subject and Nats-Msg-Id, waiting for every acknowledgement.
func publishEvents(t testing.TB, js jetstream.JetStream, evs []events.Event) {
	t.Helper()
	msgs := make([]*nats.Msg, len(evs))
	for i := range evs {
		e := &evs[i]
		m := nats.NewMsg(events.Subject(e.InstanceID))
		m.Data = e.Raw
		m.Header.Set(nats.MsgIdHdr, events.MsgID(e.InstanceID, e.ExecutionID, e.EventID))
		msgs[i] = m
	}
	publishMsgs(t, js, msgs)
}

// publishMsgs publishes prepared messages asynchronously, 4000 in flight,
// and returns each one's stream sequence.
func publishMsgs(t testing.TB, js jetstream.JetStream, msgs []*nats.Msg) []uint64 {
	t.Helper()
	ctx := context.Background()
	if err := projector.EnsureStreams(ctx, js, events.DefaultStream, 0); err != nil {
		t.Fatal(err)
	}
	seqs := make([]uint64, 0, len(msgs))
	var futures []jetstream.PubAckFuture
	flush := func() {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(2 * time.Minute):
			t.Fatal("publish acks not received within 2 minutes")
		}
		for _, f := range futures {
			select {
			case err := <-f.Err():
				t.Fatalf("publish: %v", err)
			case ack := <-f.Ok():
				seqs = append(seqs, ack.Sequence)
			}
		}
		futures = futures[:0]
	}
	for _, m := range msgs {
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		futures = append(futures, f)
		if len(futures) >= 4000 {
			flush()
		}
	}
	flush()
	return seqs
}

// streamState is the history stream's last sequence.
func streamLastSeq(t testing.TB, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// ackFloor is the consumer's ack floor (0 while it does not exist or the
// server does not answer).
func ackFloor(js jetstream.JetStream, consumer string) uint64 {
	return consumerInfo(js, consumer).AckFloor.Stream
}

// deliveredSeq is the highest stream sequence the consumer has delivered.
func deliveredSeq(js jetstream.JetStream, consumer string) uint64 {
	return consumerInfo(js, consumer).Delivered.Stream
}

// consumerInfo is the consumer's state (zero while it does not exist or the
// server does not answer).
func consumerInfo(js jetstream.JetStream, consumer string) *jetstream.ConsumerInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c, err := js.Consumer(ctx, events.DefaultStream, consumer); err == nil {
		if ci, err := c.Info(ctx); err == nil {
			return ci
		}
	}
	return &jetstream.ConsumerInfo{}
}

// deadLetters returns every message of the dead-letter stream.
func deadLetters(t testing.TB, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, events.DLQStream(events.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted (re-driven)
		}
		out = append(out, m)
	}
	return out
}

// --- in-process pipeline ----------------------------------------------------

// startProjector runs an in-process projector until the returned stop is
// called (or the test ends).
func startProjector(t testing.TB, n *testenv.NATS, store projector.Store, mod func(*projector.Config)) (stop func()) {
	t.Helper()
	cfg := projector.Config{
		JS:            n.JS,
		Store:         store,
		BatchSize:     2000,
		FlushInterval: 20 * time.Millisecond,
		AckWait:       5 * time.Second,
		Logger:        zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel),
	}
	if mod != nil {
		mod(&cfg)
	}
	return projtest.Start(t, cfg)
}

// writeReadModel projects evs straight into db (no JetStream): for tests
// about the query side.
func writeReadModel(t testing.TB, conn chconn.ConnConfig, db string, evs []events.Event) {
	t.Helper()
	ctx := context.Background()
	c, err := chconn.Open(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := chwrite.NewWriter(c, chwrite.WriterConfig{Database: db})
	const chunk = 200_000
	for lo := 0; lo < len(evs); lo += chunk {
		part := evs[lo:min(lo+chunk, len(evs))]
		rows := make([]chwrite.HistoryRow, len(part))
		for i := range part {
			rows[i] = chwrite.HistoryRow{Event: &part[i], StreamSeq: uint64(lo + i + 1)}
		}
		if err := w.WriteHistory(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	// Every instance is derived from its whole event set at once.
	derived, err := projection.DeriveAll(evs)
	if err != nil {
		t.Fatal(err)
	}
	const rchunk = 20_000
	for lo := 0; lo < len(derived); lo += rchunk {
		if err := w.WriteDerived(ctx, derived[lo:min(lo+rchunk, len(derived))]); err != nil {
			t.Fatal(err)
		}
	}
}

// apiServer serves the query API in-process over db, with the clock fixed
// at nowMs, wired as cmd/query wires it (lazy pool, Reader behind every
// endpoint). It returns the base URL of a real HTTP server.
func apiServer(t testing.TB, chAddr, db string, nowMs int64) string {
	t.Helper()
	ch := chconn.OpenLazy(chconn.LazyConnConfig{
		Conn: chconn.ConnConfig{Addrs: []string{chAddr}, Database: db, User: "default", MaxOpenConns: 8},
	})
	t.Cleanup(func() { ch.Close() })
	reader, err := chread.NewReader(ch, chread.ReaderConfig{Database: db, MaxExecutionTime: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(httpapi.Config{
		ReadModel: reader,
		Now:       func() time.Time { return time.UnixMilli(nowMs).UTC() },
		Logger:    zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel),
		Limits:    httpapi.Limits{MaxInFlight: 16, QueueWait: time.Minute},
	})
	deadline := time.Now().Add(30 * time.Second)
	for reader.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("ClickHouse not reachable within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// countRows counts the rows of a query (for figures).
func countRows(t testing.TB, db *testenv.Database, q string) uint64 {
	t.Helper()
	var n uint64
	if err := db.Conn.QueryRow(context.Background(), strings.ReplaceAll(q, "{db}", db.Name)).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
