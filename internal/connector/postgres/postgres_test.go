package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/connector"
	"github.com/duroscope/duroscope/internal/connector/postgres"
	"github.com/duroscope/duroscope/internal/connector/postgres/pgtest"
	"github.com/duroscope/duroscope/internal/duroxide"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/testenv"
)

const schema = "dx"

// storeRows is the store's history: "id/exec/event" -> event_data.
func storeRows(t *testing.T, url string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rs, err := conn.Query(ctx, "SELECT instance_id || '/' || execution_id || '/' || event_id, event_data FROM "+schema+".history")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for rs.Next() {
		var k, d string
		if err := rs.Scan(&k, &d); err != nil {
			t.Fatal(err)
		}
		out[k] = []byte(d)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type streamed struct {
	rows    map[string][]byte // "id/exec/event" (msg-id without the reincarnation suffix) -> payload
	notices []events.Notice
}

func readStream(t *testing.T, js jetstream.JetStream) streamed {
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
	out := streamed{rows: map[string][]byte{}}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := events.DecodeNotice(m.Data); err == nil {
			out.notices = append(out.notices, n)
			continue
		}
		parts := strings.SplitN(m.Header.Get(jetstream.MsgIDHeader), "/", 4)
		out.rows[strings.Join(parts[:3], "/")] = m.Data
	}
	return out
}

// missing lists the store rows the stream lacks or holds with other bytes.
func missing(want, got map[string][]byte) []string {
	var out []string
	for k, d := range want {
		if g, ok := got[k]; !ok || !bytes.Equal(g, d) {
			out = append(out, k)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startConnector runs a connector until the test ends, when it must stop
// without error; ended reports, without waiting, why it ended early (nil
// while it runs).
func startConnector(t *testing.T, cfg connector.Config) (c *connector.Connector, ended func() error) {
	t.Helper()
	c, err := connector.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Run(t.Context()); done <- err }() // cancelled before the cleanups run
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("connector: %v", err)
		}
	})
	return c, func() error {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("connector ended: %v", err)
		default:
			return nil
		}
	}
}

// newSchema starts a private Postgres 15 on which real Duroxide creates
// its schema.
func newSchema(t *testing.T) *testenv.Postgres {
	t.Helper()
	pg := testenv.StartPostgres(t)
	if _, err := (duroxide.Driver{Store: pg.URL, Schema: schema}).Answers(context.Background(), nil, true); err != nil {
		t.Fatal(err)
	}
	return pg
}

