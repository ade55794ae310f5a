// Package projector consumes Duroxide history events from JetStream and
// keeps the ClickHouse read model up to date.
//
// Pipeline (one process), three goroutines: a collector pulls messages,
// decodes and validates them into batches (size and time thresholds; a
// batch keeps growing while the writer is busy); the writer dead-letters bad
// messages, inserts the raw history and re-derives every instance the batch
// touched from its whole history (cache, else read back from ClickHouse);
// the finisher inserts the derived rows, records the report cells they
// touched, and only then acks the batch. So batch N+2 is decoded while batch
// N+1's history is written and batch N's rows are (see Run and prepare).
// Beside them, a recounter brings the report cells up to date (recount.go).
//
// Exactly-once effect: nothing is acked before it is in ClickHouse, and every
// derived row is a function of the instance's complete event set, versioned
// by that set's size (ReplacingMergeTree). A re-delivered batch therefore
// rewrites identical rows, and no count, sum or percentile can change.
//
// Scale-out: processes split instances by hash (Partition i of Partitions n).
// Each partition has its own durable consumer that sees every message and
// projects only the instances it owns, so an instance always has one writer
// and its cache is authoritative.
package projector

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/recount"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// Store is what the projector needs of the read model (chwrite.Writer).
type Store interface {
	WriteHistory(ctx context.Context, rows []chwrite.HistoryRow) error
	WriteRows(ctx context.Context, rows []projection.Rows) (recount.Cells, error)
	Recount(ctx context.Context, cells recount.Cells) error
	LoadHistories(ctx context.Context, instanceIDs []string) (map[string][]events.Event, error)
	WriteNotices(ctx context.Context, rows []chwrite.NoticeRow) error
	LoadNotices(ctx context.Context, instanceIDs []string) (map[string][]events.Notice, error)
	ScanInstanceIDs(ctx context.Context, fn func(id string) error) error
	WriteQueueSnapshots(ctx context.Context, snaps []events.QueueSnapshot) error
}

// Config configures a Projector. JS and Store are required.
type Config struct {
	JS    jetstream.JetStream
	Store Store
	// NC, when set, is used to subscribe to queue-depth snapshots on core NATS.
	NC *nats.Conn
	// Stream is the history stream (default events.DefaultStream).
	Stream string
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
	// Rejected reports whether a Store write error means the store refused
	// the rows themselves (retrying them cannot succeed), as opposed to the
	// store being unavailable. Such a batch is split in halves until the
	// refused events are isolated; they are dead-lettered with the store's
	// reason and the rest is written. Default: errors.Is(err, ErrRejected).
	Rejected func(error) bool
	Logger   zerolog.Logger
}

// ErrRejected marks a Store error caused by the data written rather than by
// the store's availability (see Config.Rejected).
var ErrRejected = errors.New("refused by the read model")

// ConsumerPrefix starts the name of every projector consumer; the query
// service derives the projection lag from the consumers with this prefix.
const ConsumerPrefix = events.ProjectorConsumerPrefix

// ConsumerName is the durable consumer of one partition.
func ConsumerName(partition, partitions int) string {
	if partitions <= 1 {
		return ConsumerPrefix
	}
	return fmt.Sprintf("%s-p%dof%d", ConsumerPrefix, partition, partitions)
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
	// lag caches the consumer lag for /metrics (lag.go).
	lag lagCache
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
	if cfg.Rejected == nil {
		cfg.Rejected = func(err error) bool { return errors.Is(err, ErrRejected) }
	}
	return &Projector{
		cfg:   cfg,
		log:   cfg.Logger.With().Str("component", "projector").Str("consumer", ConsumerName(cfg.Partition, cfg.Partitions)).Logger(),
		cache: newInstanceCache(cfg.CacheBytes),
	}, nil
}

// Stats returns the live counters.
func (p *Projector) Stats() *Stats { return &p.stats }

// owns reports whether this partition projects the instance.
func (p *Projector) owns(instanceID string) bool {
	if p.cfg.Partitions == 1 {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(instanceID))
	return int(h.Sum32()%uint32(p.cfg.Partitions)) == p.cfg.Partition
}

