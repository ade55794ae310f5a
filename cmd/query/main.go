// Command query serves Duroscope's read-only management API (API.md) over
// HTTP from the ClickHouse read model. It starts even while ClickHouse or
// NATS are down (/readyz says 503, /v1 answers 503) and recovers by itself
// when they come up.
package main

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/duroscope/duroscope/internal/changes"
	"github.com/duroscope/duroscope/internal/config"
	"github.com/duroscope/duroscope/internal/httpapi"
	"github.com/duroscope/duroscope/internal/watermark"
	"github.com/duroscope/duroscope/internal/web"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chread"
)

// settings is the query service's configuration.
type settings struct {
	*config.Common
	HTTPAddr     string
	APIToken     string
	QueryTimeout time.Duration // ClickHouse max_execution_time and client deadline
	MaxInFlight  int           // concurrent ClickHouse-backed requests
	MaxScans     int           // of which table scans (lists, stats, reports)
	QueueWait    time.Duration // longest wait for a slot before 503
	ShutdownWait time.Duration // graceful shutdown bound
	Retention    time.Duration // instances not updated for this long leave the answers (0 = keep all)
}

// parse reads flags, falling back to DUROSCOPE_* variables (flags win).
func parse(args []string, env config.Env) (*settings, error) {
	f := config.NewFlags("query", env)
	s := &settings{Common: config.Register(f, config.DefaultNATSURL)}
	f.String(&s.HTTPAddr, "http-addr", "DUROSCOPE_HTTP_ADDR", "127.0.0.1:8080", "listen address of the API")
	f.Secret(&s.APIToken, "api-token", "DUROSCOPE_API_TOKEN", "when set, /v1 requires Authorization: Bearer <token> (prefer the variable: flags show in process lists)")
	f.Duration(&s.QueryTimeout, "query-timeout", "DUROSCOPE_QUERY_TIMEOUT", 10*time.Second, time.Nanosecond, "bound of one ClickHouse query")
	f.Int(&s.MaxInFlight, "max-in-flight", "DUROSCOPE_MAX_IN_FLIGHT", 64, 1, 100000, "ClickHouse-backed requests served at once; more wait briefly, then get 503")
	f.Int(&s.MaxScans, "max-scans", "DUROSCOPE_MAX_SCANS", 8, 1, 100000,
		"of those, requests that scan a table (lists, stats, health, problems, queues, reports) served at once; about twice ClickHouse's cores (at most max-in-flight)")
	f.Duration(&s.QueueWait, "queue-wait", "DUROSCOPE_QUEUE_WAIT", 100*time.Millisecond, time.Nanosecond, "longest wait for a free slot before 503")
	f.Duration(&s.ShutdownWait, "shutdown-wait", "DUROSCOPE_SHUTDOWN_WAIT", 10*time.Second, time.Nanosecond, "how long shutdown waits for requests in flight")
	config.ManagementRetention(f, &s.Retention)
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	if err := s.Finish(); err != nil {
		return nil, err
	}
	if s.HTTPAddr == "" {
		return nil, fmt.Errorf("%s: want host:port, got nothing", f.Source("http-addr"))
	}
	switch {
	case !f.IsSet("max-scans"):
		s.MaxScans = min(s.MaxScans, s.MaxInFlight)
	case s.MaxScans > s.MaxInFlight:
		return nil, fmt.Errorf("%s: want an integer from 1 to max-in-flight (%d), got %d", f.Source("max-scans"), s.MaxInFlight, s.MaxScans)
	}
	if s.NATSURL == "" {
		s.NATSURL = config.DefaultNATSURL
	}
	return s, nil
}

func main() {
	config.Main("query", parse, func(ctx context.Context, s *settings, log zerolog.Logger) error { return run(ctx, s, log, nil) })
}

