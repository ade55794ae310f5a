package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/client"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/changes"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/httpapi"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/internal/watermark"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chread"
)

// diffEnv is the real pipeline under a differential test: events published
// to an embedded JetStream, the in-process projector writing a private
// ClickHouse database, and the query service's HTTP stack on an httptest
// server, called through the Go client. The oracle replays the same events.
type diffEnv struct {
	nats   *testenv.NATS
	db     *testenv.Database
	cl     *client.Client
	oracle *oracle.Oracle
	// nowMs is the query service's clock (fixed), passed to the oracle too.
	nowMs int64
	// snapshots are the queue-depth snapshots published on core NATS.
	snapshots []events.QueueSnapshot
}

// diffSetup publishes pub (history events, in the order given) and snaps
// (core NATS queue snapshots) through the real projector, waits until both
// are in the read model, and serves the query API over them with its clock
// fixed at nowMs. The oracle replays pub.
func diffSetup(t *testing.T, name string, pub []events.Event, snaps []events.QueueSnapshot, nowMs int64) *diffEnv {
	t.Helper()
	msgs := make([]gen.Message, len(pub))
	for i := range pub {
		msgs[i] = gen.Message{Event: &pub[i]}
	}
	return diffSetupMessages(t, name, msgs, snaps, nowMs)
}

// diffSetupMessages is diffSetup for a stream of events and source notices
// (docs/deletions.md): the oracle replays both.
func diffSetupMessages(t *testing.T, name string, pub []gen.Message, snaps []events.QueueSnapshot, nowMs int64) *diffEnv {
	t.Helper()
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, name)
	// The projector subscribes to the (core NATS) queue subject when it
	// starts: snapshots published before that are lost by design.
	startProjector(t, n, db, nil)
	waitQueueSubscription(t, n)
	publishMessages(t, n.JS, pub)
	for _, s := range snaps {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.NC.Publish(events.QueueSubject, b); err != nil {
			t.Fatalf("publish queue snapshot: %v", err)
		}
	}
	if err := n.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	projtest.WaitCaughtUp(t, n.JS, 3*time.Minute)
	waitQueueSnapshots(t, db, snaps)

	srv := httptest.NewServer(newQueryHandler(t, n, db, func() time.Time { return time.UnixMilli(nowMs).UTC() }))
	t.Cleanup(srv.Close)
	cl, err := client.New(srv.URL, client.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var evs []events.Event
	var notices []events.Notice
	for _, m := range pub {
		if m.Notice != nil {
			notices = append(notices, *m.Notice)
		} else {
			evs = append(evs, *m.Event)
		}
	}
	return &diffEnv{nats: n, db: db, cl: cl, oracle: oracle.New(evs, notices...), nowMs: nowMs, snapshots: snaps}
}

// newQueryHandler wires the query service's HTTP stack the way cmd/query's
// run does (a lazily connecting ClickHouse pool, chread.Reader behind
// every endpoint, the JetStream watermark), with the clock replaced. There
// is no exported constructor to share with package main, so the wiring is
// repeated here; httpapi.New panics if a backend is left out.
func newQueryHandler(t *testing.T, n *testenv.NATS, db *testenv.Database, now func() time.Time) http.Handler {
	t.Helper()
	ch := chconn.OpenLazy(chconn.LazyConnConfig{
		Conn: chconn.ConnConfig{Addrs: []string{db.Addr}, Database: db.Name, User: "default", MaxOpenConns: 8},
	})
	t.Cleanup(func() { ch.Close() })
	reader, err := chread.NewReader(ch, chread.ReaderConfig{Database: db.Name, MaxExecutionTime: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	wm, err := watermark.New(watermark.Config{JetStream: n.JS, Stream: events.DefaultStream, Connected: n.NC.IsConnected})
	if err != nil {
		t.Fatal(err)
	}
	// The live change feed, wired as cmd/query wires it.
	feed, err := changes.New(changes.Config{JetStream: n.JS, Stream: events.DefaultStream, Watermark: wm, Lookup: reader,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	fctx, stopFeed := context.WithCancel(context.Background())
	fed := make(chan error, 1)
	go func() { fed <- feed.Run(fctx) }()
	t.Cleanup(func() {
		stopFeed()
		if err := <-fed; err != nil {
			t.Errorf("change feed: %v", err)
		}
	})
	h := httpapi.New(httpapi.Config{
		ReadModel: reader, Watermark: wm, Changes: feed,
		Now:    now,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		// Generous limits: the tests call concurrently and must never see
		// an "overloaded" 503.
		Limits: httpapi.Limits{MaxInFlight: 64, QueueWait: 30 * time.Second},
	})
	// Wait until the lazy pool is connected, so the first calls are not 503.
	deadline := time.Now().Add(30 * time.Second)
	for reader.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("query service: ClickHouse not reachable within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return h
}

// waitQueueSubscription waits until the projector's core NATS subscription
// to the queue subject is registered with the server.
func waitQueueSubscription(t *testing.T, n *testenv.NATS) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sz, err := n.Server.Subsz(&server.SubszOptions{Subscriptions: true, Limit: 1000, Test: events.QueueSubject})
		if err == nil {
			for _, s := range sz.Subs {
				if s.Subject == events.QueueSubject {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the projector did not subscribe to %s within 30s", events.QueueSubject)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitQueueSnapshots waits until every distinct published snapshot is
// stored (the projector flushes them once a second).
func waitQueueSnapshots(t *testing.T, db *testenv.Database, snaps []events.QueueSnapshot) {
	t.Helper()
	want := map[events.QueueSnapshot]bool{}
	for _, s := range snaps {
		want[s] = true
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n uint64
		err := db.Conn.QueryRow(context.Background(),
			"SELECT count() FROM (SELECT DISTINCT timestamp_ms, orchestrator_queue, worker_queue, timer_queue FROM "+db.Name+".queue_snapshots)").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n >= uint64(len(want)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d queue snapshots stored after 30s", n, len(want))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lastPublishTime is the JetStream publish time of the stream's last
// message, in ms.
func lastPublishTime(t *testing.T, js jetstream.JetStream) (seq uint64, ms int64) {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq, m.Time.UnixMilli()
}
