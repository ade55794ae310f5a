package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
)

// Main is every long-running binary's main: it parses the settings with
// parse (-h exits 0; a bad command line or variable is printed and exits 2),
// then calls run with a context that ends on SIGINT or SIGTERM and the
// logger of the component name; a run error is logged and exits 1.
func Main[S interface{ Logger(string) zerolog.Logger }](name string, parse func([]string, Env) (S, error), run func(context.Context, S, zerolog.Logger) error) {
	os.Exit(runMain(name, os.Args[1:], OSEnv, parse, run))
}

func runMain[S interface{ Logger(string) zerolog.Logger }](name string, args []string, env Env,
	parse func([]string, Env) (S, error), run func(context.Context, S, zerolog.Logger) error) int {
	s, err := parse(args, env)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	log := s.Logger(name)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, s, log); err != nil {
		log.Error().Err(err).Msgf("%s failed", name)
		return 1
	}
	return 0
}
