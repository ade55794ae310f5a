package bench

// The bench runs every consumer it times in a child process (this binary,
// re-executed with -child=MODE): the projector, the raw-copy upper bound and
// the watermill baseline then each have a process of their own, so their
// peak RSS (/proc/<pid>/status VmHWM) and CPU time are theirs alone, and a
// profile shows only their work. The embedded NATS server stays in the
// parent.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// Child modes.
const (
	modeProjector = "projector"
	modeRawCopy   = "rawcopy"
	modeWatermill = "watermill"
)

// Durable consumer names of the baselines (the projector's is
// projector.ConsumerName(0, 1)).
const (
	rawCopyConsumer   = "bench-rawcopy"
	watermillConsumer = "bench-watermill"
)

// rawTable is the raw-copy baseline's only table.
const rawTable = "raw_events"

type childConfig struct {
	mode          string
	natsURL       string
	stream        string
	chAddr        string
	chUser        string
	chPassword    string
	db            string
	batchSize     int
	flushInterval time.Duration
	ackWait       time.Duration
	cacheMiB      int
	cpuProfile    string
	memProfile    string
	heapAt        time.Duration
	logLevel      string
}

func (c *childConfig) args() []string {
	a := []string{
		"-child=" + c.mode, "-nats-url=" + c.natsURL, "-stream=" + c.stream,
		"-clickhouse-addr=" + c.chAddr, "-clickhouse-user=" + c.chUser, "-db=" + c.db,
		fmt.Sprintf("-batch-size=%d", c.batchSize), "-flush-interval=" + c.flushInterval.String(),
		"-ack-wait=" + c.ackWait.String(), fmt.Sprintf("-cache-mib=%d", c.cacheMiB),
		"-log-level=" + c.logLevel,
	}
	if c.cpuProfile != "" {
		a = append(a, "-cpuprofile="+c.cpuProfile)
	}
	if c.memProfile != "" {
		a = append(a, "-memprofile="+c.memProfile)
	}
	if c.heapAt > 0 {
		a = append(a, "-heap-at="+c.heapAt.String())
	}
	return a
}

// IsChild reports whether a command line is a child's: the bench runs its
// consumers as child processes, this binary re-executed with -child=MODE.
func IsChild(args []string) bool { return len(args) > 0 && strings.HasPrefix(args[0], "-child=") }