// EnsureStreams creates the history, recount and dead-letter streams if
// missing.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, stream string) error {
	if _, err := js.Stream(ctx, stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:     stream,
			Subjects: []string{events.StreamSubjects},
			Storage:  jetstream.FileStorage,
			// No per-message limit of its own: the server's max payload
			// governs, so oversized messages reach us and are dead-lettered.
			MaxMsgSize: -1,
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", stream, err)
		}
	} else if err != nil {
		return fmt.Errorf("look up stream %s: %w", stream, err)
	}
	rs := RecountStream(stream)
	if _, err := js.Stream(ctx, rs); errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        rs,
			Description: "Duroscope: report cells to recount (recorded by projectors, removed once recounted)",
			Subjects:    []string{recountSubject(stream)},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.WorkQueuePolicy,
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create recount stream %s: %w", rs, err)
		}
	} else if err != nil {
		return fmt.Errorf("look up stream %s: %w", rs, err)
	}
	dlq := stream + "_DLQ"
	if _, err := js.Stream(ctx, dlq); errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:       dlq,
			Subjects:   []string{events.DLQSubject},
			Storage:    jetstream.FileStorage,
			MaxMsgSize: -1,
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create dead-letter stream %s: %w", dlq, err)
		}
	} else if err != nil {
		return fmt.Errorf("look up stream %s: %w", dlq, err)
	}
	return nil
}

// Run projects until ctx is cancelled, then drains the batch in flight
// (bounded by DrainTimeout) and returns nil. It returns an error only when
// it cannot start.
func (p *Projector) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = nil // stopped while starting: a graceful stop, not a failure
		}
	}()
	if err := EnsureStreams(ctx, p.cfg.JS, p.cfg.Stream); err != nil {
		return err
	}
	if err := p.seedKnown(ctx); err != nil {
		return err
	}
	name := ConsumerName(p.cfg.Partition, p.cfg.Partitions)
	cons, err := p.cfg.JS.CreateOrUpdateConsumer(ctx, p.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "Duroscope projector: history events into the ClickHouse read model",
		FilterSubject: events.StreamSubjects,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// Explicit acks, one per message. AckAll (one ack per batch) was
		// tried and is unsafe: messages delivered to a process that died, or
		// lost with a dropped connection, sit below later messages, and
		// acking a later one would ack them unwritten. The e2e kill test
		// caught exactly that.
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       p.cfg.AckWait,
		MaxAckPending: 4 * p.cfg.BatchSize,
		MaxDeliver:    -1,
	})
	if err != nil {
		return fmt.Errorf("create consumer %s on %s: %w", name, p.cfg.Stream, err)
	}
	if p.cfg.NC != nil {
		stop, err := p.subscribeQueues(ctx)
		if err != nil {
			return err
		}
		defer stop()
	}
	// The client-side buffer only has to keep the pipe full while the
	// collector drains it; it need not hold a whole batch (each buffered
	// message costs ~1 KiB with its decoded headers).
	it, err := cons.Messages(jetstream.PullMaxMessages(min(p.cfg.BatchSize, pullBuffer)))
	if err != nil {
		return fmt.Errorf("consume %s: %w", name, err)
	}
	p.log.Info().Str("stream", p.cfg.Stream).Int("batch_size", p.cfg.BatchSize).
		Dur("flush_interval", p.cfg.FlushInterval).Int("partitions", p.cfg.Partitions).Msg("projecting")

	// Unbuffered: a batch is handed over only when the writer is ready for
	// it, so that until then it can keep growing (see collect).
	batches := make(chan *batch)
	go func() {
		defer close(batches)
		p.collect(ctx, it, batches)
	}()
	// The writer keeps going after ctx is cancelled to drain what was
	// collected, but no longer than DrainTimeout.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		<-ctx.Done()
		t := time.NewTimer(p.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			p.log.Warn().Msg("drain timeout: abandoning the batch in flight (it will be re-delivered)")
			cancel()
		case <-wctx.Done():
		}
	}()
	// Two stages: this goroutine writes a batch's history and derives its
	// rows (prepare) while the finisher writes the previous batch's derived
	// rows and acks it (finish). Unbuffered, so at most one batch waits
	// between them.
	// Beside them, the recounter brings the report cells up to date
	// (recount.go).
	rc, err := newRecounter(ctx, p)
	if err != nil {
		return err
	}
	recountDone, recounted := make(chan struct{}), make(chan error, 1)
	go func() { recounted <- rc.run(wctx, recountDone) }()
	prepared := make(chan *pending)
	finished := make(chan error, 1)
	failed := make(chan struct{}) // closed at the finisher's first error
	go func() {
		var err error
		for pj := range prepared {
			if err == nil {
				if err = p.finish(wctx, pj); err != nil {
					close(failed)
				}
			}
		}
		finished <- err
	}()
	var werr error
	for b := range batches {
		pj, err := p.prepare(wctx, b)
		if err == nil {
			select {
			case prepared <- pj:
			case <-failed:
				err = errors.New("the previous batch failed")
			}
		}
		if err != nil {
			werr = err
			// Stop pulling: the iterator would otherwise hand us later
			// messages while earlier ones are unacked.
			it.Stop()
			for range batches {
			}
			break
		}
	}
	close(prepared)
	if err := <-finished; err != nil && werr == nil {
		werr = err
	}
	// Recount what the batches written so far touched.
	close(recountDone)
	if err := <-recounted; err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		p.log.Warn().Err(werr).Msg("batch not acked; it will be re-delivered")
	}
	it.Stop()
	p.log.Info().Uint64("projected", p.stats.Projected.Load()).Uint64("dead_lettered", p.stats.DeadLettered.Load()).Msg("projector stopped")
	return nil
}

