// Command query serves Duroscope's read-only management API (API.md) over
// HTTP from the ClickHouse read model. It starts even while ClickHouse or
// NATS are down (/readyz says 503, /v1 answers 503) and recovers by itself
// when they come up.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/internal/config"
	"github.com/duroscope/duroscope/internal/httpapi"
	"github.com/duroscope/duroscope/internal/watermark"
	"github.com/duroscope/duroscope/internal/web"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chread"
)

// defaultNATSURL is where the projector's embedded server listens when no
// NATS URL is configured.
const defaultNATSURL = "nats://127.0.0.1:4222"

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
}

// parse reads flags, falling back to DUROSCOPE_* variables (flags win).
func parse(args []string, env config.Env) (*settings, error) {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	s := &settings{Common: config.Register(fs, env)}
	fs.StringVar(&s.HTTPAddr, "http-addr", config.Get(env, "DUROSCOPE_HTTP_ADDR", "127.0.0.1:8080"), "listen address of the API (env DUROSCOPE_HTTP_ADDR)")
	fs.StringVar(&s.APIToken, "api-token", config.Get(env, "DUROSCOPE_API_TOKEN", ""), "when set, /v1 requires Authorization: Bearer <token> (env DUROSCOPE_API_TOKEN; prefer the variable: flags show in process lists)")
	timeout := fs.String("query-timeout", config.Get(env, "DUROSCOPE_QUERY_TIMEOUT", "10s"), "bound of one ClickHouse query (env DUROSCOPE_QUERY_TIMEOUT)")
	inFlight := fs.String("max-in-flight", config.Get(env, "DUROSCOPE_MAX_IN_FLIGHT", "64"), "ClickHouse-backed requests served at once; more wait briefly, then get 503 (env DUROSCOPE_MAX_IN_FLIGHT)")
	scans := fs.String("max-scans", config.Get(env, "DUROSCOPE_MAX_SCANS", ""), "of those, requests that scan a table (lists, stats, health, problems, queues, reports) served at once; about twice ClickHouse's cores (default 8, at most max-in-flight) (env DUROSCOPE_MAX_SCANS)")
	queueWait := fs.String("queue-wait", config.Get(env, "DUROSCOPE_QUEUE_WAIT", "100ms"), "longest wait for a free slot before 503 (env DUROSCOPE_QUEUE_WAIT)")
	shutdown := fs.String("shutdown-wait", config.Get(env, "DUROSCOPE_SHUTDOWN_WAIT", "10s"), "how long shutdown waits for requests in flight (env DUROSCOPE_SHUTDOWN_WAIT)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := s.Finish(); err != nil {
		return nil, err
	}
	if !chconn.ValidIdentifier(s.ClickHouseDatabase) {
		return nil, fmt.Errorf("clickhouse-database: want letters, digits and _ only, got %q", s.ClickHouseDatabase)
	}
	if s.HTTPAddr == "" {
		return nil, fmt.Errorf("http-addr: must not be empty")
	}
	var err error
	if s.QueryTimeout, err = positiveDuration("query-timeout", *timeout); err != nil {
		return nil, err
	}
	if s.QueueWait, err = positiveDuration("queue-wait", *queueWait); err != nil {
		return nil, err
	}
	if s.ShutdownWait, err = positiveDuration("shutdown-wait", *shutdown); err != nil {
		return nil, err
	}
	if s.MaxInFlight, err = strconv.Atoi(*inFlight); err != nil || s.MaxInFlight < 1 || s.MaxInFlight > 100000 {
		return nil, fmt.Errorf("max-in-flight: want an integer from 1 to 100000, got %q", *inFlight)
	}
	if *scans == "" {
		s.MaxScans = min(8, s.MaxInFlight)
	} else if s.MaxScans, err = strconv.Atoi(*scans); err != nil || s.MaxScans < 1 || s.MaxScans > s.MaxInFlight {
		return nil, fmt.Errorf("max-scans: want an integer from 1 to max-in-flight (%d), got %q", s.MaxInFlight, *scans)
	}
	if s.NATSURL == "" {
		s.NATSURL = defaultNATSURL
	}
	return s, nil
}

func positiveDuration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: want a positive Go duration such as 10s, got %q", name, v)
	}
	return d, nil
}

// redactURLs hides credentials in NATS URLs before they are logged.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable URL)"
			continue
		}
		if u.User != nil {
			u.User = url.User("REDACTED")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

func main() {
	s, err := parse(os.Args[1:], config.OSEnv)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "query:", err)
		os.Exit(2)
	}
	log := s.Logger("query")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, s, log, nil); err != nil {
		log.Error().Err(err).Msg("query service failed")
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully. onListen (may be
// nil) learns the bound address.
func run(ctx context.Context, s *settings, log zerolog.Logger, onListen func(net.Addr)) error {
	log.Info().Str("http_addr", s.HTTPAddr).Strs("clickhouse_addrs", s.ClickHouseAddrs).
		Str("clickhouse_database", s.ClickHouseDatabase).Str("clickhouse_user", s.ClickHouseUser).
		Str("nats_url", redactURLs(s.NATSURL)).Str("stream", s.Stream).Bool("auth", s.APIToken != "").
		Bool("nats_tls", s.NATSTLSConfig != nil).Bool("clickhouse_tls", s.ClickHouseTLS).
		Dur("query_timeout", s.QueryTimeout).Int("max_in_flight", s.MaxInFlight).Int("max_scans", s.MaxScans).Msg("starting")

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
	reader, err := chread.NewReader(ch, chread.ReaderConfig{Database: s.ClickHouseDatabase, MaxExecutionTime: s.QueryTimeout})
	if err != nil {
		return err
	}

	// NATS: only for the watermark. RetryOnFailedConnect returns a
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
		return fmt.Errorf("nats %s: %w", redactURLs(s.NATSURL), err)
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

	handler := httpapi.New(httpapi.Config{
		ReadModel: reader, Watermark: wm,
		Now: time.Now, Logger: log, APIToken: s.APIToken, Dashboard: web.Handler(),
		Limits: httpapi.Limits{MaxInFlight: s.MaxInFlight, MaxScans: s.MaxScans, QueueWait: s.QueueWait},
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
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	return nil
}
