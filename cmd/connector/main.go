// Command connector reads a Duroxide provider's store and publishes its
// history to NATS JetStream per EVENTS.md (API.md "Sources: the
// connector"): backfill with progress, then the new rows, deletions and
// prunes as source notices, and queue-depth snapshots. Wiring only; the
// pipeline is internal/connector, the store adapter
// internal/connector/sqlite.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"

	"github.com/duroscope/duroscope/internal/config"
	"github.com/duroscope/duroscope/internal/connector"
	"github.com/duroscope/duroscope/internal/connector/postgres"
	"github.com/duroscope/duroscope/internal/connector/sqlite"
)

type settings struct {
	*config.Common
	Source            string
	SourceSchema      string
	SourceMode        string
	PollInterval      time.Duration
	ReconcileInterval time.Duration
	QueueInterval     time.Duration
	BatchSize         int
	HTTPAddr          string
	Once              bool
	DropSlot          bool
	StreamReplicas    int
}

func parse(args []string, env config.Env) (*settings, error) {
	f := config.NewFlags("connector", env)
	s := &settings{Common: config.Register(f, config.DefaultNATSURL)}
	f.String(&s.Source, "source", "DUROSCOPE_SOURCE", "", "the Duroxide store: sqlite:/path/to/duroxide.db or postgres://user:pass@host:port/db?sslmode=...")
	f.String(&s.SourceSchema, "source-schema", "DUROSCOPE_SOURCE_SCHEMA", "public", "Postgres schema of duroxide-pg's tables")
	f.OneOf(&s.SourceMode, "source-mode", "DUROSCOPE_SOURCE_MODE", "auto", []string{"auto", "cdc", "poll"}, "Postgres: cdc, poll or auto")
	f.Duration(&s.PollInterval, "poll-interval", "DUROSCOPE_POLL_INTERVAL", 500*time.Millisecond, time.Nanosecond, "how often new rows are looked for")
	f.Duration(&s.ReconcileInterval, "reconcile-interval", "DUROSCOPE_RECONCILE_INTERVAL", 30*time.Second, time.Nanosecond, "how often deleted instances and pruned executions are looked for")
	f.Duration(&s.QueueInterval, "queue-interval", "DUROSCOPE_QUEUE_INTERVAL", 5*time.Second, 0, "how often a queue-depth snapshot is published; 0 = never")
	f.Int(&s.BatchSize, "batch-size", "DUROSCOPE_CONNECTOR_BATCH_SIZE", 5000, 1, 1_000_000, "most history rows per read and per stored position")
	f.String(&s.HTTPAddr, "http-addr", "DUROSCOPE_CONNECTOR_HTTP_ADDR", "127.0.0.1:8082", "address of /healthz and /metrics; empty = off")
	f.Bool(&s.DropSlot, "drop-slot", "DUROSCOPE_CONNECTOR_DROP_SLOT", false, "Postgres: drop the connector's replication slot (decommissioning) and exit")
	f.Bool(&s.Once, "once", "DUROSCOPE_CONNECTOR_ONCE", false, "publish everything present (deletions included), wait for the stream to store it, print a summary, exit")
	config.StreamReplicas(f, &s.StreamReplicas)
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	if err := s.Finish(); err != nil {
		return nil, err
	}
	if s.SourceSchema == "" {
		return nil, errors.New("source-schema (DUROSCOPE_SOURCE_SCHEMA): must not be empty")
	}
	switch {
	case s.Source == "":
		return nil, errors.New("source (DUROSCOPE_SOURCE): required, e.g. sqlite:/var/lib/app/duroxide.db")
	case strings.HasPrefix(s.Source, "sqlite:"):
		if _, err := sqlite.ParseURL(s.Source); err != nil {
			return nil, fmt.Errorf("source (DUROSCOPE_SOURCE): %w", err)
		}
	case postgres.IsURL(s.Source):
	default:
		return nil, fmt.Errorf("source (DUROSCOPE_SOURCE): want sqlite:/path/to/duroxide.db or postgres://user:pass@host:port/db, got %q", config.Redact(s.Source))
	}
	if s.DropSlot && !postgres.IsURL(s.Source) {
		return nil, errors.New("drop-slot: only for postgres:// sources")
	}
	return s, nil
}

func main() { config.Main("connector", parse, run) }