func (p *Projector) seedKnown(ctx context.Context) error {
	start := time.Now()
	var ids []string
	err := p.cfg.Store.ScanInstanceIDs(ctx, func(id string) error {
		if p.owns(id) {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan known instances: %w", err)
	}
	p.known = newKnownSet(max(2*len(ids), 1<<20), 0.001)
	for _, id := range ids {
		p.known.Add(id)
	}
	p.log.Info().Int("instances", len(ids)).Int("filter_bytes", p.known.Bytes()).Dur("took", time.Since(start)).Msg("known instances loaded")
	return nil
}

// batch is one unit of work: everything is acked together after it is
// written.
type batch struct {
	good []chwrite.HistoryRow
	// notices are the batch's source notices (docs/deletions.md); they are
	// stored and derived like events.
	notices []chwrite.NoticeRow
	// goodMsgs[i] is the message good[i] came from, to dead-letter it if
	// the store refuses it.
	goodMsgs []msgRef
	bad      []badMsg
	// acks holds the ack subject of every message of the batch; each is
	// acked once the batch is written.
	acks []string
	msgs int
}

// msgRef is what a batch keeps of a message it may dead-letter: not the
// jetstream.Msg, which carries nats.go's decoded headers (~1 KiB a message,
// held for the life of the batch), but its subject and payload.
type msgRef struct {
	subject string
	data    []byte
}

type badMsg struct {
	msg    msgRef
	seq    uint64
	reason string
}

// collect pulls messages into batches until ctx is cancelled.
//
// A batch is offered to the writer once it is full (BatchSize) or
// FlushInterval after its first message. While the writer is still busy
// with the previous batch, the offered batch keeps growing (up to
// BatchSize) instead of waiting complete in a queue: a backlog is thus
// written in few large batches — every INSERT creates a part per table,
// and on ClickHouse that per-part cost dominates small batches — while a
// trickle still goes out every FlushInterval.
func (p *Projector) collect(ctx context.Context, it jetstream.MessagesContext, out chan<- *batch) {
	for ctx.Err() == nil {
		b := &batch{}
		// The first message may take as long as it likes; the rest of the
		// batch must arrive within FlushInterval of it. One context per
		// batch, not per message (NextMaxWait and NextContext exclude each
		// other, and a timer per message would cost at 100k+ msgs/s).
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if p.stopCollecting(ctx, err) {
				return
			}
			continue
		}
		p.add(b, msg)
		p.fill(ctx, it, b, p.cfg.FlushInterval)
		// Offer the batch; until the writer takes it, keep adding what
		// arrives, re-offering every growPoll.
		for b.msgs < p.cfg.BatchSize && ctx.Err() == nil {
			select {
			case out <- b:
				b = nil
			default:
			}
			if b == nil {
				break
			}
			p.fill(ctx, it, b, growPoll)
		}
		if b != nil {
			out <- b
		}
	}
}

// pullBuffer bounds the messages the client pulls ahead of the collector.
const pullBuffer = 10000

// growPoll is how long a batch offered to a busy writer grows before it is
// offered again.
const growPoll = 5 * time.Millisecond

// fill adds messages to b until it is full or d has passed.
func (p *Projector) fill(ctx context.Context, it jetstream.MessagesContext, b *batch, d time.Duration) {
	bctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for b.msgs < p.cfg.BatchSize {
		msg, err := it.Next(jetstream.NextContext(bctx))
		if err != nil {
			if bctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				p.log.Warn().Err(err).Msg("pull failed")
			}
			return
		}
		p.add(b, msg)
	}
}

