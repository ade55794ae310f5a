// Package connector carries a Duroxide provider's store into the history
// stream (EVENTS.md, API.md "Sources"): it publishes every history row
// already stored (backfill), then follows new rows (tail), reports hard
// deletions and prunes with source notices (reconciliation), and publishes
// queue-depth snapshots. The store is reached through the Source port; the
// SQLite adapter is in the sqlite sub-package.
//
// # Nothing lost across a crash
//
// Rows are published in batches with JetStream async publish, each with
// its Nats-Msg-Id. The position (below) is written to the KV bucket only
// after JetStream acknowledged every message of every batch up to it, and
// the per-instance state a batch changed is written in that same batch. A
// SIGKILL at any moment therefore leaves a stored position at or behind
// what the stream holds; the restart re-publishes the rows after it, which
// the stream's duplicate window drops and the projector's idempotence
// absorbs beyond it.
//
// # Resume is exact although rowids are reused
//
// A position alone is not safe: SQLite gives a new row max(rowid)+1, so
// once the rows with the highest rowids are deleted (an instance deleted
// or pruned whose rows were the newest), their rowids are handed out again
// to new rows, which "rowid > position" would skip; VACUUM may renumber
// every row. The position is therefore a ladder of anchors: (rowid,
// instance_id, execution_id, event_id, hash of event_data) of published
// rows at doubling distances below the newest. Every read, on resume and
// on every poll of the tail, first checks the anchors newest first inside
// the same read snapshot as the rows it then reads, and continues after the
// newest one whose row still holds (same key, same bytes), or from the
// start when none does. This is exact: while the anchor's row exists,
// max(rowid) is at least its rowid, so every row inserted since it was
// read got a higher rowid and is read; a row that no longer holds means
// rowids at or below it may have been reused, so the connector reads again
// from a lower anchor that holds, re-publishing a little (harmless).
//
// # Deletions and prunes
//
// Duroxide's delete_instance and prune_executions are hard deletes. The
// connector remembers, per instance id, the executions it has published
// (and the start time of execution 1, which tells one incarnation of an id
// from the next), in memory and in the KV bucket (so a restart still knows
// what an instance deleted while it was down had published). Every
// ReconcileInterval it walks the store's inventory in pages, each read in
// the same snapshot as a tail read that reached the end of the history
// (so every row of that snapshot has been published before the comparison:
// no race with new rows); an id it published that the store no longer has
// gets an InstanceDeleted, executions it published that the store no
// longer has get an ExecutionsPruned. An id reused after its deletion is
// caught when the new execution 1 starts (an InstanceDeleted stamped just
// before it, if reconciliation had not seen the deletion yet), and its
// events carry the msg-id suffix of EVENTS.md.
package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/projector"
)

// Config configures a Connector. Source and NC are required; every other
// zero value means the default given.
type Config struct {
	Source Source
	NC     *nats.Conn
	// Stream is the history stream (default events.DefaultStream), created
	// if missing exactly as the projector creates it.
	Stream string
	// Bucket is the KV bucket of the position and the per-instance state
	// (default "<Stream>_CONNECTOR"). One connector per bucket.
	Bucket string
	// Replicas is the replica count of the streams and the KV bucket the
	// connector creates when they are missing (0 means 1).
	Replicas int
	// BatchSize is the most rows per read (default 5000).
	BatchSize int
	// InventoryPage is the most instances per inventory read (default 5000).
	InventoryPage int
	// PollInterval is the wait between reads once caught up (default 500ms).
	PollInterval time.Duration
	// ReconcileInterval is the time between the starts of two
	// reconciliations (default 30s).
	ReconcileInterval time.Duration
	// NoReconcile turns reconciliation off, for a source that reports
	// deletions and prunes itself as notice rows (Postgres cdc).
	NoReconcile bool
	// QueueInterval is the time between queue-depth snapshots; 0 = none.
	QueueInterval time.Duration
	// AckTimeout bounds the wait for one ack (default 30s); Retries is how
	// often a message is published before the connector gives up (default 5).
	AckTimeout time.Duration
	Retries    int
	// CheckpointMin is the least number of state changes since the last
	// checkpoint (checkpoint.go) after which the connector, once caught
	// up, writes a new one; it waits for a quarter of the state to change
	// too (default 50,000).
	CheckpointMin int
	// ReadRetry is how long reads of the source may keep failing before
	// Run fails (default 1 minute): a store that restarts or holds a lock
	// for a while is waited for (with a growing pause between attempts,
	// at least 100ms, at most 5s), one that stays unreadable stops the
	// connector.
	ReadRetry time.Duration
	// Once publishes everything present, reconciles once, waits for the
	// stream to store it all and returns (API.md --once).
	Once bool
	// Progress, when set, is a terminal that shows the backfill's progress
	// bar; otherwise the backfill logs its progress every ProgressEvery
	// (default 10s).
	Progress      io.Writer
	ProgressEvery time.Duration
	Logger        zerolog.Logger
}

