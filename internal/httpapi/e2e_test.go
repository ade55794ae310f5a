package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/natsembed"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/internal/watermark"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chread"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

const e2eFixtures = "../../../shared/contract/fixtures"

// e2eReadModel projects the contract fixtures into a private database and
// returns a Reader over it.
func e2eReadModel(t *testing.T) (*chread.Reader, [][]byte) {
	t.Helper()
	tdb := testenv.NewDatabase(t, "httpapi")
	conn, db := tdb.Conn, tdb.Name
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	files, _ := filepath.Glob(filepath.Join(e2eFixtures, "*.jsonl"))
	if len(files) == 0 {
		t.Fatalf("no fixtures in %s", e2eFixtures)
	}
	var (
		evs   []events.Event
		lines [][]byte
	)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 2<<20)
		for sc.Scan() {
			l := bytes.Clone(bytes.TrimSpace(sc.Bytes()))
			if len(l) == 0 {
				continue
			}
			ev, err := events.Decode(l)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
			lines = append(lines, l)
		}
	}
	w := chwrite.NewWriter(conn, chwrite.WriterConfig{Database: db})
	hr := make([]chwrite.HistoryRow, len(evs))
	for i := range evs {
		hr[i] = chwrite.HistoryRow{Event: &evs[i], StreamSeq: uint64(i + 1)}
	}
	if err := w.WriteHistory(ctx, hr); err != nil {
		t.Fatal(err)
	}
	rows, err := projection.DeriveAll(evs)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteDerived(ctx, rows); err != nil {
		t.Fatal(err)
	}
	r, err := chread.NewReader(conn, chread.ReaderConfig{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	return r, lines
}

// e2eStream publishes lines to an embedded JetStream server and has a
// projector-named consumer ack all of them.
func e2eStream(t *testing.T, lines [][]byte) (jetstream.JetStream, *nats.Conn, time.Time) {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DUROXIDE_HISTORY", Subjects: []string{"duroxide.history.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		var m struct {
			InstanceID string `json:"instance_id"`
		}
		_ = json.Unmarshal(l, &m)
		if _, err := js.Publish(ctx, "duroxide.history."+events.SubjectToken(m.InstanceID), l); err != nil {
			t.Fatal(err)
		}
	}
	c, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "duroscope-projector", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(len(lines), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for m := range batch.Messages() {
		md, _ := m.Metadata()
		last = md.Timestamp
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return js, nc, last
}

// TestEndToEnd serves the projected fixtures over HTTP from real ClickHouse
// with the watermark of a real JetStream stream.
func TestEndToEnd(t *testing.T) {
	r, lines := e2eReadModel(t)
	js, nc, lastPublish := e2eStream(t, lines)
	wm, err := watermark.New(watermark.Config{JetStream: js, Stream: "DUROXIDE_HISTORY", Connected: nc.IsConnected})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{ReadModel: r, Watermark: wm,
		Logger: zerolog.New(io.Discard), APIToken: "tok"})
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	resp, _ := get("/readyz")
	if resp.StatusCode != 200 {
		t.Errorf("readyz: %d", resp.StatusCode)
	}
	var exp struct {
		Instances          map[string]any `json:"instances"`
		ActivityStats      any            `json:"activity_stats"`
		OrchestrationStats any            `json:"orchestration_stats"`
	}
	b, _ := os.ReadFile(filepath.Join(e2eFixtures, "expected.json"))
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	wantThrough := api.Time(lastPublish.UnixMilli()).Format()
	check := func(path string, want any) {
		t.Helper()
		resp, body := get(path)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
			return
		}
		if resp.Header.Get("X-Projection-Lag-Events") != "0" || resp.Header.Get("X-Projected-Through") != wantThrough {
			t.Errorf("GET %s: projection headers %q %q, want 0 and %s", path,
				resp.Header.Get("X-Projection-Lag-Events"), resp.Header.Get("X-Projected-Through"), wantThrough)
		}
		var got any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GET %s:\n got %s\nwant %v", path, body, want)
		}
	}
	for id, want := range exp.Instances {
		check("/v1/instances/"+url.PathEscape(id)+"/details", want)
	}
	check("/v1/stats/activities", exp.ActivityStats)
	check("/v1/stats/activities?include_system=false", exp.ActivityStats)
	check("/v1/stats/orchestrations", exp.OrchestrationStats)

	// History: the published lines of the instance, verbatim.
	_, body := get("/v1/instances/cancel-me/history")
	var want bytes.Buffer
	want.WriteString(`{"events":[`)
	n := 0
	for _, l := range lines {
		if bytes.Contains(l, []byte(`"instance_id":"cancel-me"`)) {
			if n > 0 {
				want.WriteByte(',')
			}
			want.Write(l)
			n++
		}
	}
	want.WriteString("]}\n")
	if !bytes.Equal(body, want.Bytes()) {
		t.Errorf("history:\n got %s\nwant %s", body, want.Bytes())
	}

	// Paging through every instance with tokens.
	var ids []string
	next := "/v1/instances?limit=2"
	for i := 0; next != ""; i++ {
		if i > 20 {
			t.Fatal("paging does not end")
		}
		_, body := get(next)
		var l api.InstanceList
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		for _, s := range l.Instances {
			ids = append(ids, s.InstanceID)
		}
		next = ""
		if l.NextPageToken != nil {
			next = "/v1/instances?limit=2&page_token=" + url.QueryEscape(*l.NextPageToken)
		}
	}
	if len(ids) != len(exp.Instances) {
		t.Errorf("paged %d instances (%v), want %d", len(ids), ids, len(exp.Instances))
	}

	// The watermark itself.
	_, body = get("/v1/watermark")
	var w api.Watermark
	if err := json.Unmarshal(body, &w); err != nil || w.Stream != "DUROXIDE_HISTORY" || w.StreamLastSeq != uint64(len(lines)) ||
		w.LagEvents != 0 || w.ProjectedThrough == nil || w.ProjectedThrough.Format() != wantThrough {
		t.Errorf("watermark %s: %+v", body, w)
	}
}

