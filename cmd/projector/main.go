// Command projector consumes Duroxide history events from NATS JetStream and
// keeps Duroscope's ClickHouse read model up to date. With no NATS URL it
// runs an embedded JetStream server on 127.0.0.1:4222.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/duroscope/duroscope/internal/config"
	"github.com/duroscope/duroscope/internal/natsembed"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chwrite"
	"github.com/duroscope/duroscope/schema"
)

type settings struct {
	*config.Common
	DataDir       string
	HTTPAddr      string
	Partition     config.Partition
	BatchSize     int
	FlushInterval time.Duration
	AckWait       time.Duration
	CacheBytes    int64
	// RecountInterval: see projector.Config.RecountInterval.
	RecountInterval time.Duration
	// MemoryLimitMiB is the Go runtime's soft memory limit (0 = none).
	MemoryLimitMiB int
	// StreamReplicas: see projector.Config.Replicas.
	StreamReplicas int
	// DriftInterval, DriftSample, DriftGrace: see projector.Config (0 =
	// no drift self-check).
	DriftInterval time.Duration
	DriftSample   int
	DriftGrace    time.Duration
	// Retention and ReportRetention: see projector.Retention (0 = keep).
	Retention, ReportRetention time.Duration
}

func parse(args []string, env config.Env) (*settings, error) {
	f := config.NewFlags("projector", env)
	s := &settings{Common: config.Register(f, "")}
	var cacheMiB int
	f.String(&s.DataDir, "data-dir", "DUROSCOPE_DATA_DIR", ".data", "directory for the embedded NATS server's storage")
	f.String(&s.HTTPAddr, "http-addr", "DUROSCOPE_PROJECTOR_HTTP_ADDR", "127.0.0.1:8081", "address of /healthz and /metrics; empty = off")
	f.Partition(&s.Partition, "partition", "DUROSCOPE_PARTITION", config.Whole, "this process's share of instances, i/n (0-based), for scale-out")
	f.Int(&s.BatchSize, "batch-size", "DUROSCOPE_BATCH_SIZE", 20000, 1, 1_000_000, "most messages per ClickHouse insert")
	f.Duration(&s.FlushInterval, "flush-interval", "DUROSCOPE_FLUSH_INTERVAL", 200*time.Millisecond, time.Nanosecond, "longest wait to fill a batch")
	f.Duration(&s.AckWait, "ack-wait", "DUROSCOPE_ACK_WAIT", 30*time.Second, time.Second, "JetStream redelivery timeout")
	f.Duration(&s.RecountInterval, "recount-interval", "DUROSCOPE_RECOUNT_INTERVAL", time.Second, time.Nanosecond,
		"least time between two recounts of the report cells (they lag the other tables by about that much)")
	f.Int(&cacheMiB, "cache-mib", "DUROSCOPE_CACHE_MIB", 128, 1, 1<<20, "instance cache size in MiB")
	f.Int(&s.MemoryLimitMiB, "memory-limit-mib", "DUROSCOPE_MEMORY_LIMIT_MIB", 420, 0, 1<<30,
		"soft memory limit of the Go runtime in MiB, 0 = none; GOMEMLIMIT, when set, takes precedence")
	f.Duration(&s.DriftInterval, "drift-interval", "DUROSCOPE_DRIFT_INTERVAL", 10*time.Second, 0,
		"how often the drift self-check compares a sample of instances with their stored history and repairs them; 0 = off")
	f.Int(&s.DriftSample, "drift-sample", "DUROSCOPE_DRIFT_SAMPLE", 100, 1, 100_000, "most instances one drift check samples")
	f.Duration(&s.DriftGrace, "drift-grace", "DUROSCOPE_DRIFT_GRACE", 2*time.Minute, time.Second,
		"how long an instance's rows may stay behind its unchanged history before that is drift")
	config.StreamReplicas(f, &s.StreamReplicas)
	config.ManagementRetention(f, &s.Retention)
	f.Retention(&s.ReportRetention, "report-retention", "DUROSCOPE_REPORT_RETENTION",
		"report facts and cells of buckets older than this are dropped (400d, 90d; empty = keep forever)")
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	if err := s.Finish(); err != nil {
		return nil, err
	}
	s.CacheBytes = int64(cacheMiB) << 20
	// The cache and the batches in flight (~200 MiB at the default batch
	// size) must fit under the limit, or the collector spends its time in GC.
	if s.MemoryLimitMiB != 0 && s.MemoryLimitMiB < cacheMiB+minHeadroomMiB {
		return nil, fmt.Errorf("%s: %d leaves no room beside a %d MiB cache; want 0 (none) or >= cache-mib + %d",
			f.Source("memory-limit-mib"), s.MemoryLimitMiB, cacheMiB, minHeadroomMiB)
	}
	return s, nil
}

// minHeadroomMiB is the memory beside the cache that --memory-limit-mib must
// leave for the batches in flight.
const minHeadroomMiB = 192

func main() {
	config.Main("projector", parse, func(ctx context.Context, s *settings, log zerolog.Logger) error {
		// A soft limit keeps the heap (and RSS) near the limit instead of
		// Go's default of twice the live heap: measured on a 2.5M-event
		// drain, 445 MiB instead of 725 MiB for 6% less throughput
		// (BENCHMARKS.md).
		if os.Getenv("GOMEMLIMIT") == "" && s.MemoryLimitMiB > 0 {
			debug.SetMemoryLimit(int64(s.MemoryLimitMiB) << 20)
		}
		return run(ctx, s, log)
	})
}

