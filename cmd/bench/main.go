// Command bench is Duroscope's reproducible benchmark suite (package
// internal/bench; BENCHMARKS.md has the commands and the results). It is a
// development tool: the production image does not contain it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/duroscope/duroscope/internal/bench"
	"github.com/duroscope/duroscope/internal/config"
)

func main() {
	if bench.IsChild(os.Args[1:]) {
		if err := bench.ChildMain(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := bench.Parse(os.Args[1:], config.OSEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.Run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
