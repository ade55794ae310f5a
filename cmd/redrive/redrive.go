package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/config"
)

// Headers the projector puts on a dead letter (EVENTS.md).
const (
	hdrError           = "Duroscope-Error"
	hdrOriginalSubject = "Duroscope-Original-Subject"
	hdrOriginalSeq     = "Duroscope-Original-Sequence"
	// hdrRedrivenFrom marks a re-driven message with the dead-letter
	// sequence it came from (for tracing; the projector ignores headers).
	hdrRedrivenFrom = "Duroscope-Redriven-From"
	// mdDLQSeq carries the dead letter's stream sequence from the
	// unmarshaler to the handler (watermill metadata, never published).
	mdDLQSeq = "_duroscope_dlq_seq"
)

// summary is what a run did; its String is the last line redrive prints.
type summary struct {
	DLQ       string
	AtStart   uint64 // messages in the dead-letter stream when the run started
	Scanned   int    // of those, seen
	Matched   int    // selected by the filters
	Redriven  int    // re-published (0 in a dry run)
	Deleted   int    // removed from the dead-letter stream after re-publishing
	Unusable  int    // selected but without a usable original subject: left
	DryRun    bool
	TimedOut  bool // the idle timeout ended the run before every message was seen
	mu        sync.Mutex
	seen      map[uint64]bool
	lastSeq   uint64
	completed chan struct{}
	once      sync.Once
}

func (s *summary) String() string {
	mode := ""
	if s.DryRun {
		mode = " (dry run: nothing changed)"
	}
	timedOut := ""
	if s.TimedOut {
		timedOut = fmt.Sprintf("; stopped after the idle timeout with %d of %d seen", s.Scanned, s.AtStart)
	}
	return fmt.Sprintf("redrive %s: %d dead letters at start, %d scanned, %d matched, %d re-driven, %d deleted, %d without original subject%s%s",
		s.DLQ, s.AtStart, s.Scanned, s.Matched, s.Redriven, s.Deleted, s.Unusable, timedOut, mode)
}

// run re-drives the dead letters present at start that match s's filters.
func run(ctx context.Context, s *settings, log zerolog.Logger, out io.Writer) (*summary, error) {
	sum := &summary{DLQ: events.DLQStream(s.Stream), DryRun: s.DryRun, seen: map[uint64]bool{}, completed: make(chan struct{})}
	connect := func(name string) (*nats.Conn, error) {
		nc, err := nats.Connect(s.NATSURL, append(s.NATSOptions(), nats.Name(name))...)
		if err != nil {
			return nil, fmt.Errorf("connect to NATS %s: %w", config.Redact(s.NATSURL), err)
		}
		return nc, nil
	}
	// Separate connections: closing the watermill subscriber drains its
	// connection, and the publisher's Close closes its own.
	adminNC, err := connect("duroscope-redrive")
	if err != nil {
		return sum, err
	}
	defer adminNC.Close()
	js, err := jetstream.New(adminNC)
	if err != nil {
		return sum, fmt.Errorf("jetstream: %w", err)
	}
	dlq, err := js.Stream(ctx, sum.DLQ)
	if err != nil {
		return sum, fmt.Errorf("dead-letter stream %s: %w", sum.DLQ, err)
	}
	info, err := dlq.Info(ctx)
	if err != nil {
		return sum, fmt.Errorf("dead-letter stream %s: %w", sum.DLQ, err)
	}
	sum.AtStart, sum.lastSeq = info.State.Msgs, info.State.LastSeq
	if sum.AtStart == 0 {
		return sum, nil
	}

	wlog := zerologAdapter{log: log.With().Str("component", "watermill").Logger()}
	var consumerName string
	defer func() {
		if consumerName == "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := dlq.DeleteConsumer(ctx, consumerName); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			log.Warn().Err(err).Str("consumer", consumerName).Msg("could not delete the temporary consumer; the server removes it after a minute")
		}
	}()
	subNC, err := connect("duroscope-redrive-sub")
	if err != nil {
		return sum, err
	}
	defer subNC.Close()
	sub, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{
		Conn:                subNC,
		Logger:              wlog,
		AckWaitTimeout:      time.Minute,
		ResourceInitializer: dlqConsumer(&consumerName),
		Unmarshaler:         seqUnmarshaler{},
		// A failed publish is retried after a pause, not in a hot loop.
		NakDelay: wmjs.NewStaticDelay(time.Second),
	})
	if err != nil {
		return sum, fmt.Errorf("watermill subscriber: %w", err)
	}
	defer sub.Close()
	pubNC, err := connect("duroscope-redrive-pub")
	if err != nil {
		return sum, err
	}
	pub, err := wmjs.NewPublisher(wmjs.PublisherConfig{
		Conn:   pubNC,
		Logger: wlog,
		// The topic is the subject to publish to (the original subject);
		// the history stream already exists and captures it.
		ConfigureStream: func(topic string) jetstream.StreamConfig { return jetstream.StreamConfig{Name: topic} },
	})
	if err != nil {
		pubNC.Close()
		return sum, fmt.Errorf("watermill publisher: %w", err)
	}
	defer pub.Close()

	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, wlog)
	if err != nil {
		return sum, fmt.Errorf("watermill router: %w", err)
	}
	activity := make(chan struct{}, 1)
	var handlerErr error
	router.AddConsumerHandler("redrive", sum.DLQ, sub, func(m *message.Message) error {
		select {
		case activity <- struct{}{}:
		default:
		}
		err := sum.handle(m, s, dlq, pub, out, log)
		if err != nil {
			handlerErr = err
		}
		return err
	})

	runErr := make(chan error, 1)
	go func() { runErr <- router.Run(ctx) }()
	idle := time.NewTimer(s.IdleTimeout)
	defer idle.Stop()
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-sum.completed:
			break wait
		case <-activity:
			idle.Reset(s.IdleTimeout)
		case <-idle.C:
			sum.TimedOut = true
			break wait
		case err := <-runErr:
			return sum, fmt.Errorf("watermill router stopped: %w", err)
		}
	}
	if err := router.Close(); err != nil {
		log.Warn().Err(err).Msg("closing the router")
	}
	if err := <-runErr; err != nil {
		return sum, fmt.Errorf("watermill router: %w", err)
	}
	if ctx.Err() != nil {
		return sum, ctx.Err()
	}
	if sum.TimedOut && handlerErr != nil {
		return sum, fmt.Errorf("last failure: %w", handlerErr)
	}
	return sum, nil
}