// Stats are the connector's running counters and gauges (API.md "Sources":
// rows read, events published, notices published, the source position and
// the lag).
type Stats struct {
	RowsRead         atomic.Uint64
	EventsPublished  atomic.Uint64 // rows acknowledged by the stream
	NoticesPublished atomic.Uint64
	Deduplicated     atomic.Uint64 // acks flagged duplicate (re-published overlap)
	Retried          atomic.Uint64
	Repaired         atomic.Uint64 // OrchestrationFailed rows given their key
	Oversized        atomic.Uint64 // rows over the server's max payload, sent truncated to the dead-letter stream
	Rewinds          atomic.Uint64 // reads that found an anchor gone and read again from a lower one
	Reconciliations  atomic.Uint64
	ReconcileNs      atomic.Int64 // duration of the last reconciliation
	QueueSnapshots   atomic.Uint64
	Position         atomic.Uint64 // stored position (rowid)
	Head             atomic.Uint64 // highest position of the last read
	LagSeconds       atomic.Int64  // age of the newest published row while behind, 0 when caught up
	Instances        atomic.Int64  // ids with state
	CaughtUp         atomic.Bool   // the backfill is over
}

// Summary is what Run did, for --once.
type Summary struct {
	Rows, Notices uint64
	Position      uint64
	Instances     int
	Elapsed       time.Duration
}

// Connector is one connector process's pipeline.
type Connector struct {
	cfg   Config
	log   zerolog.Logger
	stats Stats
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	pub   publisher
	state *published
	// ladder holds the anchors of rows sent (acked or in flight).
	ladder ladder
	rec    reconciliation
	prog   *progress
	// ckpt is the newest state checkpoint (Chunks 0: none);
	// stateChanges counts the id states written since.
	ckpt         checkpointManifest
	stateChanges int
	// journalID and journalSeq name the journal messages: unique per
	// process start, in order within it.
	journalID  string
	journalSeq uint64
}

// reconciliation is the state of one pass over the store's inventory.
type reconciliation struct {
	active    bool
	ids       []string // published ids at the pass's start, ascending
	idx       int
	after     string
	pageLo    string // the current page's range is (pageLo, after], or (pageLo, ∞) for the last
	started   time.Time
	lastStart time.Time
	notices   int
}

