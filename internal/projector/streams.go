package projector

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
)

// The JetStream names the projector uses, one function each. The history
// and dead-letter streams are the contract's (events); the recount stream
// and the consumers are the projector's own.

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

// RecountStream is the stream of report cells to recount of history stream
// stream.
func RecountStream(stream string) string { return stream + "_RECOUNT" }

// recountSubject is the subject of RecountStream (stream names are NATS
// subject tokens already).
func recountSubject(stream string) string { return "duroscope.recount." + stream }

// RecounterConsumer is the durable consumer every projector process's
// recounter pulls from (not prefixed ConsumerPrefix: it is not history lag).
const RecounterConsumer = "duroscope-recounter"

// EnsureStreams creates the history, recount and dead-letter streams if
// missing, each with the given number of replicas (0 means 1; more than 1
// needs a JetStream cluster of at least that many servers). An existing
// stream is left as it is, its replica count included: several processes
// call this, and one started with another setting must not rescale the
// stream under the others (scale it once with `nats stream edit
// --replicas N`).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, stream string, replicas int) error {
	for _, s := range []struct {
		what string
		cfg  jetstream.StreamConfig
	}{{"stream", jetstream.StreamConfig{
		Name:             stream,
		Subjects:         []string{events.StreamSubjects},
		SubjectTransform: slotTransform(),
		Storage:          jetstream.FileStorage,
		// No per-message limit of its own: the server's max payload
		// governs, so oversized messages reach us and are dead-lettered.
		MaxMsgSize: -1,
	}}, {"recount stream", jetstream.StreamConfig{
		Name:        RecountStream(stream),
		Description: "Duroscope: report cells to recount (recorded by projectors, removed once recounted)",
		Subjects:    []string{recountSubject(stream)},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
	}}, {"dead-letter stream", jetstream.StreamConfig{
		Name:       events.DLQStream(stream),
		Subjects:   []string{events.DLQSubject},
		Storage:    jetstream.FileStorage,
		MaxMsgSize: -1,
	}}} {
		s.cfg.Replicas = max(replicas, 1)
		if err := ensureStream(ctx, js, s.what, s.cfg); err != nil {
			return err
		}
	}
	return tagSlots(ctx, js, stream)
}

// tagSlots adds the slot transform to a history stream created without it
// (by an older version, or by another tool): messages published from then
// on are tagged; those stored before keep their subjects (partition.go).
// A server that cannot transform (before 2.10) keeps the stream as it was;
// HistorySlotted tells the projector.
func tagSlots(ctx context.Context, js jetstream.JetStream, stream string) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("look up stream %s: %w", stream, err)
	}
	cfg := st.CachedInfo().Config
	if cfg.SubjectTransform != nil {
		return nil // ours, or one the operator chose: left alone
	}
	cfg.SubjectTransform = slotTransform()
	if _, err := js.UpdateStream(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrStreamSubjectTransformNotSupported) {
		return fmt.Errorf("add the slot transform to stream %s: %w", stream, err)
	}
	return nil
}

// HistorySlotted reports whether the history stream tags its subjects with
// slots, so that a partition's consumer can be filtered by the broker.
func HistorySlotted(ctx context.Context, js jetstream.JetStream, stream string) (bool, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return false, fmt.Errorf("look up stream %s: %w", stream, err)
	}
	return hasSlotTransform(st.CachedInfo().Config), nil
}

// ensureStream creates the stream cfg if it does not exist; an existing
// stream is left as it is.
func ensureStream(ctx context.Context, js jetstream.JetStream, what string, cfg jetstream.StreamConfig) error {
	_, err := js.Stream(ctx, cfg.Name)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("look up stream %s: %w", cfg.Name, err)
	}
	_, err = js.CreateStream(ctx, cfg)
	switch {
	case err == nil, errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
	case errors.Is(err, jetstream.ErrStreamSubjectTransformNotSupported):
		// A server before 2.10 created the stream without the transform:
		// HistorySlotted says so, partitions filter by discarding.
	default:
		return fmt.Errorf("create %s %s with %d replicas: %w", what, cfg.Name, cfg.Replicas, err)
	}
	return nil
}

// historyConsumer is the durable consumer config of this process's
// partition of the history stream.
// slotted says the stream tags subjects with slots: a partition's consumer
// is then filtered on its own slots (partition.go); otherwise it receives
// every message and acks those of instances it does not own.
func (p *Projector) historyConsumer(slotted bool) jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:       ConsumerName(p.cfg.Partition, p.cfg.Partitions),
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
	}
	if slotted && p.cfg.Partitions > 1 {
		cc.FilterSubject, cc.FilterSubjects = "", partitionFilters(p.cfg.Partition, p.cfg.Partitions)
	}
	return cc
}

// recounterConsumer is the durable consumer config of the recount stream,
// shared by every projector process.
func recounterConsumer() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       RecounterConsumer,
		Description:   "Duroscope projectors: report cells to recount",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       recountAckWait,
		MaxDeliver:    -1,
		MaxAckPending: 4 * recountFetch,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}