// run serves until ctx ends, then shuts down gracefully. onListen (may be
// nil) learns the bound address.
func run(ctx context.Context, s *settings, log zerolog.Logger, onListen func(net.Addr)) error {
	log.Info().Str("http_addr", s.HTTPAddr).Strs("clickhouse_addrs", s.ClickHouseAddrs).
		Str("clickhouse_database", s.ClickHouseDatabase).Str("clickhouse_user", s.ClickHouseUser).
		Str("nats_url", config.Redact(s.NATSURL)).Str("stream", s.Stream).Bool("auth", s.APIToken != "").
		Bool("nats_tls", s.NATSTLSConfig != nil).Bool("clickhouse_tls", s.ClickHouseTLS).
		Dur("query_timeout", s.QueryTimeout).Int("max_in_flight", s.MaxInFlight).Int("max_scans", s.MaxScans).Dur("retention", s.Retention).Msg("starting")

	// ClickHouse: connect in the background; until then every query fails
	// fast (503) and /readyz says 503.
	ch := chconn.OpenLazy(chconn.LazyConnConfig{
		Conn: chconn.ConnConfig{
			Addrs: s.ClickHouseAddrs, Database: s.ClickHouseDatabase,
			User: s.ClickHouseUser, Password: s.ClickHousePassword,
			TLS:          s.ClickHouseTLSConfig,
			MaxOpenConns: s.MaxInFlight + 4,
		},
		OnError: func(attempt int, err error) {
			ev := log.Debug()
			if attempt == 1 || attempt%20 == 0 {
				ev = log.Warn()
			}
			ev.Err(err).Int("attempt", attempt).Msg("ClickHouse not reachable yet; retrying")
		},
		OnConnect: func() { log.Info().Msg("connected to ClickHouse") },
	})
	defer ch.Close()
	reader, err := chread.NewReader(ch, chread.ReaderConfig{Database: s.ClickHouseDatabase, MaxExecutionTime: s.QueryTimeout,
		Retention: s.Retention})
	if err != nil {
		return err
	}

	// NATS: the watermark and the live change feed. RetryOnFailedConnect returns a
	// connection that keeps trying, so the service starts without NATS.
	nc, err := nats.Connect(s.NATSURL, append(s.NATSOptions(),
		nats.Name("duroscope-query"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().AnErr("reason", err).Msg("NATS disconnected; projection headers paused")
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info().Msg("NATS reconnected") }),
		nats.ConnectHandler(func(*nats.Conn) { log.Info().Msg("connected to NATS") }),
	)...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", config.Redact(s.NATSURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	wm, err := watermark.New(watermark.Config{JetStream: js, Stream: s.Stream, Connected: nc.IsConnected})
	if err != nil {
		return err
	}

	// One change feed for every GET /v1/instances/changes subscriber.
	feed, err := changes.New(changes.Config{JetStream: js, Stream: s.Stream, Watermark: wm, Lookup: reader,
		Logger: log.With().Str("component", "changes").Logger()})
	if err != nil {
		return err
	}

	handler := httpapi.New(httpapi.Config{
		ReadModel: reader, Watermark: wm, Changes: feed,
		Now: time.Now, Logger: log, APIToken: s.APIToken, Dashboard: web.Handler(),
		Limits: httpapi.Limits{MaxInFlight: s.MaxInFlight, MaxScans: s.MaxScans, QueueWait: s.QueueWait,
			MinSeqTimeout: s.QueryTimeout},
	})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Long enough for the largest history answer over a slow link.
		WriteTimeout:   s.QueryTimeout + 2*time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       stdlog.New(log.With().Str("source", "net/http").Logger(), "", 0),
	}
	ln, err := net.Listen("tcp", s.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.HTTPAddr, err)
	}
	if onListen != nil {
		onListen(ln.Addr())
	}
	log.Info().Str("addr", ln.Addr().String()).Msg("serving")
	// The change feed and the HTTP server run under one group: the feed's
	// failure (a defect reading the read model) stops the service (exit 1).
	// On shutdown the feed stops first, which ends the change streams, so
	// the graceful shutdown does not wait for them.
	g, gctx := errgroup.WithContext(ctx)
	feedCtx, stopFeed := context.WithCancel(gctx)
	defer stopFeed()
	g.Go(func() error {
		if err := feed.Run(feedCtx); err != nil {
			return fmt.Errorf("change feed: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info().Msg("shutting down")
		stopFeed()
		sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownWait)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("graceful shutdown: %w", err)
		}
		return nil
	})
	return g.Wait()
}
