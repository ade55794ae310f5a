package postgres_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/internal/connector"
	"github.com/duroscope/duroscope/internal/connector/postgres"
	"github.com/duroscope/duroscope/internal/connector/postgres/pgtest"
	"github.com/duroscope/duroscope/internal/duroxide"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/testenv"
)

// backendLoad samples the CPU time (/proc/<pid>/stat utime+stime) of the
// connector's Postgres backends (application_name duroscope-connector,
// the walsender included) and the database's transaction count.
type backendLoad struct {
	conn  *pgx.Conn
	ticks map[int]uint64 // newest CPU ticks per backend pid
}

func (b *backendLoad) sample(t *testing.T) {
	rs, err := b.conn.Query(context.Background(), "SELECT pid FROM pg_stat_activity WHERE application_name = 'duroscope-connector'")
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rs, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(int(pid)), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(raw)[strings.LastIndexByte(string(raw), ')')+2:])
		u, _ := strconv.ParseUint(f[11], 10, 64)
		s, _ := strconv.ParseUint(f[12], 10, 64)
		b.ticks[int(pid)] = max(b.ticks[int(pid)], u+s)
	}
}

func (b *backendLoad) cpuSeconds() float64 {
	var n uint64
	for _, v := range b.ticks {
		n += v
	}
	return float64(n) / 100 // USER_HZ
}

func xacts(t *testing.T, conn *pgx.Conn) int64 {
	var n int64
	if err := conn.QueryRow(context.Background(), "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// runConnector runs the connector in mode until stop returns true.
func runConnector(t *testing.T, pgURL, mode string, load *backendLoad, until func(*connector.Connector, *nats.Conn) bool) time.Duration {
	ns := testenv.StartNATS(t)
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	src, _, err := postgres.Open(ctx, postgres.Config{URL: pgURL, Schema: schema, Mode: mode,
		Slot: postgres.SlotName("bench_" + mode + strconv.FormatInt(time.Now().UnixNano(), 36)), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := connector.Config{Source: src, NC: nc, Logger: zerolog.Nop(), PollInterval: 500 * time.Millisecond}
	if mode == postgres.ModeCDC {
		cfg.NoReconcile, cfg.PollInterval = true, 10*time.Millisecond
	}
	c, err := connector.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { _, err := c.Run(cctx); done <- err }()
	for !until(c, nc) {
		load.sample(t)
		time.Sleep(200 * time.Millisecond)
	}
	took := time.Since(t0)
	load.sample(t)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	src.Close()
	return took
}

// TestBenchPostgres measures, on a private Postgres 15 whose schema real
// Duroxide created: the backfill rate of both modes from
// DUROSCOPE_BENCH_EVENTS (default 1,000,000) synthetic events (internal/gen,
// written with COPY), with the connector backends' CPU seconds and the
// database's transactions; then created_at -> stream latency of both modes
// while real Duroxide runs its load mix at 10 instances/s.
//
//	DUROSCOPE_HEAVY=1 go test ./internal/connector/postgres -run TestBenchPostgres -v -timeout 60m
func TestBenchPostgres(t *testing.T) {
	if os.Getenv("DUROSCOPE_HEAVY") != "1" {
		t.Skip("set DUROSCOPE_HEAVY=1")
	}
	target := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("DUROSCOPE_BENCH_EVENTS")); err == nil {
		target = v
	}
	pg := testenv.StartPostgres(t, testenv.WithLogicalReplication())
	ctx := context.Background()
	d := duroxide.Driver{Store: pg.URL, Schema: schema}
	if _, err := d.Answers(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	cfg := gen.Config{Seed: 11, SpreadMs: 30 * 86_400_000}
	cfg.Instances = int(1.05*float64(target)/gen.EventsPerInstance(cfg)) + 1
	t0 := time.Now()
	rows, err := pgtest.Fill(ctx, pg.URL, schema, cfg, 20000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("store: %d events written in %s", len(rows), time.Since(t0).Round(time.Millisecond))
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+schema+".history"); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{postgres.ModeCDC, postgres.ModePoll} {
		load := &backendLoad{conn: conn, ticks: map[int]uint64{}}
		x0 := xacts(t, conn)
		took := runConnector(t, pg.URL, mode, load, func(c *connector.Connector, _ *nats.Conn) bool {
			return c.Stats().CaughtUp.Load()
		})
		x := xacts(t, conn) - x0
		n := float64(len(rows))
		t.Logf("%s backfill: %d events in %s = %.0f events/s; Postgres: %.1f CPU s of the connector's backends (%.1f per 1M events), %d transactions (%.0f/s)",
			mode, len(rows), took.Round(time.Millisecond), n/took.Seconds(), load.cpuSeconds(), load.cpuSeconds()*1e6/n, x, float64(x)/took.Seconds())
	}
	// Latency at real Duroxide's rate: created_at (the ack's clock) to the
	// message's arrival on a subscription of the stream's subjects.
	for _, mode := range []string{postgres.ModeCDC, postgres.ModePoll} {
		load := &backendLoad{conn: conn, ticks: map[int]uint64{}}
		var lat []time.Duration
		var sub *nats.Subscription
		loadDone := make(chan error, 1)
		started := false
		var t1 time.Time
		took := runConnector(t, pg.URL, mode, load, func(c *connector.Connector, nc *nats.Conn) bool {
			if !c.Stats().CaughtUp.Load() {
				return false
			}
			if !started {
				started = true
				t1 = time.Now()
				var err error
				sub, err = nc.Subscribe("duroxide.history.>", func(m *nats.Msg) {
					if ts := eventCreatedAt(m.Data); ts > 0 {
						lat = append(lat, time.Since(time.UnixMilli(ts)))
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				go func() {
					_, err := d.RunLoad(ctx, duroxide.LoadOptions{Prefix: "lat-" + mode, Rate: 10, Duration: 30 * time.Second, RunningEvery: -1})
					loadDone <- err
				}()
			}
			select {
			case err := <-loadDone:
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Second)
				sub.Unsubscribe()
				return true
			default:
				return false
			}
		})
		_ = took
		slices.Sort(lat)
		if len(lat) == 0 {
			t.Fatalf("%s: no events during the load", mode)
		}
		el := time.Since(t1)
		t.Logf("%s tail at 10 instances/s: %d events, timestamp_ms->stream p50 %s p99 %s max %s; connector backends %.2f CPU s over %s",
			mode, len(lat), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond),
			load.cpuSeconds(), el.Round(time.Second))
	}
}

// eventCreatedAt is the event's timestamp_ms (when Duroxide stamped it).
func eventCreatedAt(data []byte) int64 {
	const key = `"timestamp_ms":`
	s := string(data)
	i := strings.Index(s, key)
	if i < 0 {
		return 0
	}
	var v int64
	fmt.Sscan(s[i+len(key):], &v)
	return v
}
