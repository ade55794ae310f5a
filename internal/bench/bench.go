// Package bench is Duroscope's reproducible benchmark suite (cmd/bench). Against a real
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
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/duroscope/duroscope/internal/config"
)

// Settings is one bench run's configuration (Parse).
type Settings struct {
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

	args []string // the command line, recorded in results.json
}

// Parse reads the bench's flags and their DUROSCOPE_BENCH_* variables (the
// ClickHouse and NATS settings use the variables every binary reads).
// -h prints the flags to stderr and returns flag.ErrHelp.
func Parse(args []string, env config.Env, stderr io.Writer) (*Settings, error) {
	f := config.NewFlags("bench", env)
	f.SetOutput(stderr)
	c := &Settings{args: args}
	var sections, scale []string
	f.List(&c.clickHouseAddrs, "clickhouse-addr", "DUROSCOPE_CLICKHOUSE_ADDR", []string{config.DefaultClickHouseAddr},
		"ClickHouse native address(es), comma separated; the bench creates its own databases and drops them")
	f.String(&c.clickHouseUser, "clickhouse-user", "DUROSCOPE_CLICKHOUSE_USER", "default", "ClickHouse user")
	f.Secret(&c.clickHousePassword, "clickhouse-password", "DUROSCOPE_CLICKHOUSE_PASSWORD", "ClickHouse password (prefer the variable: flags show in process lists)")
	f.URLs(&c.natsURL, "nats-url", "DUROSCOPE_NATS_URL", "", config.NATSSchemes(), "NATS server with JetStream; empty = an embedded nats-server in this process")
	f.VariablePrefix("DUROSCOPE_BENCH_")
	f.String(&c.out, "out", "", "bench-out", "output directory: report.txt, results.json, plots, logs, profiles")
	f.Bool(&c.keep, "keep", "", false, "keep the databases and streams the bench creates")
	f.Int64(&c.seed, "seed", "", 1, math.MinInt64, math.MaxInt64, "generator seed")
	f.List(&sections, "sections", "", []string{"ingest", "freshness", "queries"}, "sections to run: ingest, freshness, queries (comma separated); --scale adds the scaling curve")

	f.Int64(&c.ingestEvents, "ingest-events", "", 600_000, 1000, math.MaxInt64, "size of the ingest workload in events")
	f.Duration(&c.ingestSpread, "ingest-spread", "", time.Hour, time.Nanosecond, "the ingest workload's instances start over this window of simulated time (shorter = more instances in flight at once, more re-derivations)")
	f.Int(&c.runs, "runs", "", 3, 1, math.MaxInt, "timed runs per consumer (each on a fresh database and consumer)")
	f.Bool(&c.baselines, "baselines", "", true, "also time the raw-copy and watermill baselines")
	f.Duration(&c.watermillBox, "watermill-time", "", 15*time.Second, time.Nanosecond, "time box of one watermill run (it is rated on what it acked)")
	f.Bool(&c.profile, "profile", "", false, "add one uncounted projector run with CPU and alloc profiles (child) and a CPU profile of this process (embedded NATS)")
	f.Duration(&c.drainTimeout, "drain-timeout", "", 20*time.Minute, time.Nanosecond, "give up on a run after this long")
	f.Int(&c.batchSize, "batch-size", "", 20000, 1, 1_000_000, "projector batch size")
	f.Duration(&c.flushInterval, "flush-interval", "", 200*time.Millisecond, time.Nanosecond, "projector flush interval")
	f.Int(&c.cacheMiB, "cache-mib", "", 128, 1, 1<<20, "projector cache size in MiB")
	f.Duration(&c.heapAt, "profile-heap-at", "", 5*time.Second, 0, "with --profile: also write the projector's in-use heap this long after it starts")
	f.String(&c.memLimit, "projector-gomemlimit", "", "420MiB", "GOMEMLIMIT of the projector children only; the default is cmd/projector's default --memory-limit-mib; empty = none")
	f.OneOf(&c.childLogLevel, "child-log-level", "", "warn", config.LogLevels(), "log level of the consumer children (logs in <out>/logs)")

	f.Float(&c.freshRate, "freshness-rate", "", 20000, math.SmallestNonzeroFloat64, math.Inf(1), "steady publish rate (events/s) of the freshness test")
	f.Duration(&c.freshDuration, "freshness-duration", "", 20*time.Second, time.Nanosecond, "length of the freshness test (the target is stated for 60s; 10m also shows whether the projector's RSS stays flat)")
	f.Duration(&c.freshEvery, "freshness-marker-every", "", 200*time.Millisecond, time.Nanosecond, "interval between marker instances")

	f.Int64(&c.queryInstances, "query-instances", "", 100_000, 100, math.MaxInt64, "instances in the read model of the query benchmark (loaded directly, bypassing NATS)")
	f.Int(&c.queryReps, "query-reps", "", 100, 1, math.MaxInt, "requests per endpoint")
	f.Duration(&c.queryBudget, "query-budget", "", 20*time.Second, time.Nanosecond, "at most this long per endpoint (at least 20 requests)")
	f.Int(&c.replayRuns, "replay-runs", "", 3, 0, math.MaxInt, "runs of the replay baseline")
	f.Int(&c.scanShards, "scan-shards", "", 0, -1, 1024, "the query service's ReaderConfig.ScanShards: split FINAL scans into this many parallel key ranges (-1 = one per ClickHouse thread, 0 = off, its default)")
	f.String(&c.queryDB, "query-db", "", "", "measure the queries on this existing database instead of loading one (it is not dropped)")

	f.List(&scale, "scale", "", nil, "instance counts of the scaling curve, e.g. 100k,300k,1M (empty = skip)")
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	c.sections = map[string]bool{}
	for _, s := range sections {
		switch s {
		case "ingest", "freshness", "queries":
			c.sections[s] = true
		default:
			return nil, fmt.Errorf("%s: unknown section %q (want ingest, freshness, queries)", f.Source("sections"), s)
		}
	}
	for _, s := range scale {
		n, err := parseCount(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Source("scale"), err)
		}
		c.scale = append(c.scale, n)
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
	cfg   *Settings
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

// Run runs the sections cfg asks for and writes the report (also printed
// to stdout), results.json, logs and profiles under its output directory.
func Run(ctx context.Context, cfg *Settings, stdout io.Writer) error {
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
	b.res = results{Started: time.Now().UTC(), Args: cfg.args, LoadAvg: map[string]string{"start": loadAvg()}}
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
	_, err = io.WriteString(stdout, report)
	return err
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