// TestEndToEndClickHouseDown starts the API while ClickHouse is unreachable:
// /readyz and /v1 answer 503 (with the projection headers), /healthz 200.
func TestEndToEndClickHouseDown(t *testing.T) {
	if os.Getenv("DUROSCOPE_SKIP_INTEGRATION") == "1" {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	lc := chconn.OpenLazy(chconn.LazyConnConfig{Conn: chconn.ConnConfig{Addrs: []string{dead}, Database: "duroscope", DialTimeout: 200 * time.Millisecond}})
	defer lc.Close()
	r, err := chread.NewReader(lc, chread.ReaderConfig{Database: "duroscope"})
	if err != nil {
		t.Fatal(err)
	}
	js, nc, _ := e2eStream(t, [][]byte{[]byte(`{"instance_id":"a"}`)})
	wm, _ := watermark.New(watermark.Config{JetStream: js, Stream: "DUROXIDE_HISTORY", Connected: nc.IsConnected})
	h := New(Config{ReadModel: r, Watermark: wm,
		Logger: zerolog.New(io.Discard)})
	for _, c := range []struct {
		path   string
		status int
	}{{"/healthz", 200}, {"/readyz", 503}, {"/v1/instances/a", 503}, {"/v1/instances", 503}, {"/v1/queues", 503}, {"/v1/watermark", 200}} {
		rec := do(h, "GET", c.path, nil)
		if rec.Code != c.status {
			t.Errorf("GET %s: %d %s, want %d", c.path, rec.Code, rec.Body, c.status)
		}
		if c.status == 503 && rec.Header().Get("Retry-After") == "" {
			t.Errorf("GET %s: 503 without Retry-After", c.path)
		}
		if strings.HasPrefix(c.path, "/v1/") && rec.Header().Get("X-Projection-Lag-Events") != "0" {
			t.Errorf("GET %s: no projection headers: %v", c.path, rec.Header())
		}
	}
}
