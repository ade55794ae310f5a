// Command bench is Duroscope's reproducible benchmark suite. Against a real
// ClickHouse and a real JetStream (an embedded nats-server unless --nats-url
// is given) it generates a workload with gen and measures, in one run:
//
//   - ingest: events/s for the projector to drain a pre-filled stream
//     (median of --runs runs, each on a fresh database and consumer), with
//     its peak RSS, next to two baselines on the same stream in the same run:
//     a raw copy (the upper bound) and the same projection through a
//     watermill router (per-message);
//   - freshness: publish → visible-in-API latency at a steady event rate;
//   - queries: p50/p99 of every API endpoint at --query-instances
//     instances, and the replay baseline (every stats call answered by
//     reading each history from ClickHouse and replaying it, internal/oracle);
//   - scale (--scale): ingest rate and query latencies at several instance
//     counts, plotted to a PNG.
//
// Consumers run as child processes (this binary re-executed), so each one's
// RSS and CPU are its own. See BENCHMARKS.md for the commands and results.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	clickHouseAddrs    []string
	clickHouseUser     string
	clickHousePassword string
	natsURL            string
	out                string
	keep               bool
	seed               int64
	sections           map[string]bool

	// ingest
	ingestEvents int64
	ingestSpread time.Duration
	runs         int
	baselines    bool
	watermillBox time.Duration
	profile      bool
	drainTimeout time.Duration
	// projector tuning passed to the child
	batchSize     int
	flushInterval time.Duration
	cacheMiB      int
	childLogLevel string
	memLimit      string
	heapAt        time.Duration

	// freshness
	freshRate     float64
	freshDuration time.Duration
	freshEvery    time.Duration

	// queries
	queryInstances int64
	queryReps      int
	queryBudget    time.Duration
	replayRuns     int
	queryDB        string
	scanShards     int

	// scale
	scale []int64
}