// stopCollecting reports whether a Next error ends collection.
func (p *Projector) stopCollecting(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
		return true
	}
	p.log.Warn().Err(err).Msg("pull failed; retrying")
	select {
	case <-ctx.Done():
		return true
	case <-time.After(100 * time.Millisecond):
		return false
	}
}

func (p *Projector) add(b *batch, msg jetstream.Msg) {
	b.msgs++
	p.stats.Received.Add(1)
	var seq uint64
	if md, err := msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	// Acked by publishing to its reply subject, as jetstream.Msg.Ack does.
	b.acks = append(b.acks, msg.Reply())
	ref := msgRef{subject: msg.Subject(), data: msg.Data()}
	m, err := events.DecodeMessage(ref.data)
	if err != nil {
		b.bad = append(b.bad, badMsg{msg: ref, seq: seq, reason: err.Error()})
		return
	}
	if !p.owns(m.InstanceID()) {
		p.stats.Skipped.Add(1)
		return
	}
	if m.IsNotice {
		p.stats.Notices.Add(1)
		b.notices = append(b.notices, chwrite.NoticeRow{Notice: &m.Notice, StreamSeq: seq})
		return
	}
	ev := m.Event
	if !ev.Known {
		p.stats.Unknown.Add(1)
	}
	b.good = append(b.good, chwrite.HistoryRow{Event: &ev, StreamSeq: seq})
	b.goodMsgs = append(b.goodMsgs, ref)
}

// pending is a batch between the two write stages: its history is written
// and its rows derived, not yet written; nothing is acked.
type pending struct {
	b                 *batch
	rows              []projection.Rows
	start             time.Time
	tHistory, tDerive time.Duration
}

// A batch is made durable in two steps, run as a pipeline (see Run):
// prepare dead-letters its bad messages, writes its history and derives the
// rows of every instance it touched; finish writes those rows and only then
// acks the batch. prepare of the next batch overlaps finish of this one;
// the history of a batch may thus be written before the previous batch's
// rows, which changes nothing: until acked, a batch is re-delivered, and
// rows depend only on each instance's whole event set. Both retry store
// errors with bounded exponential backoff until they succeed or ctx ends;
// rows the store refuses (Config.Rejected) are isolated and dead-lettered
// instead. The cache is touched only by prepare.
func (p *Projector) prepare(ctx context.Context, b *batch) (*pending, error) {
	pj := &pending{b: b, start: time.Now()}
	for _, bad := range b.bad {
		if err := p.retry(ctx, b, "dead-letter", func() error { return p.deadLetter(ctx, bad) }); err != nil {
			return nil, err
		}
	}
	if len(b.good) > 0 {
		t := time.Now()
		refused, err := p.isolate(ctx, b, "insert history", len(b.good), func(lo, hi int) error {
			return p.cfg.Store.WriteHistory(ctx, b.good[lo:hi])
		})
		if err != nil {
			return nil, err
		}
		if err := p.dropRefused(ctx, b, refused); err != nil {
			return nil, err
		}
		pj.tHistory = time.Since(t)
	}
	if len(b.notices) > 0 {
		// Notices are validated values of a fixed shape: the store has no
		// reason to refuse one, so a failure is unavailability, retried.
		if err := p.retry(ctx, b, "insert notices", func() error { return p.cfg.Store.WriteNotices(ctx, b.notices) }); err != nil {
			return nil, err
		}
	}
	if len(b.good) > 0 || len(b.notices) > 0 {
		t := time.Now()
		rows, err := p.derive(ctx, b)
		if err != nil {
			return nil, err
		}
		pj.rows = rows
		pj.tDerive = time.Since(t)
	}
	return pj, nil
}

