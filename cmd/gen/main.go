// Command gen publishes a deterministic, realistic Duroxide workload (package
// gen) to NATS JetStream per the event contract, or writes it as JSON lines.
//
//	gen --instances 10000                       # the last hour, published now
//	gen --seed 7 --start 2025-11-26T00:00:00Z --out events.jsonl
//	gen --loop --rate 2000 --queues              # endless live load for the demo
//
// Deliberate duplicates (--duplicates) are published with the Nats-Msg-Id
// "<instance>/<execution>/<event>/dup<n>": with the plain id the stream's
// duplicate window would swallow them and the projector's at-least-once
// handling would never be exercised; a retried publish of the same copy is
// still de-duplicated.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/config"
	"github.com/duroscope/duroscope/internal/gen"
)

func main() {
	// Generation allocates a lot of short-lived memory while the live heap
	// stays small; fewer collections nearly halve the run time.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], config.OSEnv, os.Stdout, os.Stderr, time.Now()); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

type options struct {
	natsURL     string
	stream      string
	logLevel    string
	seed        int64
	instances   int
	rate        float64
	duplicates  float64
	shuffle     int
	deletes     float64
	prunes      float64
	running     float64
	unknown     float64
	cancel      float64
	queues      bool
	start       string
	spread      time.Duration
	loop        bool
	out         string
	idPrefix    string
	order       string
	maxInFlight int
	workers     int

	startMs int64 // parsed start
	live    bool  // start defaulted to now - spread
}

func parse(args []string, env config.Env, stderr io.Writer, now time.Time) (*options, error) {
	f := config.NewFlags("gen", env)
	f.SetOutput(stderr)
	o := &options{}
	f.URLs(&o.natsURL, "nats-url", "DUROSCOPE_NATS_URL", config.DefaultNATSURL, config.NATSSchemes(), "NATS server URL(s)")
	f.String(&o.stream, "stream", "DUROSCOPE_STREAM", events.DefaultStream, "JetStream stream, created if missing")
	f.OneOf(&o.logLevel, "log-level", "DUROSCOPE_LOG_LEVEL", "info", config.LogLevels(), "log level")
	f.VariablePrefix("DUROSCOPE_GEN_")
	f.Int64(&o.seed, "seed", "", 1, math.MinInt64, math.MaxInt64, "random seed: the same seed and flags give the same histories")
	f.Int(&o.instances, "instances", "", 1000, 0, math.MaxInt, "top-level instances (sub-orchestrations and chained instances come on top)")
	f.Float(&o.rate, "rate", "", 0, 0, math.Inf(1), "events per second; 0 = as fast as possible (with --loop: also the pace of new instances)")
	f.Float(&o.duplicates, "duplicates", "", 0, 0, 1, "fraction of events published a second time, up to 1000 messages later")
	f.Float(&o.deletes, "delete", "", 0, 0, 1, "fraction of top-level instances deleted a minute after their last event, sub-orchestrations with them (InstanceDeleted notices); 30% of those get their id reused, 30% some events re-published after the deletion")
	f.Float(&o.prunes, "prune", "", 0, 0, 1, "fraction of continued-as-new instances whose earlier executions are pruned (ExecutionsPruned notices)")
	f.Int(&o.shuffle, "shuffle", "", 0, 0, math.MaxInt, "reorder events within consecutive windows of this many messages; 0 = time order")
	f.Float(&o.running, "running", "", 0.1, 0, 1, "fraction of instances left unfinished (Running)")
	f.Float(&o.unknown, "unknown", "", 0.01, 0, 1, "fraction of instances with an event of an unknown type")
	f.Float(&o.cancel, "cancel", "", 0.03, 0, 1, "fraction of finished instances that are cancelled")
	f.Bool(&o.queues, "queues", "", false, "also publish a queue-depth snapshot to core NATS subject duroxide.queues every second")
	f.String(&o.start, "start", "", "", "first instance start, epoch ms or RFC 3339; default: now minus --spread (events after now are left out)")
	f.Duration(&o.spread, "spread", "", time.Hour, 0, "instance starts are spread over this window")
	f.Bool(&o.loop, "loop", "", false, "after the first --instances, keep starting new instances forever (fresh ids), publishing each event when its time comes")
	f.String(&o.out, "out", "", "", "write the events as JSON lines to this file ('-' = stdout) instead of publishing")
	f.String(&o.idPrefix, "id-prefix", "", "", "prefix of every top-level instance id (default with --loop: derived from the start time, so restarts get fresh ids)")
	f.OneOf(&o.order, "order", "", "time", []string{"time", "instance"}, "publish order: time (instances interleaved by timestamp) or instance (one history after the other)")
	f.Int(&o.maxInFlight, "max-in-flight", "", 4000, 1, math.MaxInt, "most publishes awaiting their ack")
	f.Int(&o.workers, "workers", "", runtime.GOMAXPROCS(0), 1, math.MaxInt, "generator goroutines (the output does not depend on it)")
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	if o.natsURL == "" && o.out == "" {
		return nil, fmt.Errorf("%s: want a NATS URL (or --out), got nothing", f.Source("nats-url"))
	}
	switch {
	case o.stream == "":
		return nil, fmt.Errorf("%s: want a stream name, got nothing", f.Source("stream"))
	case o.loop && o.out != "":
		return nil, fmt.Errorf("--loop and --out exclude each other: an endless file is of no use")
	}
	if o.start == "" {
		o.live = true
		o.startMs = now.UnixMilli() - o.spread.Milliseconds()
	} else {
		ms, err := parseTime(o.start)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Source("start"), err)
		}
		o.startMs = ms
	}
	if o.loop && o.idPrefix == "" {
		o.idPrefix = strconv.FormatInt(o.startMs/1000, 36) + "-"
	}
	return o, nil
}

