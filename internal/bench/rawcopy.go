package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
)

type driverConn = driver.Conn

// rawTableDDL is the raw-copy baseline's table: one row per message,
// nothing derived, sorted by arrival so the insert does no sorting work.
const rawTableDDL = `CREATE TABLE IF NOT EXISTS %s.` + rawTable + ` (
	subject    String,
	stream_seq UInt64,
	payload    String
) ENGINE = MergeTree ORDER BY stream_seq`

// runRawCopy is the upper bound of ingest: the same durable pull consumer,
// batching and per-message acks as the projector (pull and decode the next
// batch while the current one is written, ack only after the INSERT), but
// no decoding, no derivation and one table. What the projector does beyond
// this is its own cost.
func runRawCopy(ctx context.Context, c *childConfig, js jetstream.JetStream, conn driver.Conn, log zerolog.Logger) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{
		Durable:       rawCopyConsumer,
		FilterSubject: events.StreamSubjects,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.ackWait,
		MaxAckPending: 4 * c.batchSize,
		MaxDeliver:    -1,
	})
	if err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(c.batchSize))
	if err != nil {
		return err
	}
	defer it.Stop()
	batches := make(chan []jetstream.Msg, 1)
	go func() {
		defer close(batches)
		for ctx.Err() == nil {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				continue
			}
			b := []jetstream.Msg{m}
			bctx, cancel := context.WithTimeout(ctx, c.flushInterval)
			for len(b) < c.batchSize {
				m, err := it.Next(jetstream.NextContext(bctx))
				if err != nil {
					break
				}
				b = append(b, m)
			}
			cancel()
			batches <- b
		}
	}()
	q := "INSERT INTO " + c.db + "." + rawTable + " (subject, stream_seq, payload)"
	for b := range batches {
		subj, seq, payload := make([]string, len(b)), make([]uint64, len(b)), make([]string, len(b))
		for i, m := range b {
			subj[i], payload[i] = m.Subject(), string(m.Data())
			if md, err := m.Metadata(); err == nil {
				seq[i] = md.Sequence.Stream
			}
		}
		for attempt := 0; ; attempt++ {
			err := insertColumns(context.WithoutCancel(ctx), conn, q, subj, seq, payload)
			if err == nil {
				break
			}
			log.Warn().Err(err).Msg("raw insert failed; retrying")
			time.Sleep(100 * time.Millisecond)
		}
		for _, m := range b {
			_ = m.Ack()
		}
	}
	return nil
}

func insertColumns(ctx context.Context, conn driver.Conn, q string, cols ...any) error {
	b, err := conn.PrepareBatch(ctx, q)
	if err != nil {
		return err
	}
	defer b.Close()
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			return err
		}
	}
	return b.Send()
}