// finish writes a prepared batch's rows, records the report cells they
// touched for the recounter, then acks the batch.
func (p *Projector) finish(ctx context.Context, pj *pending) error {
	b, rows := pj.b, pj.rows
	var (
		tDerived time.Duration
		cells    recount.Cells
	)
	if len(rows) > 0 {
		t := time.Now()
		if len(rows) > 0 {
			refused, err := p.isolate(ctx, b, "insert derived rows", len(rows), func(lo, hi int) error {
				// Cells of failed attempts too: they may have written facts.
				c, err := p.cfg.Store.WriteRows(ctx, rows[lo:hi])
				cells.Add(c)
				return err
			})
			if err != nil {
				return err
			}
			if len(refused) > 0 {
				// Derived rows are refused per instance: dead-letter that
				// instance's events of this batch with the reason, so the
				// refusal is on record and the events can be re-driven.
				byInstance := map[string]string{}
				for i, reason := range refused {
					id := rows[i].Instance.InstanceID
					byInstance[id] = "derived rows of instance " + strconv.Quote(id) + ": " + reason
					// Its events are in the cache (and the history table)
					// but not in its rows: a re-drive must re-derive it.
					// (prepare owns the cache; it forgets the instance
					// before its next derivation.)
					p.forgetLater(id)
				}
				why := map[int]string{}
				for i, r := range b.good {
					if reason, ok := byInstance[r.Event.InstanceID]; ok {
						why[i] = reason
					}
				}
				if err := p.dropRefused(ctx, b, why); err != nil {
					return err
				}
			}
			p.stats.DerivedRows.Add(uint64(len(rows) - len(refused)))
		}
		tDerived = time.Since(t)
	}
	p.stats.Projected.Add(uint64(len(b.good)))
	p.stats.Batches.Add(1)
	p.stats.LastInsertNs.Store(int64(time.Since(pj.start)))
	p.log.Debug().Int("messages", b.msgs).Int("events", len(b.good)).Int("bad", len(b.bad)).Dur("took", time.Since(pj.start)).
		Dur("history", pj.tHistory).Dur("derive", pj.tDerive).Dur("derived", tDerived).Msg("batch written")
	if cells.Len() > 0 {
		if err := p.retry(ctx, b, "record report cells", func() error { return p.recordCells(ctx, cells) }); err != nil {
			return err
		}
	}
	p.ack(b.acks)
	return nil
}

// forgetLater queues an instance to be dropped from the cache by prepare,
// which owns the cache (finish runs concurrently with it).
func (p *Projector) forgetLater(id string) {
	p.forgetMu.Lock()
	p.toForget = append(p.toForget, id)
	p.forgetMu.Unlock()
}

// errRefused carries a write error that Config.Rejected classified as a
// refusal of the rows written.
type errRefused struct{ err error }

func (e *errRefused) Error() string { return e.err.Error() }
func (e *errRefused) Unwrap() error { return e.err }

// isolate writes rows [0, n) with write, retrying unavailability like
// retry. When the store refuses a range, the range is split in halves and
// each half written on its own, down to single rows: it returns the rows
// refused on their own, with the store's reason. Everything else is
// written. The cost is O(k log n) writes for k refused rows.
func (p *Projector) isolate(ctx context.Context, b *batch, what string, n int, write func(lo, hi int) error) (map[int]string, error) {
	refused := map[int]string{}
	var split func(lo, hi int) error
	split = func(lo, hi int) error {
		err := p.retryWrite(ctx, b, what, func() error { return write(lo, hi) })
		var rf *errRefused
		if err == nil || !errors.As(err, &rf) {
			return err
		}
		if hi-lo == 1 {
			refused[lo] = oneLine(rf.err.Error())
			return nil
		}
		p.stats.Splits.Add(1)
		mid := lo + (hi-lo)/2
		p.log.Warn().Err(rf.err).Str("op", what).Int("rows", hi-lo).Msg("write refused by the read model; splitting it to isolate the refused rows")
		if err := split(lo, mid); err != nil {
			return err
		}
		return split(mid, hi)
	}
	if err := split(0, n); err != nil {
		return nil, err
	}
	return refused, nil
}

