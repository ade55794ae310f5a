package connector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"maps"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The per-instance state in the KV bucket: a journal and checkpoints.
//
// Each batch writes the new state of every id it changed as one journal
// message ("j.<n>", more when over the chunk size), in the batch itself, so
// it is stored before the position that covers it (crash-safe, exact):
// one message per batch instead of one per changed id, which at two rows
// per instance was half as many messages again as the rows. Replaying
// the journal in stream order rebuilds the state (each entry holds an
// id's whole state, so the newest wins).
//
// Once caught up, after enough changes, the connector writes the whole
// state as a checkpoint: a few large chunk values ("ckpt.<slot>.<n>"),
// then the manifest ("ckpt") naming the slot, the chunk count and the
// bucket's stream sequence the checkpoint covers. It is taken with no batch
// in flight, so the in-memory state is exactly what the bucket held at
// that sequence; every later change is a journal message with a higher
// sequence. Start-up reads the manifest's chunks, then only the bucket's
// messages after that sequence. The chunks go to the slot the manifest
// does not name, and the manifest is written only after all of them are
// stored: a crash while a checkpoint is written leaves the previous one
// whole. The journal (and the one-key-per-id state of earlier versions,
// "i.<id>") up to the checkpoint's sequence is then purged.

const (
	checkpointKey = "ckpt"
	// checkpointChunk bounds a chunk value (under NATS's default 1 MiB
	// max_payload, with room for headers).
	checkpointChunk = 512 << 10
	// checkpointVersion is a chunk's first byte.
	checkpointVersion = 1
)

type checkpointManifest struct {
	Slot      int    `json:"slot"`
	Chunks    int    `json:"chunks"`
	Seq       uint64 `json:"seq"` // the bucket's stream sequence covered
	Instances int    `json:"instances"`
}

// journalPrefix starts the KV keys of the journal.
const journalPrefix = "j."

func chunkKey(slot, n int) string {
	return checkpointKey + "." + strconv.Itoa(slot) + "." + strconv.Itoa(n)
}

// encodeChunks encodes the states of ids as chunks of about limit bytes
// (an id's entry is never split), yielded one at a time as each is full,
// so a checkpoint never holds more than one: a version byte, then per id:
// uvarint length and bytes of the id, uvarints Born, Deleted, the number
// of executions and the executions.
func encodeChunks(ids iter.Seq2[string, *instState], limit int) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		cur := []byte{checkpointVersion}
		var entry []byte
		for id, s := range ids {
			entry = binary.AppendUvarint(entry[:0], uint64(len(id)))
			entry = append(entry, id...)
			entry = binary.AppendUvarint(entry, s.Born)
			entry = binary.AppendUvarint(entry, s.Deleted)
			entry = binary.AppendUvarint(entry, uint64(len(s.Execs)))
			for _, e := range s.Execs {
				entry = binary.AppendUvarint(entry, e)
			}
			if len(cur) > 1 && len(cur)+len(entry) > limit {
				if !yield(cur) {
					return
				}
				cur = []byte{checkpointVersion}
			}
			cur = append(cur, entry...)
		}
		yield(cur)
	}
}

var errBadChunk = errors.New("bad checkpoint chunk")

// decodeChunk adds a chunk's entries to m (an entry replaces the id's
// state) and returns how many it held.
func decodeChunk(b []byte, m map[string]*instState) (int, error) {
	if len(b) == 0 || b[0] != checkpointVersion {
		return 0, fmt.Errorf("%w: version %v", errBadChunk, b[:min(1, len(b))])
	}
	b = b[1:]
	next := func() (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, errBadChunk
		}
		b = b[n:]
		return v, nil
	}
	entries := 0
	for ; len(b) > 0; entries++ {
		n, err := next()
		if err != nil || n > uint64(len(b)) {
			return entries, fmt.Errorf("%w: id length", errBadChunk)
		}
		id := string(b[:n])
		b = b[n:]
		s := &instState{}
		var k uint64
		if s.Born, err = next(); err == nil {
			if s.Deleted, err = next(); err == nil {
				k, err = next()
			}
		}
		if err != nil || k > uint64(len(b)) {
			return entries, fmt.Errorf("%w: state of %q", errBadChunk, id)
		}
		if k > 0 {
			s.Execs = make([]uint64, k)
			for i := range s.Execs {
				if s.Execs[i], err = next(); err != nil {
					return entries, fmt.Errorf("%w: executions of %q", errBadChunk, id)
				}
			}
		}
		m[id] = s
	}
	return entries, nil
}