// New validates cfg and fills defaults.
func New(cfg Config) (*Connector, error) {
	if cfg.Source == nil || cfg.NC == nil {
		return nil, errors.New("connector: Source and NC are required")
	}
	if cfg.Stream == "" {
		cfg.Stream = events.DefaultStream
	}
	if cfg.Bucket == "" {
		cfg.Bucket = cfg.Stream + "_CONNECTOR"
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	if cfg.InventoryPage <= 0 {
		cfg.InventoryPage = 5000
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = 30 * time.Second
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 30 * time.Second
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 5
	}
	if cfg.ReadRetry <= 0 {
		cfg.ReadRetry = time.Minute
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 10 * time.Second
	}
	if cfg.CheckpointMin <= 0 {
		cfg.CheckpointMin = 50_000
	}
	// batchesInFlight batches (rows, notices and state puts) may await
	// their acks while the next one is published.
	js, err := jetstream.New(cfg.NC, jetstream.WithPublishAsyncMaxPending(2*(batchesInFlight+1)*(cfg.BatchSize+cfg.InventoryPage)))
	if err != nil {
		return nil, fmt.Errorf("connector: jetstream: %w", err)
	}
	c := &Connector{cfg: cfg, js: js, state: newPublished(), journalID: strconv.FormatInt(time.Now().UnixNano(), 36),
		log: cfg.Logger.With().Str("component", "connector").Logger()}
	c.pub = publisher{js: js, ackTimeout: cfg.AckTimeout, retries: cfg.Retries, stats: &c.stats}
	return c, nil
}

// Stats returns the live counters.
func (c *Connector) Stats() *Stats { return &c.stats }

// Run connects the stream and the KV bucket, loads the stored position and
// state, and publishes until ctx ends (nil) or a step fails (its error).
// With Once it returns after the first complete pass.
func (c *Connector) Run(ctx context.Context) (Summary, error) {
	started := time.Now()
	if err := projector.EnsureStreams(ctx, c.js, c.cfg.Stream, c.cfg.Replicas); err != nil {
		return Summary{}, err
	}
	kv, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      c.cfg.Bucket,
		Description: "Duroscope connector: source position and what was published per instance",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(c.cfg.Replicas, 1),
	})
	if err != nil {
		return Summary{}, fmt.Errorf("KV bucket %s: %w", c.cfg.Bucket, err)
	}
	c.kv = kv
	if err := c.load(ctx); err != nil {
		return Summary{}, err
	}
	g, gctx := errgroup.WithContext(ctx)
	if c.cfg.QueueInterval > 0 && !c.cfg.Once {
		g.Go(func() error { return c.publishQueues(gctx) })
	}
	g.Go(func() error { return c.loop(gctx) })
	err = g.Wait()
	if c.prog != nil {
		c.prog.finish()
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil // asked to stop
	}
	if err == nil && c.cfg.Once && c.cfg.QueueInterval > 0 {
		err = c.publishQueueSnapshot(ctx)
	}
	return Summary{
		Rows: c.stats.EventsPublished.Load(), Notices: c.stats.NoticesPublished.Load(),
		Position: c.stats.Position.Load(), Instances: len(c.state.m), Elapsed: time.Since(started),
	}, err
}

// positionKey is the KV key of the anchor ladder.
const positionKey = "position"

// load reads the stored position and per-instance state.
func (c *Connector) load(ctx context.Context) error {
	t0 := time.Now()
	e, err := c.kv.Get(ctx, positionKey)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return fmt.Errorf("read the stored position: %w", err)
	default:
		var p storedPosition
		if err := jsonUnmarshal(e.Value(), &p); err != nil {
			return fmt.Errorf("stored position %q: %w", e.Value(), err)
		}
		c.ladder.a = p.Anchors
		c.stats.Position.Store(c.ladder.head())
	}
	seq, err := c.loadCheckpoint(ctx)
	if err != nil {
		return err
	}
	if err := c.loadState(ctx, seq); err != nil {
		return fmt.Errorf("read the published state: %w", err)
	}
	c.stats.Instances.Store(int64(len(c.state.m)))
	c.log.Info().Uint64("position", c.ladder.head()).Int("instances", len(c.state.m)).
		Int("checkpointed", c.ckpt.Instances).Int("changes_after_checkpoint", c.stateChanges).
		Dur("took", time.Since(t0)).Msg("resuming")
	return nil
}