// ChildMain runs one child mode until SIGTERM. Its flags are the bench's
// own protocol (written by childConfig.args), not a user interface. The
// ClickHouse password travels in the environment
// (DUROSCOPE_CLICKHOUSE_PASSWORD), not argv.
func ChildMain(args []string) error {
	fs := flag.NewFlagSet("bench child", flag.ContinueOnError)
	c := &childConfig{}
	fs.StringVar(&c.mode, "child", "", "child mode")
	fs.StringVar(&c.natsURL, "nats-url", "", "")
	fs.StringVar(&c.stream, "stream", "", "")
	fs.StringVar(&c.chAddr, "clickhouse-addr", "", "")
	fs.StringVar(&c.chUser, "clickhouse-user", "default", "")
	fs.StringVar(&c.db, "db", "", "")
	fs.IntVar(&c.batchSize, "batch-size", 20000, "")
	fs.DurationVar(&c.flushInterval, "flush-interval", 200*time.Millisecond, "")
	fs.DurationVar(&c.ackWait, "ack-wait", 30*time.Second, "")
	fs.IntVar(&c.cacheMiB, "cache-mib", 128, "")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "")
	fs.StringVar(&c.memProfile, "memprofile", "", "")
	fs.StringVar(&c.logLevel, "log-level", "warn", "")
	fs.DurationVar(&c.heapAt, "heap-at", 0, "write an in-use heap profile this long after start (next to -memprofile)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.chPassword = os.Getenv("DUROSCOPE_CLICKHOUSE_PASSWORD")
	lvl, err := zerolog.ParseLevel(c.logLevel)
	if err != nil {
		return err
	}
	log := zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Str("child", c.mode).Logger()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if c.memProfile != "" {
		defer func() {
			f, err := os.Create(c.memProfile)
			if err != nil {
				log.Error().Err(err).Msg("memprofile")
				return
			}
			runtime.GC()
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}()
	}

	if c.heapAt > 0 && c.memProfile != "" {
		go func() {
			time.Sleep(c.heapAt)
			if f, err := os.Create(strings.TrimSuffix(c.memProfile, ".alloc.pprof") + ".heap.pprof"); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	nc, err := nats.Connect(c.natsURL, nats.Name("duroscope-bench-"+c.mode), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect NATS %s: %w", c.natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	conn, err := chconn.Open(ctx, chconn.ConnConfig{
		Addrs: strings.Split(c.chAddr, ","), Database: c.db, User: c.chUser, Password: c.chPassword,
	})
	if err != nil {
		return err
	}
	defer conn.Close()

	switch c.mode {
	case modeProjector:
		// Wired as cmd/projector wires it (the schema is applied by the
		// parent before the child starts).
		p, err := projector.New(projector.Config{
			JS: js, NC: nc,
			Store:         chwrite.NewWriter(conn, chwrite.WriterConfig{Database: c.db}),
			Stream:        c.stream,
			BatchSize:     c.batchSize,
			FlushInterval: c.flushInterval,
			AckWait:       c.ackWait,
			CacheBytes:    int64(c.cacheMiB) << 20,
			Logger:        log,
		})
		if err != nil {
			return err
		}
		err = p.Run(ctx)
		st := p.Stats()
		report := map[string]uint64{
			"received": st.Received.Load(), "projected": st.Projected.Load(), "batches": st.Batches.Load(),
			"loaded": st.Loaded.Load(), "derived": st.DerivedRows.Load(), "store_errors": st.StoreErrors.Load(),
		}
		b, _ := json.Marshal(report)
		fmt.Fprintf(os.Stderr, "%s %s\n", childStatsPrefix, b)
		return err
	case modeRawCopy:
		return runRawCopy(ctx, c, js, conn, log)
	case modeWatermill:
		return runWatermill(ctx, c, nc, conn, log)
	}
	return fmt.Errorf("unknown child mode %q", c.mode)
}

// childStatsPrefix starts the line in which a projector child reports its
// counters at exit.
const childStatsPrefix = "BENCH-CHILD-STATS"

// runWatermill is the watermill baseline: the same projection driven by a
// watermill router with watermill-nats/v2's JetStream subscriber, one
// message at a time, as a watermill handler naturally does it: decode the
// event, add it to the instance's cached history, derive the instance's rows
// from it, write the event and the rows, return nil (the router then acks).
// Like the projector it reads a history back from ClickHouse only for an
// instance the database may already hold. Watermill's logging is off (its
// subscriber logs every message at info level, which would dominate).
func runWatermill(ctx context.Context, c *childConfig, nc *nats.Conn, conn driverConn, log zerolog.Logger) error {
	w := chwrite.NewWriter(conn, chwrite.WriterConfig{Database: c.db})
	known := map[string]bool{}
	if err := w.ScanInstanceIDs(ctx, func(id string) error { known[id] = true; return nil }); err != nil {
		return err
	}
	type cached struct {
		keys map[events.Key]bool
		evs  []events.Event
	}
	cache := map[string]*cached{}

	sub, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{
		Conn:           nc,
		Logger:         watermill.NopLogger{},
		AckWaitTimeout: c.ackWait,
		ResourceInitializer: func(ctx context.Context, js jetstream.JetStream, _ string) (jetstream.Consumer, func(context.Context, watermill.LoggerAdapter), error) {
			cons, err := js.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{
				Durable:       watermillConsumer,
				FilterSubject: events.StreamSubjects,
				DeliverPolicy: jetstream.DeliverAllPolicy,
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       c.ackWait,
				MaxDeliver:    -1,
			})
			return cons, nil, err
		},
	})
	if err != nil {
		return err
	}
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	if err != nil {
		return err
	}
	router.AddConsumerHandler("project", c.stream, sub, func(m *message.Message) error {
		ev, err := events.Decode(m.Payload)
		if err != nil {
			return nil // the projector dead-letters these; the bench publishes none
		}
		ci := cache[ev.InstanceID]
		if ci == nil {
			ci = &cached{keys: map[events.Key]bool{}}
			if known[ev.InstanceID] {
				h, err := w.LoadHistories(m.Context(), []string{ev.InstanceID})
				if err != nil {
					return err
				}
				for _, e := range h[ev.InstanceID] {
					ci.keys[e.EventKey()] = true
					ci.evs = append(ci.evs, e)
				}
			}
			cache[ev.InstanceID] = ci
		}
		if err := w.WriteHistory(m.Context(), []chwrite.HistoryRow{{Event: &ev}}); err != nil {
			return err
		}
		if ci.keys[ev.EventKey()] {
			return nil
		}
		ci.keys[ev.EventKey()] = true
		ci.evs = append(ci.evs, ev)
		rows, err := projection.Derive(ci.evs)
		if err != nil {
			return err
		}
		if err := w.WriteDerived(m.Context(), []projection.Rows{rows}); err != nil {
			return err
		}
		known[ev.InstanceID] = true
		return nil
	})
	go func() {
		<-ctx.Done()
		_ = router.Close()
	}()
	if err := router.Run(context.WithoutCancel(ctx)); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