// handle decides about one dead letter. An error makes watermill nack it,
// so that it is offered again.
func (sum *summary) handle(m *message.Message, s *settings, dlq jetstream.Stream, pub message.Publisher, out io.Writer, log zerolog.Logger) error {
	seq, _ := strconv.ParseUint(m.Metadata.Get(mdDLQSeq), 10, 64)
	if seq == 0 || seq > sum.lastSeq {
		return nil // arrived after the run started (e.g. re-dead-lettered): not ours
	}
	// One at a time: the counters and the seen set are shared, and the
	// order of re-publication follows the dead-letter stream.
	sum.mu.Lock()
	defer sum.mu.Unlock()
	if sum.seen[seq] {
		return nil
	}
	subject := m.Metadata.Get(hdrOriginalSubject)
	reason := m.Metadata.Get(hdrError)
	selected := (s.ReasonContains == "" || strings.Contains(reason, s.ReasonContains)) &&
		(s.Subject == "" || subjectMatches(s.Subject, subject)) &&
		(s.Max == 0 || sum.Matched < s.Max)
	usable := subjectMatches(events.StreamSubjects, subject)
	switch {
	case !selected:
	case !usable:
		sum.Unusable++
		log.Warn().Uint64("dlq_seq", seq).Str("original_subject", subject).Msg("dead letter without a history subject to return to; left in place")
	case s.DryRun:
		sum.Matched++
		fmt.Fprintf(out, "would re-drive dlq_seq=%d subject=%s original_seq=%s bytes=%d reason=%q\n",
			seq, subject, m.Metadata.Get(hdrOriginalSeq), len(m.Payload), reason)
	default:
		re := message.NewMessage(watermill.NewUUID(), m.Payload)
		// The dead letter's identity as Nats-Msg-Id: if this run dies
		// between publishing and deleting, the next run's copy is dropped
		// by the history stream's duplicate window.
		re.Metadata.Set(nats.MsgIdHdr, "duroscope-redrive/"+sum.DLQ+"/"+strconv.FormatUint(seq, 10))
		re.Metadata.Set(hdrRedrivenFrom, sum.DLQ+"/"+strconv.FormatUint(seq, 10))
		if err := pub.Publish(subject, re); err != nil {
			log.Warn().Err(err).Uint64("dlq_seq", seq).Msg("re-publish failed; will retry")
			return fmt.Errorf("re-publish dead letter %d to %s: %w", seq, subject, err)
		}
		sum.Matched++
		sum.Redriven++
		if !s.Keep {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := dlq.DeleteMsg(ctx, seq)
			cancel()
			if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				// Re-published but still listed: a later run re-drives it
				// again, which the projector absorbs (idempotent).
				log.Warn().Err(err).Uint64("dlq_seq", seq).Msg("re-driven, but could not delete it from the dead-letter stream")
			} else {
				sum.Deleted++
			}
		}
		log.Info().Uint64("dlq_seq", seq).Str("subject", subject).Msg("re-driven")
	}
	sum.seen[seq] = true
	sum.Scanned = len(sum.seen)
	if uint64(sum.Scanned) >= sum.AtStart {
		sum.once.Do(func() { close(sum.completed) })
	}
	return nil
}

