package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/changes"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/internal/watermark"
	"github.com/duroscope/duroscope/readmodel/chread"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// sseEvent is one event read from a change stream.
type sseMsg struct {
	typ, id string
	data    string
}

// sseReader reads the events of one change stream.
type sseReader struct {
	t    *testing.T
	body io.ReadCloser
	msgs chan sseMsg
	done chan error
}

func openChanges(t *testing.T, base, query, lastID string) *sseReader {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/instances/changes?"+query, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("changes?%s: %d %s", query, resp.StatusCode, b)
	}
	r := &sseReader{t: t, body: resp.Body, msgs: make(chan sseMsg, 100000), done: make(chan error, 1)}
	go func() { r.done <- readSSE(resp.Body, r.msgs) }()
	t.Cleanup(func() { resp.Body.Close() })
	return r
}

// readSSE parses a stream into msgs (comments and retry lines skipped)
// until it ends.
func readSSE(body io.Reader, msgs chan<- sseMsg) error {
	sc := bufio.NewScanner(body)
	var m sseMsg
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if m.data != "" {
				msgs <- m
			}
			m = sseMsg{}
		case strings.HasPrefix(line, "event: "):
			m.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			m.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			m.data = strings.TrimPrefix(line, "data: ")
		}
	}
	close(msgs)
	return sc.Err()
}

// next returns the next event within the timeout.
func (r *sseReader) next(timeout time.Duration) (sseMsg, bool) {
	r.t.Helper()
	select {
	case m, ok := <-r.msgs:
		return m, ok
	case <-time.After(timeout):
		r.t.Fatalf("no event within %v", timeout)
	}
	return sseMsg{}, false
}

func (r *sseReader) change(timeout time.Duration) (api.InstanceChange, string) {
	r.t.Helper()
	m, ok := r.next(timeout)
	if !ok {
		r.t.Fatal("change stream ended")
	}
	if m.typ != "" {
		r.t.Fatalf("event %q (%s); want a change", m.typ, m.data)
	}
	var c api.InstanceChange
	if err := json.Unmarshal([]byte(m.data), &c); err != nil {
		r.t.Fatalf("change %q: %v", m.data, err)
	}
	if m.id != strconv.FormatUint(c.Seq, 10) {
		r.t.Fatalf("event id %q, data seq %d: want them equal", m.id, c.Seq)
	}
	return c, m.id
}

type changesEnv struct {
	js   jetstream.JetStream
	base string
	hub  *changes.Hub
	ts   int64
	// expectDeletedSeq is the deletion's event id (resumed from).
	expectDeletedSeq uint64
}