// loadState reads the instances' state from the bucket's stream after
// sequence after (0: from the start) with a pull consumer (a KV watcher
// pushes, and a million keys overrun it).
func (c *Connector) loadState(ctx context.Context, after uint64) error {
	stream, err := c.js.Stream(ctx, "KV_"+c.cfg.Bucket)
	if err != nil {
		return err
	}
	prefix := "$KV." + c.cfg.Bucket + "."
	// The bucket keeps one value per key (History 1), so reading its
	// stream gives each key's newest value once; a last-per-subject or
	// filtered consumer would make the server index a million subjects
	// first (measured: over a minute).
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if after > 0 {
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: after + 1}
	}
	cons, err := stream.OrderedConsumer(cctx, cfg)
	if err != nil {
		return err
	}
	info, err := cons.Info(cctx)
	if err != nil {
		return err
	}
	for left := info.NumPending; left > 0; {
		batch, err := cons.Fetch(int(min(left, 10000)), jetstream.FetchMaxWait(30*time.Second))
		if err != nil {
			return err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			key := strings.TrimPrefix(m.Subject(), prefix)
			deleted := m.Headers().Get("KV-Operation") != ""
			switch {
			case strings.HasPrefix(key, journalPrefix):
				if deleted {
					continue
				}
				n, err := decodeChunk(m.Data(), c.state.m)
				if err != nil {
					return fmt.Errorf("journal %s: %w", key, err)
				}
				c.stateChanges += n
			case strings.HasPrefix(key, stateKeyPrefix):
				// One key per id, as versions before the journal wrote it.
				c.stateChanges++
				if deleted {
					id, err := idFromStateKey(key)
					if err != nil {
						return err
					}
					delete(c.state.m, id)
					continue
				}
				if err := c.state.load(key, m.Data()); err != nil {
					return err
				}
			}
		}
		if err := batch.Error(); err != nil {
			return err
		}
		if got == 0 {
			return fmt.Errorf("no state message within 30s, %d to go", left)
		}
		left -= uint64(min(uint64(got), left))
	}
	return nil
}

type storedPosition struct {
	Anchors []Anchor `json:"anchors"`
}

// batchesInFlight is how many batches may await their acks at once. With
// one, the server's queue ran dry at every batch boundary (the last acks,
// the position's round trip, the next batch's first messages); with two,
// it always holds a batch while the oldest is committed.
const batchesInFlight = 2

// loop reads, publishes and commits until ctx ends. Reading the next
// snapshot and publishing it overlap with the acks of the batches in
// flight; batches are committed oldest first, so a stored position always
// covers only acknowledged batches.
func (c *Connector) loop(ctx context.Context) error {
	var inflight []*flight // oldest first
	commitAll := func() error {
		for len(inflight) > 0 {
			if err := c.commit(ctx, inflight[0]); err != nil {
				return err
			}
			inflight = inflight[1:]
		}
		return nil
	}
	failures := 0
	var failingSince time.Time
	for {
		r, err := c.read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The writer may hold a lock past busy_timeout now and then, a
			// server restarts in seconds; a store that stays unreadable
			// for ReadRetry stops the connector. The budget is time, not
			// attempts: a short poll interval must not make it shorter.
			failures++
			if failures == 1 {
				failingSince = time.Now()
			}
			if time.Since(failingSince) >= c.cfg.ReadRetry {
				return fmt.Errorf("reads failed for %v (%d attempts): %w", time.Since(failingSince).Round(time.Second), failures, err)
			}
			c.log.Warn().Err(err).Int("attempt", failures).Msg("read failed; retrying")
			if err := sleep(ctx, min(time.Duration(failures)*max(c.cfg.PollInterval, 100*time.Millisecond), 5*time.Second)); err != nil {
				return err
			}
			continue
		}
		failures = 0
		for len(inflight) >= batchesInFlight {
			if err := c.commit(ctx, inflight[0]); err != nil {
				return err
			}
			inflight = inflight[1:]
		}
		f, err := c.publish(ctx, r)
		if err != nil {
			return err
		}
		if len(f.futs) > 0 {
			inflight = append(inflight, f)
		}
		caughtUp := len(r.rows) < c.cfg.BatchSize
		if caughtUp && !c.rec.active {
			if err := commitAll(); err != nil {
				return err
			}
			if c.checkpointDue() {
				if err := c.writeCheckpoint(ctx); err != nil {
					return err
				}
			}
			if !c.stats.CaughtUp.Load() {
				c.stats.CaughtUp.Store(true)
				if c.prog != nil {
					c.prog.finish()
				}
				c.log.Info().Uint64("position", c.ladder.head()).Uint64("events", c.stats.EventsPublished.Load()).Msg("backfill done; following new rows")
			}
			if c.cfg.Once && (c.stats.Reconciliations.Load() > 0 || c.cfg.NoReconcile) {
				return nil
			}
			if !c.cfg.NoReconcile && (c.cfg.Once || time.Since(c.rec.lastStart) >= c.cfg.ReconcileInterval) {
				c.startReconcile()
				continue
			}
			if err := sleep(ctx, c.cfg.PollInterval); err != nil {
				return err
			}
		}
	}
}

