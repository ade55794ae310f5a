// Command redrive moves dead-lettered history messages back to the history
// stream, so that the projector handles them again: messages that are still
// bad return to the dead-letter stream (with a new reason header), messages
// that are now accepted (the read model was fixed, the projector upgraded)
// get projected.
//
//	redrive --dry-run                          # list what would move
//	redrive --reason-contains 'refused by the read model'
//	redrive --subject 'duroxide.history.order-17' --max 100
//
// It is a Watermill router: the watermill-nats JetStream subscriber reads
// the dead-letter stream (<stream>_DLQ) through a temporary consumer, and a
// handler re-publishes each selected message's original bytes, through the
// watermill-nats JetStream publisher, to the subject in its
// Duroscope-Original-Subject header; once the history stream has stored it,
// the message is deleted from the dead-letter stream (--keep leaves it).
// Only the messages present when the run starts are considered; the run
// ends when all of them have been seen.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/duroscope/duroscope/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := parse(os.Args[1:], config.OSEnv)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "redrive:", err)
		os.Exit(2)
	}
	log := s.Logger("redrive")
	sum, err := run(ctx, s, log, os.Stdout)
	fmt.Fprintln(os.Stdout, sum)
	if err != nil {
		log.Error().Err(err).Msg("redrive failed")
		os.Exit(1)
	}
}

// settings is redrive's configuration.
type settings struct {
	*config.Common
	DryRun         bool
	ReasonContains string
	Subject        string // NATS subject pattern on the original subject
	Max            int    // most messages to re-drive; 0 = all
	Keep           bool   // leave re-driven messages in the dead-letter stream
	IdleTimeout    time.Duration
}

func parse(args []string, env config.Env) (*settings, error) {
	f := config.NewFlags("redrive", env)
	s := &settings{Common: config.Register(f, config.DefaultNATSURL)}
	f.VariablePrefix("DUROSCOPE_REDRIVE_")
	f.Bool(&s.DryRun, "dry-run", "", false, "list the messages that would be re-driven; change nothing")
	f.String(&s.ReasonContains, "reason-contains", "", "", "only messages whose Duroscope-Error header contains this text")
	f.String(&s.Subject, "subject", "", "", "only messages whose original subject matches this NATS pattern (* one token, > the rest)")
	f.Int(&s.Max, "max", "", 0, 0, math.MaxInt, "re-drive at most this many messages (0 = no limit)")
	f.Bool(&s.Keep, "keep", "", false, "keep re-driven messages in the dead-letter stream (default: delete them once re-published)")
	f.Duration(&s.IdleTimeout, "idle-timeout", "", 5*time.Second, time.Nanosecond, "end the run when no dead letter arrives for this long")
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	if err := s.Finish(); err != nil {
		return nil, err
	}
	if s.NATSURL == "" {
		s.NATSURL = config.DefaultNATSURL
	}
	if s.Subject != "" && !validPattern(s.Subject) {
		return nil, fmt.Errorf("%s: %q is not a NATS subject pattern", f.Source("subject"), s.Subject)
	}
	return s, nil
}
