// Package projector consumes Duroxide history events from JetStream and
// keeps the ClickHouse read model up to date.
//
// Pipeline (one process), stages under one errgroup (run.go): a collector
// pulls messages, decodes and validates them into batches (size and time
// thresholds; a batch keeps growing while the writer is busy; collect.go);
// the writer dead-letters bad messages, inserts the raw history and
// re-derives every instance the batch touched from its whole history
// (cache, else read back from ClickHouse; prepare.go, derive.go); the
// finisher inserts the derived rows, records the report cells they touched,
// and only then acks the batch (finish.go). So batch N+2 is decoded while
// batch N+1's history is written and batch N's rows are. Beside them, a
// recounter brings the report cells up to date (recount.go), with core
// NATS queue-depth snapshots are stored (queues.go), and with DriftInterval
// the drift self-check compares sampled instances with their stored history
// and repairs their rows (drift.go).
//
// Exactly-once effect: nothing is acked before it is in ClickHouse, and every
// derived row is a function of the instance's complete event set, versioned
// by that set's size (ReplacingMergeTree). A re-delivered batch therefore
// rewrites identical rows, and no count, sum or percentile can change.
//
// Scale-out: processes split instances by hash (Partition i of Partitions n;
// partition.go). Each partition has its own durable consumer, filtered by
// the broker on the subjects of the slots it owns (the stream's subject
// transform tags them), and projects only the instances it owns, so an
// instance always has one writer and its cache is authoritative.
package projector

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
)

// Config configures a Projector. JS and Store are required.
type Config struct {
	JS    jetstream.JetStream
	Store Store
	// NC, when set, is used to subscribe to queue-depth snapshots on core NATS.
	NC *nats.Conn
	// Stream is the history stream (default events.DefaultStream).
	Stream string
	// Replicas is the replica count of the streams the projector creates
	// when they are missing (0 means 1; see EnsureStreams).
	Replicas int
	// Partition and Partitions split instances among processes; zero values
	// mean one process owns everything.
	Partition, Partitions int
	// BatchSize is the most messages per batch (default 20000).
	BatchSize int
	// FlushInterval is how long a batch may wait to fill (default 200ms).
	FlushInterval time.Duration
	// AckWait is the consumer's redelivery timeout (default 30s).
	AckWait time.Duration
	// CacheBytes bounds the instance cache (default 128 MiB).
	CacheBytes int64
	// RecountInterval is the least time between two recounts of the report
	// cells (default 1s; see recount.go): they lag the other tables by
	// about that much.
	RecountInterval time.Duration
	// DrainTimeout bounds the graceful drain after cancellation (default 30s).
	DrainTimeout time.Duration
	// StallTimeout is how long the pipeline may go without acking a batch
	// while messages wait before Health reports it stalled (default 2m).
	StallTimeout time.Duration
	// DriftInterval is how often the drift self-check (drift.go) compares
	// a sample of instances with their stored history and repairs what
	// drifted; 0 turns it off. It needs Drift.
	DriftInterval time.Duration
	// DriftSample is the most instances one drift check samples (default
	// 100; the suspects and the instances repaired last are checked too).
	DriftSample int
	// DriftGrace is how long an instance's rows may stay behind its
	// unchanged history before that is drift (default 2m: the projector
	// writes a batch's rows right after its history, but a batch in flight
	// when a process died waits AckWait to be re-delivered).
	DriftGrace time.Duration
	// Drift is the read model's side of the drift self-check.
	Drift DriftStore
	// Retention drops expired months of the read model (retention.go);
	// the zero value keeps everything.
	Retention Retention
	Logger    zerolog.Logger
}

// Stats are the projector's running counters.
type Stats struct {
	Received     atomic.Uint64 // messages pulled
	Projected    atomic.Uint64 // valid events written (own partition)
	Skipped      atomic.Uint64 // valid events of other partitions
	DeadLettered atomic.Uint64
	Unknown      atomic.Uint64 // events of unknown type (stored, not projected)
	Notices      atomic.Uint64 // source notices (own partition)
	Batches      atomic.Uint64
	Loaded       atomic.Uint64 // instances read back from ClickHouse
	DerivedRows  atomic.Uint64 // instances re-derived and written
	StoreErrors  atomic.Uint64
	Refused      atomic.Uint64 // events dead-lettered because the store refused them
	Splits       atomic.Uint64 // refused writes split in halves to isolate refused rows
	LastInsertNs atomic.Int64
	QueueSnaps   atomic.Uint64
	Recounts     atomic.Uint64 // recounts of report cells (each for one or more batches)
	RecountCells atomic.Uint64 // hour cells recounted
	// The drift self-check (drift.go).
	DriftChecked  atomic.Uint64 // instances compared with their history
	DriftFound    atomic.Uint64 // instances found drifted
	DriftRepaired atomic.Uint64 // drifted instances rewritten from their history
}

// Projector is one projector process's pipeline.
type Projector struct {
	cfg   Config
	log   zerolog.Logger
	stats Stats
	cache *instanceCache
	known *knownSet
	// cacheLen mirrors cache.len() for readers outside the writer goroutine.
	cacheLen atomic.Int64
	// toForget holds instances finish wants dropped from the cache.
	forgetMu sync.Mutex
	toForget []string
	// lag caches the consumer lag for /metrics and Health (lag.go).
	lag lagCache
	// health is the pipeline's heartbeat and first failure (health.go).
	health health
	// retention holds the retention stage's figures (retention.go).
	retention retentionStats
}

// New validates cfg and fills defaults.
func New(cfg Config) (*Projector, error) {
	if cfg.JS == nil || cfg.Store == nil {
		return nil, errors.New("projector: JS and Store are required")
	}
	if cfg.Stream == "" {
		cfg.Stream = events.DefaultStream
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	if cfg.Partitions > Slots {
		return nil, fmt.Errorf("projector: %d partitions, at most %d (the history subjects' slots)", cfg.Partitions, Slots)
	}
	if cfg.Partition < 0 || cfg.Partition >= cfg.Partitions {
		return nil, fmt.Errorf("projector: partition %d out of range 0..%d", cfg.Partition, cfg.Partitions-1)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 20000
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 200 * time.Millisecond
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = 128 << 20
	}
	if cfg.RecountInterval <= 0 {
		cfg.RecountInterval = time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 2 * time.Minute
	}
	if cfg.DriftInterval > 0 && cfg.Drift == nil {
		return nil, errors.New("projector: DriftInterval is set but Drift (the read model's drift port) is not")
	}
	if cfg.DriftSample <= 0 {
		cfg.DriftSample = 100
	}
	if cfg.DriftGrace <= 0 {
		cfg.DriftGrace = 2 * time.Minute
	}
	if err := cfg.Retention.validate(); err != nil {
		return nil, err
	}
	return &Projector{
		cfg:   cfg,
		log:   cfg.Logger.With().Str("component", "projector").Str("consumer", ConsumerName(cfg.Partition, cfg.Partitions)).Logger(),
		cache: newInstanceCache(cfg.CacheBytes),
	}, nil
}

// Stats returns the live counters.
func (p *Projector) Stats() *Stats { return &p.stats }