// readResult is one snapshot's rows and, during a reconciliation, one page
// of the inventory read in the same snapshot.
type readResult struct {
	rows    []Row
	head    uint64
	inv     []Inventory
	invRead bool
	// pageIDs are the published ids within the inventory page's range.
	pageIDs []string
	// last: the page is the pass's last.
	last bool
}

func (c *Connector) read(ctx context.Context) (readResult, error) {
	snap, err := c.cfg.Source.Begin(ctx)
	if err != nil {
		return readResult{}, err
	}
	defer snap.Close()
	var r readResult
	from, err := snap.Resume(c.ladder.list())
	if err != nil {
		return r, err
	}
	if h := c.ladder.head(); from != h {
		c.stats.Rewinds.Add(1)
		c.log.Warn().Uint64("anchor", h).Uint64("from", from).
			Msg("a stored position no longer holds the row it held (rows at or below it were deleted, or the source numbers its rows anew, as a Postgres backfill restarted on a new snapshot does): reading again from the newest position that holds; what is read twice is deduplicated")
		c.ladder.cut(from)
	}
	if r.rows, err = snap.Rows(from, c.cfg.BatchSize); err != nil {
		return r, err
	}
	if r.head, err = snap.Head(); err != nil {
		return r, err
	}
	if c.rec.active && len(r.rows) < c.cfg.BatchSize {
		if r.inv, err = snap.Instances(c.rec.after, c.cfg.InventoryPage); err != nil {
			return r, err
		}
		r.invRead = true
		r.pageIDs, r.last = c.rec.page(r.inv, c.cfg.InventoryPage)
		if err := c.completeInventory(snap, &r); err != nil {
			return r, err
		}
	}
	return r, nil
}

// publish sends a snapshot's rows, the notices its inventory page calls
// for, and the state those changed.
func (c *Connector) publish(ctx context.Context, r readResult) (*flight, error) {
	f := &flight{}
	c.stats.RowsRead.Add(uint64(len(r.rows)))
	c.stats.Head.Store(r.head)
	changed := make(map[string]struct{})
	for i := range r.rows {
		row := &r.rows[i]
		if row.Notice != nil {
			n := c.state.noticed(*row.Notice)
			changed[n.InstanceID] = struct{}{}
			if err := c.sendNotice(ctx, f, n); err != nil {
				return nil, err
			}
			f.rows++
			continue
		}
		eff := c.state.apply(row.InstanceID, row.ExecutionID, row.EventID, bornOf(row))
		if eff.notice != nil {
			c.log.Info().Str("instance_id", eff.notice.InstanceID).Uint64("deleted_at_ms", eff.notice.TimestampMs).
				Msg("instance id reused after a deletion: deleted the old incarnation")
			if err := c.sendNotice(ctx, f, *eff.notice); err != nil {
				return nil, err
			}
		}
		if eff.changed {
			changed[row.InstanceID] = struct{}{}
		}
		if err := c.sendRow(ctx, f, row, eff.msgID); err != nil {
			return nil, err
		}
		f.rows++
	}
	if n := len(r.rows); n > 0 {
		last := r.rows[n-1]
		f.top = Anchor{Pos: last.Pos, InstanceID: last.InstanceID, ExecutionID: last.ExecutionID, EventID: last.EventID, Hash: HashData(last.Data)}
		if last.Notice != nil {
			f.top = Anchor{Pos: last.Pos, InstanceID: last.Notice.InstanceID}
		}
		c.ladder.push(f.top)
		if !c.stats.CaughtUp.Load() && last.CreatedAtMs > 0 {
			c.stats.LagSeconds.Store(max(0, time.Now().Unix()-last.CreatedAtMs/1000))
		}
		c.showProgress(last.Pos, r.head)
	}
	if len(r.rows) < c.cfg.BatchSize {
		c.stats.LagSeconds.Store(0)
	}
	if r.invRead {
		notices, ids := c.reconcilePage(r)
		for _, n := range notices {
			if err := c.sendNotice(ctx, f, n); err != nil {
				return nil, err
			}
		}
		for _, id := range ids {
			changed[id] = struct{}{}
		}
	}
	if err := c.journal(ctx, f, changed); err != nil {
		return nil, err
	}
	c.stats.Instances.Store(int64(len(c.state.m)))
	return f, nil
}