// TestRealDuroxide runs real Duroxide on a private Postgres 15 (schema by
// JsPostgresProvider.connectWithSchema): one scenario before the connector
// starts (backfill), one while it runs (tail, with deletions, prunes and a
// reused id), in cdc and in poll mode. The stream must hold every history
// row byte for byte and a notice for every deletion and prune of the
// second run.
func TestRealDuroxide(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	pg := testenv.StartPostgres(t, testenv.WithLogicalReplication())
	ctx := context.Background()
	d := duroxide.Driver{Store: pg.URL, Schema: schema}
	if _, err := d.RunScenario(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	// Queue snapshots count what Duroxide's getQueueDepths counts (the
	// runtime has stopped: the queues hold still).
	qs, _, err := postgres.Open(ctx, postgres.Config{URL: pg.URL, Schema: schema, Mode: postgres.ModePoll})
	if err != nil {
		t.Fatal(err)
	}
	q, err := qs.Queues(ctx)
	qs.Close()
	if err != nil {
		t.Fatal(err)
	}
	ans, err := d.Answers(ctx, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if int64(q.OrchestratorQueue) != ans.QueueDepths.OrchestratorQueue || int64(q.WorkerQueue) != ans.QueueDepths.WorkerQueue || q.TimerQueue != 0 {
		t.Fatalf("queues %+v, Duroxide's getQueueDepths %+v", q, ans.QueueDepths)
	}
	t.Logf("queues as Duroxide counts them: %+v", ans.QueueDepths)
	for _, mode := range []string{postgres.ModeCDC, postgres.ModePoll} {
		t.Run(mode, func(t *testing.T) {
			ns := testenv.StartNATS(t)
			nc, err := nats.Connect(ns.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			src, got, err := postgres.Open(ctx, postgres.Config{URL: pg.URL, Schema: schema, Mode: mode,
				Slot: postgres.SlotName("test_" + mode), Logger: zerolog.New(zerolog.NewTestWriter(t))})
			if err != nil {
				t.Fatal(err)
			}
			if got != mode {
				t.Fatalf("mode %s, want %s", got, mode)
			}
			// Small batches: the backfill and the tail take several reads.
			cfg := connector.Config{Source: src, NC: nc, ReconcileInterval: time.Second, PollInterval: 100 * time.Millisecond, BatchSize: 40,
				Logger: zerolog.New(zerolog.NewTestWriter(t))}
			if mode == postgres.ModeCDC {
				cfg.NoReconcile, cfg.PollInterval = true, 10*time.Millisecond
			}
			t.Cleanup(func() { src.Close() })
			c, _ := startConnector(t, cfg)
			waitFor(t, "backfill", time.Minute, func() bool { return c.Stats().CaughtUp.Load() })
			sc, err := d.RunScenario(ctx, "during-"+mode)
			if err != nil {
				t.Fatal(err)
			}
			want := storeRows(t, pg.URL)
			var s streamed
			waitFor(t, "every store row in the stream", time.Minute, func() bool {
				s = readStream(t, js)
				m := missing(want, s.rows)
				if len(m) > 0 {
					t.Logf("%d store rows not in the stream yet, e.g. %s", len(m), m[0])
				}
				return len(m) == 0
			})
			deleted, pruned := map[string]bool{}, map[string]bool{}
			for _, n := range s.notices {
				if n.Type == events.TypeInstanceDeleted {
					deleted[n.InstanceID] = true
				} else {
					pruned[n.InstanceID] = true
				}
			}
			waitFor(t, "the notices", time.Minute, func() bool {
				s = readStream(t, js)
				for _, n := range s.notices {
					if n.Type == events.TypeInstanceDeleted {
						deleted[n.InstanceID] = true
					} else {
						pruned[n.InstanceID] = true
					}
				}
				for _, x := range sc.Deleted {
					if !deleted[x.InstanceID] {
						return false
					}
				}
				for _, p := range sc.Prunes {
					if p.Result.ExecutionsDeleted > 0 && !pruned[p.InstanceID] {
						return false
					}
				}
				return true
			})
			if len(sc.Deleted) == 0 || len(sc.Prunes) == 0 {
				t.Fatalf("the scenario deleted %d and pruned %d: nothing to check", len(sc.Deleted), len(sc.Prunes))
			}
			t.Logf("%s: %d rows, %d notices (%d deleted, %d pruned ids)", mode, len(want), len(s.notices), len(deleted), len(pruned))
		})
	}
}

// A poll connector outlives a Postgres restart even with a 1 ms poll
// interval: the read retries are bounded by time (ReadRetry), not by a
// count of attempts spaced by the poll interval (which gave up after
// about 50 ms here).
func TestPollSurvivesRestart(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	pg := newSchema(t)
	ctx := context.Background()
	want, err := pgtest.Fill(ctx, pg.URL, schema, gen.Config{Seed: 3, Instances: 20}, 100)
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.StartNATS(t)
	src, _, err := postgres.Open(ctx, postgres.Config{URL: pg.URL, Schema: schema, Mode: postgres.ModePoll, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	c, ended := startConnector(t, connector.Config{Source: src, NC: ns.NC, PollInterval: time.Millisecond, ReconcileInterval: 50 * time.Millisecond,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	waitFor(t, "backfill", time.Minute, func() bool { return c.Stats().CaughtUp.Load() })
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	more, err := pgtest.Fill(ctx, pg.URL, schema, gen.Config{Seed: 4, Instances: 10, IDPrefix: "after-"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range more {
		want[k] = v
	}
	waitFor(t, "the rows written after the restart", time.Minute, func() bool {
		if err := ended(); err != nil {
			t.Fatalf("the connector stopped: %v", err)
		}
		return len(missing(want, readStream(t, ns.JS).rows)) == 0
	})
}

// Rows is asked again from the same position when the connector dropped
// the batch it returned (a later read of the same snapshot failed, as when
// Postgres stops during a reconciliation): the poll source must return
// those rows again, not skip them as already seen.
func TestPollRereadsDroppedBatch(t *testing.T) {
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	pg := newSchema(t)
	ctx := context.Background()
	if _, err := pgtest.Fill(ctx, pg.URL, schema, gen.Config{Seed: 5, Instances: 10}, 100); err != nil {
		t.Fatal(err)
	}
	src, _, err := postgres.Open(ctx, postgres.Config{URL: pg.URL, Schema: schema, Mode: postgres.ModePoll, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	read := func(after uint64) ([]string, uint64) {
		t.Helper()
		snap, err := src.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Close()
		rows, err := snap.Rows(after, 100_000)
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]string, len(rows))
		for i, r := range rows {
			keys[i] = events.MsgID(r.InstanceID, r.ExecutionID, r.EventID)
		}
		if len(rows) == 0 {
			return keys, after
		}
		return keys, rows[len(rows)-1].Pos
	}
	tail := func(seed int64, prefix string, after uint64) ([]string, uint64) {
		t.Helper()
		more, err := pgtest.Fill(ctx, pg.URL, schema, gen.Config{Seed: seed, Instances: 5, IDPrefix: prefix}, 100)
		if err != nil {
			t.Fatal(err)
		}
		keys, pos := read(after)
		if len(keys) != len(more) {
			t.Fatalf("the tail returned %d rows, %d were written", len(keys), len(more))
		}
		return keys, pos
	}
	_, pos := read(0) // the backfill
	// A first tail batch, taken: the position is then a created_at, not a
	// backfill ordinal (going back to an ordinal restarts the backfill).
	_, pos = tail(6, "late-", pos)
	first, next := tail(7, "last-", pos)
	again, _ := read(pos) // the connector dropped that batch
	if !slices.Equal(again, first) {
		t.Fatalf("read again from the same position: %d rows, want the %d of the dropped batch", len(again), len(first))
	}
	if keys, _ := read(next); len(keys) != 0 {
		t.Fatalf("after the batch was taken, %d rows came again", len(keys))
	}
}