func parseConfig(args []string) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	c := &config{}
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	addr := fs.String("clickhouse-addr", env("DUROSCOPE_CLICKHOUSE_ADDR", "127.0.0.1:9000"), "ClickHouse native address(es), comma separated (env DUROSCOPE_CLICKHOUSE_ADDR); the bench creates its own databases and drops them")
	fs.StringVar(&c.clickHouseUser, "clickhouse-user", env("DUROSCOPE_CLICKHOUSE_USER", "default"), "ClickHouse user (env DUROSCOPE_CLICKHOUSE_USER; password from DUROSCOPE_CLICKHOUSE_PASSWORD)")
	fs.StringVar(&c.natsURL, "nats-url", "", "NATS server with JetStream; empty = an embedded nats-server in this process")
	fs.StringVar(&c.out, "out", "bench-out", "output directory: report.txt, results.json, plots, logs, profiles")
	fs.BoolVar(&c.keep, "keep", false, "keep the databases and streams the bench creates")
	fs.Int64Var(&c.seed, "seed", 1, "generator seed")
	sections := fs.String("sections", "ingest,freshness,queries", "sections to run: ingest, freshness, queries (comma separated); --scale adds the scaling curve")

	fs.Int64Var(&c.ingestEvents, "ingest-events", 600_000, "size of the ingest workload in events")
	fs.DurationVar(&c.ingestSpread, "ingest-spread", time.Hour, "the ingest workload's instances start over this window of simulated time (shorter = more instances in flight at once, more re-derivations)")
	fs.IntVar(&c.runs, "runs", 3, "timed runs per consumer (each on a fresh database and consumer)")
	fs.BoolVar(&c.baselines, "baselines", true, "also time the raw-copy and watermill baselines")
	fs.DurationVar(&c.watermillBox, "watermill-time", 15*time.Second, "time box of one watermill run (it is rated on what it acked)")
	fs.BoolVar(&c.profile, "profile", false, "add one uncounted projector run with CPU and alloc profiles (child) and a CPU profile of this process (embedded NATS)")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 20*time.Minute, "give up on a run after this long")
	fs.IntVar(&c.batchSize, "batch-size", 20000, "projector batch size")
	fs.DurationVar(&c.flushInterval, "flush-interval", 200*time.Millisecond, "projector flush interval")
	fs.IntVar(&c.cacheMiB, "cache-mib", 128, "projector cache size in MiB")
	fs.DurationVar(&c.heapAt, "profile-heap-at", 5*time.Second, "with --profile: also write the projector's in-use heap this long after it starts")
	fs.StringVar(&c.memLimit, "projector-gomemlimit", "420MiB", "GOMEMLIMIT of the projector children only; the default is cmd/projector's default --memory-limit-mib; empty = none")
	fs.StringVar(&c.childLogLevel, "child-log-level", "warn", "log level of the consumer children (logs in <out>/logs)")

	fs.Float64Var(&c.freshRate, "freshness-rate", 20000, "steady publish rate (events/s) of the freshness test")
	fs.DurationVar(&c.freshDuration, "freshness-duration", 20*time.Second, "length of the freshness test (the target is stated for 60s; 10m also shows whether the projector's RSS stays flat)")
	fs.DurationVar(&c.freshEvery, "freshness-marker-every", 200*time.Millisecond, "interval between marker instances")

	fs.Int64Var(&c.queryInstances, "query-instances", 100_000, "instances in the read model of the query benchmark (loaded directly, bypassing NATS)")
	fs.IntVar(&c.queryReps, "query-reps", 100, "requests per endpoint")
	fs.DurationVar(&c.queryBudget, "query-budget", 20*time.Second, "at most this long per endpoint (at least 20 requests)")
	fs.IntVar(&c.replayRuns, "replay-runs", 3, "runs of the replay baseline")
	fs.IntVar(&c.scanShards, "scan-shards", 0, "the query service's ReaderConfig.ScanShards: split FINAL scans into this many parallel key ranges (-1 = one per ClickHouse thread, 0 = off, its default)")
	fs.StringVar(&c.queryDB, "query-db", "", "measure the queries on this existing database instead of loading one (it is not dropped)")

	scale := fs.String("scale", "", "instance counts of the scaling curve, e.g. 100k,300k,1M (empty = skip)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.clickHouseAddrs = splitAddrs(*addr)
	c.clickHousePassword = os.Getenv("DUROSCOPE_CLICKHOUSE_PASSWORD")
	c.sections = map[string]bool{}
	for _, s := range splitAddrs(*sections) {
		switch s {
		case "ingest", "freshness", "queries":
			c.sections[s] = true
		default:
			return nil, fmt.Errorf("sections: unknown section %q (want ingest, freshness, queries)", s)
		}
	}
	for _, s := range splitAddrs(*scale) {
		n, err := parseCount(s)
		if err != nil {
			return nil, fmt.Errorf("scale: %w", err)
		}
		c.scale = append(c.scale, n)
	}
	switch {
	case len(c.clickHouseAddrs) == 0:
		return nil, errors.New("clickhouse-addr: empty")
	case c.runs < 1:
		return nil, errors.New("runs: want >= 1")
	case c.ingestEvents < 1000:
		return nil, errors.New("ingest-events: want >= 1000")
	case c.freshRate <= 0 || c.freshDuration <= 0 || c.freshEvery <= 0:
		return nil, errors.New("freshness-rate, -duration and -marker-every must be positive")
	case c.queryInstances < 100 || c.queryReps < 1:
		return nil, errors.New("query-instances: want >= 100; query-reps: want >= 1")
	}
	return c, nil
}

// parseCount reads 100k, 1M, 250000.
func parseCount(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "k") || strings.HasSuffix(s, "K"):
		mult, s = 1000, s[:len(s)-1]
	case strings.HasSuffix(s, "m") || strings.HasSuffix(s, "M"):
		mult, s = 1_000_000, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q: want a positive count like 300k or 1M", s)
	}
	return int64(v * float64(mult)), nil
}

type bench struct {
	cfg   *config
	env   *env
	nowMs int64
	res   results
}