// openSource opens the store; for Postgres it also returns the mode chosen.
func openSource(ctx context.Context, s *settings, log zerolog.Logger) (connector.Source, string, error) {
	if !postgres.IsURL(s.Source) {
		path, _ := sqlite.ParseURL(s.Source) // validated by parse
		src, err := sqlite.Open(ctx, sqlite.Config{Path: path})
		return src, "", err
	}
	mode := s.SourceMode
	if s.Once && mode != postgres.ModePoll {
		// A one-shot copy must not leave a replication slot behind.
		log.Info().Msg("--once reads the tables (poll mode): no replication slot is created")
		mode = postgres.ModePoll
	}
	return postgres.Open(ctx, postgres.Config{URL: s.Source, Schema: s.SourceSchema, Mode: mode,
		Slot: postgres.SlotName(s.Stream + "_CONNECTOR"), Logger: log})
}

func run(ctx context.Context, s *settings, log zerolog.Logger) error {
	if s.DropSlot {
		slot := postgres.SlotName(s.Stream + "_CONNECTOR")
		dropped, err := postgres.DropSlot(ctx, postgres.Config{URL: s.Source, Schema: s.SourceSchema, Slot: slot})
		if err != nil {
			return err
		}
		log.Info().Str("slot", slot).Bool("existed", dropped).Msg("replication slot dropped")
		return nil
	}
	src, mode, err := openSource(ctx, s, log)
	if err != nil {
		return err
	}
	defer src.Close()
	natsURL := s.NATSURL
	if natsURL == "" {
		natsURL = config.DefaultNATSURL // the projector's embedded server
	}
	opts := append([]nats.Option{
		nats.Name("duroscope-connector"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil on our own Close
				log.Warn().Err(err).Msg("NATS disconnected")
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("NATS reconnected") }),
	}, s.NATSOptions()...)
	nc, err := nats.Connect(natsURL, opts...)
	if err != nil {
		return fmt.Errorf("connect to NATS %s: %w", config.Redact(natsURL), err)
	}
	defer nc.Close()
	cfg := connector.Config{
		Source:            src,
		NC:                nc,
		Stream:            s.Stream,
		Replicas:          s.StreamReplicas,
		PollInterval:      s.PollInterval,
		ReconcileInterval: s.ReconcileInterval,
		QueueInterval:     s.QueueInterval,
		BatchSize:         s.BatchSize,
		Once:              s.Once,
		Logger:            log,
	}
	if mode == postgres.ModeCDC {
		// Rows arrive from the stream as they commit; deletions with them.
		cfg.PollInterval, cfg.NoReconcile = 10*time.Millisecond, true
	}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		cfg.Progress = os.Stderr
	}
	c, err := connector.New(cfg)
	if err != nil {
		return err
	}
	var failure atomic.Pointer[string]
	g, gctx := errgroup.WithContext(ctx)
	if s.HTTPAddr != "" {
		ln, err := net.Listen("tcp", s.HTTPAddr)
		if err != nil {
			return fmt.Errorf("http-addr (DUROSCOPE_CONNECTOR_HTTP_ADDR) %s: %w", s.HTTPAddr, err)
		}
		srv := &http.Server{Handler: statusHandler(c, src, &failure), ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("status server: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 2*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	var sum connector.Summary
	g.Go(func() error {
		var err error
		sum, err = c.Run(gctx)
		if err != nil {
			msg := err.Error()
			failure.Store(&msg)
			return err
		}
		if s.Once {
			return errOnceDone
		}
		return nil
	})
	err = g.Wait()
	if errors.Is(err, errOnceDone) {
		fmt.Printf("published %d events and %d notices of %d instances; position %d; %s\n",
			sum.Rows, sum.Notices, sum.Instances, sum.Position, sum.Elapsed.Round(time.Millisecond))
		return nil
	}
	if err != nil {
		return err
	}
	// The pipeline returns nil only when asked to stop.
	return nil
}

// errOnceDone ends the process group after a --once pass.
var errOnceDone = errors.New("once: done")

func statusHandler(c *connector.Connector, src connector.Source, failure *atomic.Pointer[string]) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if f := failure.Load(); f != nil {
			http.Error(w, "failed: "+*f, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		c.WriteMetrics(w)
		if m, ok := src.(interface{ WriteMetrics(io.Writer) }); ok {
			m.WriteMetrics(w)
		}
	})
	return mux
}