// parseTime accepts epoch milliseconds or RFC 3339.
func parseTime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms <= 0 {
			return 0, fmt.Errorf("want epoch ms > 0, got %d", ms)
		}
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("want epoch ms or RFC 3339 (2025-11-26T00:00:00Z), got %q", s)
	}
	return t.UnixMilli(), nil
}

func (o *options) config(now time.Time) gen.Config {
	cfg := gen.Config{
		Seed:                o.seed,
		Instances:           o.instances,
		StartMs:             o.startMs,
		SpreadMs:            o.spread.Milliseconds(),
		RunningFraction:     o.running,
		UnknownTypeFraction: o.unknown,
		CancelFraction:      o.cancel,
		IDPrefix:            o.idPrefix,
		Workers:             o.workers,
	}
	if o.cancel == 0 {
		cfg.CancelFraction = -1 // gen.Config's 0 means "default"
	}
	if o.live && !o.loop {
		// Data that "ends now" must not show the future.
		cfg.NowMs = now.UnixMilli()
	}
	return cfg
}

// messages builds the publication stream the flags ask for.
func (o *options) messages(now time.Time) iter.Seq[gen.Message] {
	cfg := o.config(now)
	var msgs iter.Seq[gen.Message]
	switch {
	case o.deletes > 0 || o.prunes > 0:
		hists := gen.Histories(cfg)
		if o.loop {
			hists = gen.Endless(cfg, o.rate)
		}
		msgs = gen.WithNotices(hists, gen.NoticeOptions{Seed: o.seed, DeleteFraction: o.deletes, ReuseFraction: 0.3,
			RedeliverFraction: 0.3, PruneFraction: o.prunes, NowMs: cfg.NowMs})
	case o.loop:
		msgs = gen.InterleaveLive(gen.Endless(cfg, o.rate), 20000)
	case o.order == "instance":
		msgs = gen.Flatten(gen.Histories(cfg))
	default:
		msgs = gen.Interleave(gen.Histories(cfg), 0)
	}
	// Separate streams from the seed, so that shuffling does not change
	// which events are duplicated and vice versa.
	msgs = gen.Shuffle(msgs, o.shuffle, rand.New(rand.NewPCG(uint64(o.seed), 1)))
	return gen.Duplicate(msgs, o.duplicates, 1000, rand.New(rand.NewPCG(uint64(o.seed), 2)))
}

