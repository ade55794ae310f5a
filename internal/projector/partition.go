package projector

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
)

// Partitioning by the broker. The history stream's subject transform
// rewrites every published subject duroxide.history.<token> to
// duroxide.history.<slot>.<token>, slot = partition(Slots, token) computed
// by JetStream itself; partition i of n owns the slots s with s mod n = i,
// and its consumer is filtered on those slots' subjects, so each projector
// receives only its own instances' messages. The slot count is fixed, so
// the tag stays meaningful for any n (up to Slots) and across a change of n.
// Messages stored before the transform existed keep their untagged subject
// (duroxide.history.<token>): every partition receives those and acks the
// ones it does not own, as before.

// Slots is the number of slots the history subjects are tagged with: the
// largest useful number of partitions.
const Slots = 64

// slotTransform is the history stream's subject transform.
func slotTransform() *jetstream.SubjectTransformConfig {
	return &jetstream.SubjectTransformConfig{
		Source:      events.SubjectPrefix + "*",
		Destination: fmt.Sprintf("%s{{partition(%d,1)}}.{{wildcard(1)}}", events.SubjectPrefix, Slots),
	}
}

// hasSlotTransform reports whether the stream tags its subjects with slots
// (a server older than 2.10 ignores the transform it was given).
func hasSlotTransform(cfg jetstream.StreamConfig) bool {
	t := cfg.SubjectTransform
	return t != nil && *t == *slotTransform()
}

// Slot is the slot JetStream's transform gives the instance's subject:
// FNV-1a (32 bits) of its subject token, modulo Slots (the server's
// partition function; TestSlotIsTheServersPartition checks it against a
// real server).
func Slot(instanceID string) int {
	h := fnv.New32a()
	h.Write([]byte(events.SubjectToken(instanceID)))
	return int(h.Sum32() % Slots)
}

// partitionFilters are the subjects of partition i of n's consumer on a
// slot-tagged stream: the untagged subjects of older messages, then its
// slots'.
func partitionFilters(i, n int) []string {
	out := []string{events.SubjectPrefix + "*"}
	for s := i; s < Slots; s += n {
		out = append(out, fmt.Sprintf("%s%d.*", events.SubjectPrefix, s))
	}
	return out
}

// publishedSubject is the subject a message was published on, given the
// one the stream stored it under: the slot token the transform added is
// taken out again (duroxide.history.<slot>.<token> → duroxide.history.<token>),
// so the dead-letter header keeps naming EVENTS.md's subject, and a message
// re-driven to it is tagged with the same slot again. Other subjects are
// returned as they are.
func publishedSubject(stored string) string {
	rest, ok := strings.CutPrefix(stored, events.SubjectPrefix)
	if !ok {
		return stored
	}
	slot, token, ok := strings.Cut(rest, ".")
	if !ok || token == "" || strings.Contains(token, ".") {
		return stored
	}
	if n, err := strconv.Atoi(slot); err != nil || n < 0 || n >= Slots || strconv.Itoa(n) != slot {
		return stored
	}
	return events.SubjectPrefix + token
}

// owns reports whether this partition projects the instance.
func (p *Projector) owns(instanceID string) bool {
	if p.cfg.Partitions == 1 {
		return true
	}
	return Slot(instanceID)%p.cfg.Partitions == p.cfg.Partition
}

// seedKnown fills the filter of instances the read model already holds
// (among those this partition owns): derive reads back only those.
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