// sendRow publishes one row: its payload byte for byte (after the
// OrchestrationFailed repair), on its key's subject, bad rows included:
// the projector dead-letters what it cannot decode.
func (c *Connector) sendRow(ctx context.Context, f *flight, row *Row, msgID string) error {
	data := row.Data
	if row.Type == events.TypeOrchestrationFailed {
		if fixed, ok := repair(data, row.InstanceID, row.ExecutionID); ok {
			data = fixed
			c.stats.Repaired.Add(1)
		}
	}
	subject := events.Subject(row.InstanceID)
	if max := c.cfg.NC.MaxPayload(); int64(len(data)) > max-int64(len(msgID))-512 {
		// The server cannot carry it: send its start to the dead-letter
		// stream with the reason, so that it is seen, never lost silently.
		c.stats.Oversized.Add(1)
		cut := max - int64(len(msgID)) - 4096
		msg := &nats.Msg{Subject: events.DLQSubject, Data: data[:cut], Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
		msg.Header.Set("Duroscope-Error", "connector: event_data of "+strconv.Itoa(len(data))+" bytes is over the NATS server's max_payload ("+strconv.FormatInt(max, 10)+" bytes); truncated here")
		msg.Header.Set("Duroscope-Original-Subject", subject)
		return c.pub.send(ctx, f, msg)
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{msgID}}}
	f.events++
	return c.pub.send(ctx, f, msg)
}

func (c *Connector) sendNotice(ctx context.Context, f *flight, n events.Notice) error {
	msg := &nats.Msg{Subject: n.Subject(), Data: n.Marshal(), Header: nats.Header{jetstream.MsgIDHeader: []string{n.MsgID()}}}
	f.notices++
	return c.pub.send(ctx, f, msg)
}

// commit waits for a batch's acks, then stores the position it reached.
func (c *Connector) commit(ctx context.Context, f *flight) error {
	if err := c.pub.wait(ctx, f); err != nil {
		return err
	}
	c.stats.EventsPublished.Add(uint64(f.events))
	c.stats.NoticesPublished.Add(uint64(f.notices))
	if f.top.Pos == 0 {
		return nil
	}
	var anchors []Anchor
	for _, a := range c.ladder.list() {
		if a.Pos <= f.top.Pos {
			anchors = append(anchors, a)
		}
	}
	if _, err := c.kv.Put(ctx, positionKey, jsonMarshal(storedPosition{Anchors: anchors})); err != nil {
		return fmt.Errorf("store the position %d: %w", f.top.Pos, err)
	}
	c.stats.Position.Store(f.top.Pos)
	if a, ok := c.cfg.Source.(Acknowledger); ok {
		if err := a.Stored(ctx, f.top.Pos); err != nil {
			return fmt.Errorf("confirm position %d to the source: %w", f.top.Pos, err)
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