// loadCheckpoint reads the newest checkpoint into the state and returns the
// bucket sequence it covers (0: none).
func (c *Connector) loadCheckpoint(ctx context.Context) (uint64, error) {
	e, err := c.kv.Get(ctx, checkpointKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the checkpoint manifest: %w", err)
	}
	var m checkpointManifest
	if err := jsonUnmarshal(e.Value(), &m); err != nil {
		return 0, fmt.Errorf("checkpoint manifest %q: %w", e.Value(), err)
	}
	c.state.m = make(map[string]*instState, m.Instances)
	for n := 0; n < m.Chunks; n++ {
		ch, err := c.kv.Get(ctx, chunkKey(m.Slot, n))
		if err != nil {
			return 0, fmt.Errorf("read checkpoint chunk %s: %w", chunkKey(m.Slot, n), err)
		}
		if _, err := decodeChunk(ch.Value(), c.state.m); err != nil {
			return 0, fmt.Errorf("checkpoint chunk %s: %w", chunkKey(m.Slot, n), err)
		}
	}
	if len(c.state.m) != m.Instances {
		return 0, fmt.Errorf("checkpoint holds %d instances, its manifest says %d", len(c.state.m), m.Instances)
	}
	c.ckpt = m
	return m.Seq, nil
}

// checkpointDue says whether enough state changed since the last
// checkpoint to write a new one.
func (c *Connector) checkpointDue() bool {
	return c.stateChanges >= max(c.cfg.CheckpointMin, len(c.state.m)/4)
}

// writeCheckpoint stores the state as a checkpoint. It must be called with
// no batch in flight.
func (c *Connector) writeCheckpoint(ctx context.Context) error {
	st, err := c.js.Stream(ctx, "KV_"+c.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	limit := c.chunkLimit()
	m := checkpointManifest{Slot: 1 - c.ckpt.Slot, Seq: info.State.LastSeq, Instances: len(c.state.m)}
	if c.ckpt.Chunks == 0 {
		m.Slot = 0
	}
	for ch := range encodeChunks(maps.All(c.state.m), limit) {
		if _, err := c.kv.Put(ctx, chunkKey(m.Slot, m.Chunks), ch); err != nil {
			return fmt.Errorf("checkpoint chunk %d: %w", m.Chunks, err)
		}
		m.Chunks++
	}
	if _, err := c.kv.Put(ctx, checkpointKey, jsonMarshal(m)); err != nil {
		return fmt.Errorf("checkpoint manifest: %w", err)
	}
	// Chunks of an earlier, larger checkpoint in this slot are never read
	// again (the manifest counts them); delete them to free the space.
	for n := m.Chunks; ; n++ {
		if _, err := c.kv.Get(ctx, chunkKey(m.Slot, n)); err != nil {
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				break
			}
			return fmt.Errorf("checkpoint: %w", err)
		}
		if err := c.kv.Purge(ctx, chunkKey(m.Slot, n)); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	c.ckpt = m
	c.stateChanges = 0
	// The journal and the older per-id keys the checkpoint covers.
	for _, subject := range []string{journalPrefix + ">", stateKeyPrefix + ">"} {
		if err := st.Purge(ctx, jetstream.WithPurgeSubject("$KV."+c.cfg.Bucket+"."+subject), jetstream.WithPurgeSequence(m.Seq+1)); err != nil {
			return fmt.Errorf("checkpoint: purge what it covers: %w", err)
		}
	}
	return nil
}

// chunkLimit is the size of a chunk value: checkpointChunk, or less when
// the server's max_payload is small.
func (c *Connector) chunkLimit() int {
	return int(max(1024, min(int64(checkpointChunk), c.cfg.NC.MaxPayload()-4096)))
}

// journal sends the new state of the ids a batch changed.
func (c *Connector) journal(ctx context.Context, f *flight, changed map[string]struct{}) error {
	if len(changed) == 0 {
		return nil
	}
	c.stateChanges += len(changed)
	states := func(yield func(string, *instState) bool) {
		for id := range changed {
			if !yield(id, c.state.m[id]) {
				return
			}
		}
	}
	for ch := range encodeChunks(states, c.chunkLimit()) {
		c.journalSeq++
		msg := &nats.Msg{Subject: "$KV." + c.cfg.Bucket + "." + journalPrefix + c.journalID + "." + strconv.FormatUint(c.journalSeq, 36), Data: ch}
		if err := c.pub.send(ctx, f, msg); err != nil {
			return err
		}
	}
	return nil
}