func (e *changesEnv) publish(t *testing.T, payloads ...[]byte) uint64 {
	t.Helper()
	var seq uint64
	for _, p := range payloads {
		m, err := events.DecodeMessage(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		ack, err := e.js.Publish(context.Background(), events.Subject(m.InstanceID()), p)
		if err != nil {
			t.Fatal(err)
		}
		seq = ack.Sequence
	}
	return seq
}

func (e *changesEnv) started(id string) []byte {
	e.ts++
	return fmt.Appendf(nil, `{"event_id":1,"source_event_id":null,"instance_id":%q,"execution_id":1,"timestamp_ms":%d,"duroxide_version":"0.1.26","type":"OrchestrationStarted","name":"Live","version":"1.0.0","input":"1","parent_instance":null,"parent_id":null}`, id, e.ts)
}

func (e *changesEnv) completed(id string) []byte {
	e.ts++
	return fmt.Appendf(nil, `{"event_id":2,"source_event_id":null,"instance_id":%q,"execution_id":1,"timestamp_ms":%d,"duroxide_version":"0.1.26","type":"OrchestrationCompleted","output":"2"}`, id, e.ts)
}

// get answers GET path's status and the instance's status (if 200).
func (e *changesEnv) instanceStatus(t *testing.T, id string) (int, string) {
	t.Helper()
	resp, err := http.Get(e.base + "/v1/instances/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s api.InstanceSummary
	_ = json.NewDecoder(resp.Body).Decode(&s)
	return resp.StatusCode, s.Status
}

// expectQueryable reads the next change, checks it is want, and that a GET
// right away already answers it (the change was sent once queryable).
func (e *changesEnv) expectQueryable(t *testing.T, r *sseReader, id, status string) api.InstanceChange {
	t.Helper()
	c, _ := r.change(30 * time.Second)
	code, got := e.instanceStatus(t, c.InstanceID)
	if status == api.StatusDeleted {
		got = map[int]string{404: api.StatusDeleted}[code]
	}
	if c.InstanceID != id || c.Status != status || got != status {
		t.Fatalf("change %+v, GET right after: %d %s; want %s %s, queryable", c, code, got, id, status)
	}
	return c
}

// smallSendBuffer makes the server's sockets small, so that a client that
// does not read blocks its writer after a few kilobytes.
type smallSendBuffer struct{ net.Listener }

func (l smallSendBuffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(2048)
	}
	return c, err
}

// TestChangesEndToEnd runs the change feed on a real JetStream, a real
// projector and a real ClickHouse: filtered subscribers get exactly their
// instances' changes, each once it is queryable; deletions; resume with
// Last-Event-ID; a reset for an unknown position; a slow subscriber cut off
// with the reason while a fast one gets everything.
func TestChangesEndToEnd(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "changes")
	projtest.Start(t, projector.Config{JS: n.JS, NC: n.NC,
		Store:     chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name}),
		BatchSize: 2000, FlushInterval: 20 * time.Millisecond, AckWait: 5 * time.Second,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	reader, err := chread.NewReader(db.Conn, chread.ReaderConfig{Database: db.Name, MaxExecutionTime: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	wm, err := watermark.New(watermark.Config{JetStream: n.JS, Stream: events.DefaultStream, TTL: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := changes.New(changes.Config{JetStream: n.JS, Stream: events.DefaultStream, Watermark: wm, Lookup: reader,
		BatchSize: 50, ClientBuffer: 120, Poll: 20 * time.Millisecond,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-hubDone; err != nil {
			t.Errorf("hub: %v", err)
		}
	}()
	srv := httptest.NewUnstartedServer(New(Config{ReadModel: reader, Watermark: wm, Changes: hub,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Limits: Limits{Heartbeat: 300 * time.Millisecond}}))
	srv.Listener = smallSendBuffer{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close) // after the hub stopped (deferred), which ends the streams
	e := &changesEnv{js: n.JS, base: srv.URL, hub: hub, ts: 1764105600000}

	// The projector creates the stream; the hub follows it then.
	for deadline := time.Now().Add(30 * time.Second); !hub.Metrics().Following; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hub does not follow the stream")
		}
	}

	live := openChanges(t, e.base, "instance_prefix=live-", "")
	done := openChanges(t, e.base, "instance_prefix=live-&status=Completed", "")

	// Only the matching instance, once queryable; other-b (published
	// between) is filtered out: the next event is live-a's again.
	e.publish(t, e.started("live-a"), e.started("other-b"))
	c1 := e.expectQueryable(t, live, "live-a", api.StatusRunning)
	e.publish(t, e.completed("other-b"), e.completed("live-a"))
	c2 := e.expectQueryable(t, live, "live-a", api.StatusCompleted)
	if c2.Seq <= c1.Seq {
		t.Errorf("seqs %d then %d; want increasing", c1.Seq, c2.Seq)
	}
	// The status filter: the Completed subscriber saw only the completion.
	if c := e.expectQueryable(t, done, "live-a", api.StatusCompleted); c.Seq != c2.Seq {
		t.Errorf("the Completed subscriber got seq %d, the other %d", c.Seq, c2.Seq)
	}

	// Deleted: sent to the prefix's subscribers, and the instance is gone.
	del := events.InstanceDeleted("live-a", uint64(e.ts+1))
	e.publish(t, del.Marshal())
	e.expectDeletedSeq = e.expectQueryable(t, live, "live-a", api.StatusDeleted).Seq
	e.expectQueryable(t, done, "live-a", api.StatusDeleted)

	// Resume: the changes after Last-Event-ID are replayed (live-c, live-d;
	// not live-a's, before it), then the stream goes on live.
	lastID := strconv.FormatUint(e.expectDeletedSeq, 10)
	live.body.Close()
	last := e.publish(t, e.started("live-c"), e.started("other-x"), e.started("live-d"))
	waitPosition(t, hub, last)
	resumed := openChanges(t, e.base, "instance_prefix=live-", lastID)
	e.expectQueryable(t, resumed, "live-c", api.StatusRunning)
	e.expectQueryable(t, resumed, "live-d", api.StatusRunning)
	e.publish(t, e.completed("live-c"))
	e.expectQueryable(t, resumed, "live-c", api.StatusCompleted)
	e.expectQueryable(t, done, "live-c", api.StatusCompleted)

	// A position this stream never had: a reset (reload), then live.
	reset := openChanges(t, e.base, "instance_prefix=live-", "999999999")
	if m, _ := reset.next(10 * time.Second); m.typ != "reset" || !strings.Contains(m.data, "reload") || m.id == "" {
		t.Errorf("resume past the end: %+v; want a reset with an id", m)
	}
	if resp, err := http.Get(e.base + "/v1/instances/changes?status=running"); err != nil || resp.StatusCode != 400 {
		t.Errorf("bad filter: %v %v; want 400", resp, err)
	}

	// A slow subscriber (it reads nothing) is cut off with the reason; a
	// fast one gets every change.
	fast := openChanges(t, e.base, "instance_prefix=bulk-", "")
	slow := dialSlow(t, srv.Listener.Addr().String(), "/v1/instances/changes?instance_prefix=bulk-")
	for deadline := time.Now().Add(10 * time.Second); hub.Metrics().Subscribers < 5; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("subscribers: %+v", hub.Metrics())
		}
	}
	const bulk = 600
	var pubs [][]byte
	for i := range bulk {
		pubs = append(pubs, e.started(fmt.Sprintf("bulk-%03d", i)))
	}
	e.publish(t, pubs...)
	seen := map[string]bool{}
	for len(seen) < bulk {
		c, _ := fast.change(30 * time.Second)
		if !strings.HasPrefix(c.InstanceID, "bulk-") || c.Status != api.StatusRunning || seen[c.InstanceID] {
			t.Fatalf("fast subscriber: %+v after %d", c, len(seen))
		}
		seen[c.InstanceID] = true
	}
	for deadline := time.Now().Add(30 * time.Second); hub.Metrics().CutOff == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the slow subscriber was not cut off: %+v", hub.Metrics())
		}
	}
	_ = slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	rest, err := io.ReadAll(slow)
	if err != nil || !strings.Contains(string(rest), "event: error") || !strings.Contains(string(rest), "slow consumer") {
		t.Errorf("the slow subscriber's stream ended (%v) without the reason: ...%q", err, rest[max(0, len(rest)-300):])
	}
	e.publish(t, e.completed("bulk-007"))
	if c, _ := fast.change(30 * time.Second); c.InstanceID != "bulk-007" || c.Status != api.StatusCompleted {
		t.Errorf("fast subscriber after the cut-off: %+v", c)
	}
	m := hub.Metrics()
	if m.CutOff != 1 || m.Lookups == 0 || m.Lookups > m.Sent {
		t.Errorf("metrics %+v: want one cut-off and lookups shared by the subscribers", m)
	}
	resp, err := http.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "duroscope_query_changes_cut_off_total 1") {
		t.Errorf("/metrics lacks the cut-off count")
	}
}

// waitPosition waits until the hub has handed out every change up to seq.
func waitPosition(t *testing.T, hub *changes.Hub, seq uint64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); hub.Metrics().Position < seq; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("hub position %+v; want %d", hub.Metrics(), seq)
		}
	}
}

// dialSlow opens a change stream over a connection with a tiny receive
// buffer and reads nothing from it (HTTP/1.0: no chunk framing).
func dialSlow(t *testing.T, addr, target string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: test\r\n\r\n", target); err != nil {
		t.Fatal(err)
	}
	return conn
}