func run(ctx context.Context, s *settings, log zerolog.Logger) error {
	natsURL := s.NATSURL
	if natsURL == "" {
		dir := filepath.Join(s.DataDir, "nats")
		srv, err := natsembed.Start(natsembed.Config{StoreDir: dir})
		if err != nil {
			return fmt.Errorf("embedded NATS: %w", err)
		}
		defer srv.Shutdown()
		natsURL = srv.ClientURL()
		fmt.Printf("embedded NATS JetStream server listening on %s (storage %s)\n", natsURL, dir)
		log.Info().Str("url", natsURL).Str("store", dir).Msg("embedded NATS JetStream server started")
	}
	opts := []nats.Option{
		nats.Name("duroscope-projector"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn().Err(err).Msg("NATS disconnected") }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("NATS reconnected") }),
	}
	if s.NATSURL != "" { // the embedded server speaks plain TCP on loopback
		opts = append(opts, s.NATSOptions()...)
	}
	nc, err := nats.Connect(natsURL, opts...)
	if err != nil {
		return fmt.Errorf("connect to NATS %s: %w", config.Redact(natsURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}

	conn, err := openClickHouse(ctx, s, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	writer := chwrite.NewWriter(conn, chwrite.WriterConfig{Database: s.ClickHouseDatabase})
	applied, err := schema.Apply(ctx, conn, schema.Config{Database: s.ClickHouseDatabase, Steps: writer.SchemaSteps()})
	if err != nil {
		return fmt.Errorf("apply schema to %s: %w", s.ClickHouseDatabase, err)
	}
	log.Info().Ints("applied", applied).Str("database", s.ClickHouseDatabase).Msg("schema up to date")

	p, err := projector.New(projector.Config{
		JS:              js,
		NC:              nc,
		Store:           clickhouseStore{writer},
		Stream:          s.Stream,
		Replicas:        s.StreamReplicas,
		Partition:       s.Partition.Index,
		Partitions:      s.Partition.Count,
		BatchSize:       s.BatchSize,
		FlushInterval:   s.FlushInterval,
		AckWait:         s.AckWait,
		CacheBytes:      s.CacheBytes,
		RecountInterval: s.RecountInterval,
		DriftInterval:   s.DriftInterval,
		DriftSample:     s.DriftSample,
		DriftGrace:      s.DriftGrace,
		Drift:           writer,
		Retention: projector.Retention{Expirer: clickhouseStore{writer}, Management: s.Retention,
			Reports: s.ReportRetention},
		Logger: log,
	})
	if err != nil {
		return err
	}
	var ln net.Listener
	if s.HTTPAddr != "" {
		if ln, err = net.Listen("tcp", s.HTTPAddr); err != nil {
			return fmt.Errorf("listen %s: %w", s.HTTPAddr, err)
		}
	}
	return runPipeline(ctx, p, ln, log)
}

// runPipeline runs the projector and, beside it until it returns, the
// progress log and the status server on ln (when not nil). The projector's
// error is the result; a failing status server stops the projector.
func runPipeline(ctx context.Context, p *projector.Projector, ln net.Listener, log zerolog.Logger) error {
	g, gctx := errgroup.WithContext(ctx)
	// aux ends the companions once the projector has returned.
	aux, stopAux := context.WithCancel(gctx)
	defer stopAux()
	g.Go(func() error {
		defer stopAux()
		return p.Run(gctx)
	})
	g.Go(func() error {
		reportProgress(aux, p, log)
		return nil
	})
	if ln != nil {
		srv := &http.Server{Handler: statusMux(p.Health, p.WriteMetrics), ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("status server: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-aux.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				log.Warn().Err(err).Msg("status server shutdown")
			}
			return nil
		})
	}
	return g.Wait()
}

// openClickHouse retries until ClickHouse answers: a projector started
// before its database should wait for it, not exit.
func openClickHouse(ctx context.Context, s *settings, log zerolog.Logger) (driver.Conn, error) {
	backoff := 500 * time.Millisecond
	for {
		conn, err := chconn.Open(ctx, chconn.ConnConfig{
			Addrs:    s.ClickHouseAddrs,
			Database: s.ClickHouseDatabase,
			User:     s.ClickHouseUser,
			Password: s.ClickHousePassword,
			TLS:      s.ClickHouseTLSConfig,
		})
		if err == nil {
			return conn, nil
		}
		log.Warn().Err(err).Dur("retry_in", backoff).Msg("ClickHouse not reachable yet")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for ClickHouse: %w", ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// reportProgress logs throughput every 10 seconds while events flow.
func reportProgress(ctx context.Context, p *projector.Projector, log zerolog.Logger) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	st := p.Stats()
	last, lastT := st.Projected.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n := st.Projected.Load()
			if n != last {
				log.Info().Uint64("projected", n).Uint64("dead_lettered", st.DeadLettered.Load()).
					Float64("events_per_s", float64(n-last)/now.Sub(lastT).Seconds()).Msg("progress")
			}
			last, lastT = n, now
		}
	}
}

// statusMux serves /healthz (200 "ok", or 503 with the reason health
// gives: the pipeline failed or is stalled) and /metrics.
func statusMux(health func(time.Time) error, metrics func(io.Writer)) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := health(time.Now()); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		var b strings.Builder
		metrics(&b)
		_, _ = w.Write([]byte(b.String()))
	})
	return mux
}