func run(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer, now time.Time) error {
	o, err := parse(args, env, stderr, now)
	if err != nil {
		return err
	}
	lvl, _ := zerolog.ParseLevel(o.logLevel)
	log := zerolog.New(stderr).Level(lvl).With().Timestamp().Str("service", "gen").Logger()

	if o.out != "" {
		return writeFile(o, stdout, log, now)
	}

	nc, err := nats.Connect(o.natsURL, nats.Name("duroscope-gen"), nats.Timeout(5*time.Second), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("cannot reach NATS at %s (set --nats-url or DUROSCOPE_NATS_URL): %w", config.Redact(o.natsURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(o.maxInFlight))
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	setupCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = gen.EnsureStream(setupCtx, js, o.stream)
	cancel()
	if err != nil {
		return fmt.Errorf("stream %s on %s: %w", o.stream, o.natsURL, err)
	}

	pubCtx, stopQueues := context.WithCancel(ctx)
	defer stopQueues()
	queuesDone := make(chan error, 1)
	if o.queues {
		go func() {
			queuesDone <- gen.PublishQueueSnapshots(pubCtx, nc, time.Second, gen.NewQueueWalk(o.seed))
		}()
	} else {
		queuesDone <- nil
	}

	log.Info().Str("nats", o.natsURL).Str("stream", o.stream).Int64("seed", o.seed).Int("instances", o.instances).
		Time("start", time.UnixMilli(o.startMs)).Dur("spread", o.spread).Bool("loop", o.loop).
		Float64("rate", o.rate).Float64("duplicates", o.duplicates).Int("shuffle", o.shuffle).Msg("publishing")

	var last gen.Stats
	st, err := gen.Publish(ctx, js, o.messages(now), gen.PublishOptions{
		MaxInFlight: o.maxInFlight,
		Rate:        o.rate,
		Realtime:    o.loop,
		Progress: func(s gen.Stats) {
			d := (s.Elapsed - last.Elapsed).Seconds()
			if d <= 0 {
				return
			}
			log.Info().Int64("published", s.Published).Int64("instances", s.Instances).
				Float64("events_per_s", float64(s.Published-last.Published)/d).Msg("progress")
			last = s
		},
	})
	stopQueues()
	if qerr := <-queuesDone; qerr != nil && err == nil {
		err = qerr
	}
	ev := log.Info()
	if err != nil {
		ev = log.Error().Err(err)
	}
	ev.Int64("published", st.Published).Int64("duplicates", st.Duplicates).Int64("deduplicated_by_stream", st.Deduplicated).
		Int64("instances", st.Instances).Int64("bytes", st.Bytes).Int64("retried", st.Retried).
		Dur("elapsed", st.Elapsed).Float64("events_per_s", st.Rate()).Msg("summary")
	if err != nil && o.loop && errors.Is(err, context.Canceled) {
		return nil // the endless demo ends with Ctrl-C
	}
	return err
}

func writeFile(o *options, stdout io.Writer, log zerolog.Logger, now time.Time) error {
	w := stdout
	if o.out != "-" {
		f, err := os.Create(o.out)
		if err != nil {
			return fmt.Errorf("out: %w", err)
		}
		defer f.Close()
		w = f
	}
	st, err := gen.WriteJSONL(w, o.messages(now))
	if err != nil {
		return fmt.Errorf("out %s: %w", o.out, err)
	}
	if f, ok := w.(*os.File); ok && o.out != "-" {
		if err := f.Close(); err != nil {
			return fmt.Errorf("out %s: %w", o.out, err)
		}
	}
	log.Info().Str("out", o.out).Int64("events", st.Published).Int64("duplicates", st.Duplicates).
		Int64("instances", st.Instances).Int64("bytes", st.Bytes).Dur("elapsed", st.Elapsed).Msg("summary")
	return nil
}