// dropRefused dead-letters the good events whose index is in why (with
// that reason) and removes them from the batch, so that they are neither
// derived nor counted as projected. They stay in b.acks and are acked.
func (p *Projector) dropRefused(ctx context.Context, b *batch, why map[int]string) error {
	if len(why) == 0 {
		return nil
	}
	keep, keepMsgs := b.good[:0:0], b.goodMsgs[:0:0]
	for i, r := range b.good {
		reason, refused := why[i]
		if !refused {
			keep, keepMsgs = append(keep, r), append(keepMsgs, b.goodMsgs[i])
			continue
		}
		bad := badMsg{msg: b.goodMsgs[i], seq: r.StreamSeq, reason: "refused by the read model: " + reason}
		if err := p.retry(ctx, b, "dead-letter", func() error { return p.deadLetter(ctx, bad) }); err != nil {
			return err
		}
		p.stats.Refused.Add(1)
	}
	b.good, b.goodMsgs = keep, keepMsgs
	return nil
}

// derive re-derives every instance the batch touched.
func (p *Projector) derive(ctx context.Context, b *batch) ([]projection.Rows, error) {
	p.forgetMu.Lock()
	for _, id := range p.toForget {
		p.cache.forget(id)
	}
	p.toForget = p.toForget[:0]
	p.forgetMu.Unlock()
	byInstance := make(map[string][]*events.Event, len(b.good)/4+1)
	for _, r := range b.good {
		byInstance[r.Event.InstanceID] = append(byInstance[r.Event.InstanceID], r.Event)
	}
	noticesOf := make(map[string][]events.Notice)
	for _, r := range b.notices {
		id := r.Notice.InstanceID
		noticesOf[id] = append(noticesOf[id], *r.Notice)
		if _, ok := byInstance[id]; !ok {
			byInstance[id] = nil
		}
	}
	var toLoad []string
	loadedNow := make(map[string]bool)
	for id := range byInstance {
		if _, ok := p.cache.get(id); !ok && p.known.MayContain(id) {
			toLoad = append(toLoad, id)
			loadedNow[id] = true
		}
	}
	if len(toLoad) > 0 {
		var loaded map[string][]events.Event
		err := p.retry(ctx, b, "load histories", func() error {
			var err error
			loaded, err = p.cfg.Store.LoadHistories(ctx, toLoad)
			return err
		})
		if err != nil {
			return nil, err
		}
		var loadedNotices map[string][]events.Notice
		err = p.retry(ctx, b, "load notices", func() error {
			var err error
			loadedNotices, err = p.cfg.Store.LoadNotices(ctx, toLoad)
			return err
		})
		if err != nil {
			return nil, err
		}
		p.stats.Loaded.Add(uint64(len(toLoad)))
		for _, id := range toLoad {
			ci := p.cache.put(id)
			for _, e := range loaded[id] {
				p.cache.add(ci, e)
			}
			for _, n := range loadedNotices[id] {
				p.cache.addNotice(ci, n)
			}
		}
	}
	rows := make([]projection.Rows, 0, len(byInstance))
	var buf []events.Event
	for id, evs := range byInstance {
		ci, ok := p.cache.get(id)
		changed := false
		if !ok {
			ci = p.cache.put(id)
			changed = true
		}
		for _, e := range evs {
			if p.cache.add(ci, *e) {
				changed = true
			}
		}
		for _, n := range noticesOf[id] {
			if p.cache.addNotice(ci, n) {
				changed = true
			}
		}
		// Loaded instances were read after this batch's history insert, so
		// they may hold all of the batch already: derive them regardless.
		if !changed && !loadedNow[id] {
			continue // only duplicates of events already projected
		}
		buf = ci.history(buf)
		r, err := projection.Derive(buf, ci.notices...)
		if err != nil {
			return nil, fmt.Errorf("derive %q: %w", id, err)
		}
		rows = append(rows, r)
		p.known.Add(id)
	}
	keep := make(map[string]struct{}, len(byInstance))
	for id := range byInstance {
		keep[id] = struct{}{}
	}
	p.cache.evict(keep)
	p.cacheLen.Store(int64(p.cache.len()))
	return rows, nil
}