// dlqConsumer returns the watermill ResourceInitializer: a temporary
// consumer on the dead-letter stream (the topic) that starts at its first
// message. Its name goes to *name; run deletes it when the router has
// stopped (watermill's own clean-up would run after the subscriber drained
// its connection, too late to reach the server).
func dlqConsumer(name *string) wmjs.ResourceInitializer {
	return func(ctx context.Context, js jetstream.JetStream, topic string) (jetstream.Consumer, func(context.Context, watermill.LoggerAdapter), error) {
		st, err := js.Stream(ctx, topic)
		if err != nil {
			return nil, nil, fmt.Errorf("dead-letter stream %s: %w", topic, err)
		}
		*name = "duroscope-redrive-" + nuid.Next()
		cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Name:          *name,
			Description:   "Duroscope redrive (temporary)",
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       time.Minute,
			// Removed by the server if this process dies before deleting it.
			InactiveThreshold: time.Minute,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("consumer on %s: %w", topic, err)
		}
		return cons, nil, nil
	}
}

// seqUnmarshaler turns a dead letter into a watermill message: its bytes,
// its headers as metadata (first value of each) and its stream sequence
// (needed to delete it once re-driven). It never fails: watermill-nats
// would dereference the nil message of a failed unmarshal.
type seqUnmarshaler struct{}

func (seqUnmarshaler) Unmarshal(msg jetstream.Msg) (*message.Message, error) {
	m := message.NewMessage(watermill.NewUUID(), msg.Data())
	for k, v := range msg.Headers() {
		if len(v) > 0 && k != nats.MsgIdHdr {
			m.Metadata.Set(k, v[0])
		}
	}
	if md, err := msg.Metadata(); err == nil {
		m.Metadata.Set(mdDLQSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	}
	return m, nil
}

// subjectMatches reports whether subject matches the NATS pattern (tokens
// separated by '.', '*' = one token, '>' = one or more trailing tokens).
func subjectMatches(pattern, subject string) bool {
	if subject == "" {
		return false
	}
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for _, tok := range s {
		if tok == "" {
			return false
		}
	}
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}

// validPattern reports whether p is a usable NATS subject pattern.
func validPattern(p string) bool {
	toks := strings.Split(p, ".")
	for i, t := range toks {
		if t == "" || strings.ContainsAny(t, " \t\r\n") || (t == ">" && i != len(toks)-1) {
			return false
		}
		if len(t) > 1 && strings.ContainsAny(t, "*>") {
			return false
		}
	}
	return true
}

// zerologAdapter sends watermill's logs to zerolog: errors as errors, the
// per-message chatter at debug level.
type zerologAdapter struct{ log zerolog.Logger }

func (a zerologAdapter) fields(ev *zerolog.Event, f watermill.LogFields) *zerolog.Event {
	for k, v := range f {
		ev = ev.Interface(k, v)
	}
	return ev
}

func (a zerologAdapter) Error(msg string, err error, f watermill.LogFields) {
	a.fields(a.log.Error().Err(err), f).Msg(msg)
}
func (a zerologAdapter) Info(msg string, f watermill.LogFields)  { a.fields(a.log.Debug(), f).Msg(msg) }
func (a zerologAdapter) Debug(msg string, f watermill.LogFields) { a.fields(a.log.Debug(), f).Msg(msg) }
func (a zerologAdapter) Trace(msg string, f watermill.LogFields) { a.fields(a.log.Trace(), f).Msg(msg) }
func (a zerologAdapter) With(f watermill.LogFields) watermill.LoggerAdapter {
	return zerologAdapter{log: a.log.With().Fields(map[string]any(f)).Logger()}
}