// results is everything one run measured (results.json).
type results struct {
	Started   time.Time         `json:"started"`
	Machine   machineInfo       `json:"machine"`
	Args      []string          `json:"args"`
	Ingest    *ingestResult     `json:"ingest,omitempty"`
	Freshness *freshnessResult  `json:"freshness,omitempty"`
	Queries   *queryResult      `json:"queries,omitempty"`
	Scale     []scalePoint      `json:"scale,omitempty"`
	LoadAvg   map[string]string `json:"load_average"`
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func main() {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "-child=") {
		if err := childMain(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *config, args []string) error {
	for _, d := range []string{"logs", "profiles"} {
		if err := os.MkdirAll(filepath.Join(cfg.out, d), 0o755); err != nil {
			return err
		}
	}
	e, err := newEnv(ctx, cfg)
	if err != nil {
		return err
	}
	defer e.close()
	b := &bench{cfg: cfg, env: e, nowMs: time.Now().UnixMilli()}
	b.res = results{Started: time.Now().UTC(), Args: args, LoadAvg: map[string]string{"start": loadAvg()}}
	b.res.Machine = describeMachine(ctx, e)
	logf("bench: %s; ClickHouse %s; NATS %s; load average %s", b.res.Machine.CPU, b.res.Machine.ClickHouse, b.res.Machine.NATSServer, loadAvg())

	if cfg.sections["ingest"] {
		r, err := b.runIngest(ctx)
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		b.res.Ingest = r
		b.res.LoadAvg["after_ingest"] = loadAvg()
	}
	if cfg.sections["freshness"] {
		r, err := b.runFreshness(ctx)
		if err != nil {
			return fmt.Errorf("freshness: %w", err)
		}
		b.res.Freshness = r
		b.res.LoadAvg["after_freshness"] = loadAvg()
	}
	if cfg.sections["queries"] {
		var pre *preloaded
		if cfg.queryDB != "" {
			var err error
			if pre, err = b.existingDB(ctx, cfg.queryDB); err != nil {
				return fmt.Errorf("queries: %w", err)
			}
		}
		r, err := b.runQueries(ctx, cfg.queryInstances, pre)
		if err != nil {
			return fmt.Errorf("queries: %w", err)
		}
		b.res.Queries = r
		b.res.LoadAvg["after_queries"] = loadAvg()
	}
	if len(cfg.scale) > 0 {
		pts, err := b.runScale(ctx)
		if err != nil {
			return fmt.Errorf("scale: %w", err)
		}
		b.res.Scale = pts
		b.res.LoadAvg["after_scale"] = loadAvg()
	}
	b.res.LoadAvg["end"] = loadAvg()
	js, err := json.MarshalIndent(b.res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.out, "results.json"), js, 0o644); err != nil {
		return err
	}
	report := b.report()
	if err := os.WriteFile(filepath.Join(cfg.out, "report.txt"), []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Print(report)
	return nil
}

// startSelfProfile CPU-profiles this process (which hosts the embedded NATS
// server) until the returned function is called.
func (b *bench) startSelfProfile(tag string) func() {
	f, err := os.Create(filepath.Join(b.cfg.out, "profiles", tag+".bench-nats.cpu.pprof"))
	if err != nil {
		logf("warning: self profile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		logf("warning: self profile: %v", err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func (b *bench) childConfig(mode, stream, db string) *childConfig {
	return &childConfig{
		mode: mode, natsURL: b.env.natURL, stream: stream,
		chAddr: strings.Join(b.cfg.clickHouseAddrs, ","), chUser: b.cfg.clickHouseUser, db: db,
		batchSize: b.cfg.batchSize, flushInterval: b.cfg.flushInterval, ackWait: 30 * time.Second,
		cacheMiB: b.cfg.cacheMiB, logLevel: b.cfg.childLogLevel,
	}
}

// childEnv is the extra environment of a child of mode.
func (b *bench) childEnv(mode string) []string {
	if mode == modeProjector && b.cfg.memLimit != "" {
		return []string{"GOMEMLIMIT=" + b.cfg.memLimit}
	}
	return nil
}

// machineInfo records what the figures were measured on.
type machineInfo struct {
	CPU        string `json:"cpu"`
	NumCPU     int    `json:"nproc"`
	MemTotal   string `json:"mem_total"`
	Go         string `json:"go"`
	ClickHouse string `json:"clickhouse"`
	NATSServer string `json:"nats_server"`
	Kernel     string `json:"kernel"`
}

func describeMachine(ctx context.Context, e *env) machineInfo {
	m := machineInfo{NumCPU: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	_ = e.ch.QueryRow(ctx, "SELECT version()").Scan(&m.ClickHouse)
	m.NATSServer = e.nc.ConnectedServerVersion()
	if e.srv != nil {
		m.NATSServer += " (embedded)"
	}
	return m
}