// forget drops an instance from the cache, so that its next event reloads
// its history from ClickHouse and re-derives it (used when the store refused
// its derived rows).
func (c *instanceCache) forget(id string) {
	if el, ok := c.byID[id]; ok {
		c.bytes -= el.Value.(*cachedInstance).bytes
		c.lru.Remove(el)
		delete(c.byID, id)
	}
}

// deadLetter publishes a bad message to the DLQ stream and waits for the
// stream to store it, so nothing is lost when the batch is then acked.
func (p *Projector) deadLetter(ctx context.Context, bad badMsg) error {
	m := nats.NewMsg(events.DLQSubject)
	m.Data = bad.msg.data
	m.Header.Set("Duroscope-Error", oneLine(bad.reason))
	m.Header.Set("Duroscope-Original-Subject", bad.msg.subject)
	m.Header.Set("Duroscope-Original-Sequence", strconv.FormatUint(bad.seq, 10))
	// Re-delivery of the same bad message is deduplicated by the DLQ stream.
	m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("%s/%d", p.cfg.Stream, bad.seq))
	if _, err := p.cfg.JS.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish to %s: %w", events.DLQSubject, err)
	}
	p.stats.DeadLettered.Add(1)
	p.log.Warn().Uint64("seq", bad.seq).Str("subject", bad.msg.subject).Str("reason", bad.reason).Msg("dead-lettered")
	return nil
}

func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	if len(b) > 1024 {
		b = b[:1024]
	}
	return string(b)
}

// retry runs fn until it succeeds, with exponential backoff from 100ms to
// 10s. While it waits it tells JetStream the batch is still in progress so
// it is not re-delivered to another puller meanwhile.
func (p *Projector) retry(ctx context.Context, b *batch, what string, fn func() error) error {
	return p.retryLoop(ctx, func() { p.touch(b.acks) }, what, fn, false)
}

// retryWrite is retry for store writes: an error Config.Rejected classifies
// as a refusal is returned at once, as *errRefused, instead of retried.
func (p *Projector) retryWrite(ctx context.Context, b *batch, what string, fn func() error) error {
	return p.retryLoop(ctx, func() { p.touch(b.acks) }, what, fn, true)
}

// retryLoop runs fn until it succeeds; touch keeps the messages waiting for
// it from re-delivery meanwhile.
func (p *Projector) retryLoop(ctx context.Context, touch func(), what string, fn func() error, refusable bool) error {
	backoff := 100 * time.Millisecond
	lastProgress := time.Now()
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			if attempt > 1 {
				p.log.Info().Str("op", what).Int("attempts", attempt).Msg("recovered")
			}
			return nil
		}
		if refusable && p.cfg.Rejected(err) {
			return &errRefused{err: err}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		p.stats.StoreErrors.Add(1)
		p.log.Warn().Err(err).Str("op", what).Int("attempt", attempt).Dur("backoff", backoff).Msg("retrying")
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(backoff):
		}
		if time.Since(lastProgress) > p.cfg.AckWait/3 {
			touch()
			lastProgress = time.Now()
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// touch resets the ack timer of the messages acks.
func (p *Projector) touch(acks []string) {
	nc := p.cfg.JS.Conn()
	for _, reply := range acks {
		_ = nc.Publish(reply, []byte(ackProgress))
	}
}

// JetStream's ack protocol bodies (what jetstream.Msg.Ack and InProgress
// publish to a message's reply subject).
const (
	ackAck      = "+ACK"
	ackProgress = "+WPI"
)

// ack acks the messages acks. A lost ack only means re-delivery, which
// rewrites the same rows.
func (p *Projector) ack(acks []string) {
	nc := p.cfg.JS.Conn()
	for _, reply := range acks {
		if err := nc.Publish(reply, []byte(ackAck)); err != nil {
			p.log.Warn().Err(err).Msg("ack failed; the message will be re-delivered and rewritten identically")
			return
		}
	}
	// Send them now (one round trip per batch), not whenever the client's
	// buffer fills: unsent acks are re-deliveries after a stop.
	if err := nc.Flush(); err != nil {
		p.log.Warn().Err(err).Msg("flushing acks failed; unsent ones will be re-delivered and rewritten identically")
	}
}
