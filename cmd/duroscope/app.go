package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/duroscope/duroscope/client"
	"github.com/duroscope/duroscope/internal/config"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the call failed (service error, network, I/O)
	exitUsage = 2 // bad command line
)

const (
	defaultURL     = "http://127.0.0.1:8080"
	defaultTimeout = 30 * time.Second
	envURL         = "DUROSCOPE_URL"
	envToken       = "DUROSCOPE_API_TOKEN"
)

// run is the whole CLI with its environment passed in, so tests run it
// in-process.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv, now: time.Now}
	return a.main(ctx, args)
}

// app is one invocation: its I/O, environment and global flags.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time

	url        string
	token      string
	json       bool
	timeout    time.Duration
	timeoutSet bool
	minSeq     uint64
	envLoaded  bool
}

// usageError is a bad command line; printed says the flag package already
// reported it.
type usageError struct {
	msg     string
	printed bool
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

type command struct {
	name, summary string
	run           func(a *app, ctx context.Context, args []string) error
}

func (a *app) commands() []command {
	return []command{
		{"instances", "list, show, history and status of orchestration instances", (*app).cmdInstances},
		{"stats", "orchestration and activity statistics (and performance with --orchestration)", (*app).cmdStats},
		{"health", "system health counts and score", (*app).cmdHealth},
		{"problems", "long-running, potentially stuck, recently failed and slower-than-usual instances", (*app).cmdProblems},
		{"slow", "instances or activity calls at or above a percentile of the stats (p99 by default)", (*app).cmdSlow},
		{"queues", "pending work and queue depths", (*app).cmdQueues},
		{"watermark", "how far the read model has projected the stream", (*app).cmdWatermark},
		{"report", "time-series report (GET /v1/reports/timeseries; needs a server that has it)", (*app).cmdReport},
		{"export", "stream instances as CSV or NDJSON (needs a server that has it)", (*app).cmdExport},
	}
}

func (a *app) main(ctx context.Context, args []string) int {
	fs := a.flagSet("duroscope", "[global flags] <command> [flags] [args]", "")
	fs.Usage = func() { a.topUsage(fs) }
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		err = &usageError{msg: err.Error(), printed: true}
	}
	if err == nil {
		rest := fs.Args()
		if len(rest) == 0 {
			a.topUsage(fs)
			return exitUsage
		}
		err = a.dispatch(ctx, rest[0], rest[1:])
	}
	return a.exit(err)
}

func (a *app) dispatch(ctx context.Context, name string, args []string) error {
	if name == "help" {
		return flag.ErrHelp
	}
	for _, c := range a.commands() {
		if c.name == name {
			return c.run(a, ctx, args)
		}
	}
	return usagef("unknown command %q (run duroscope -h for the list)", name)
}

func (a *app) exit(err error) int {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		err = fmt.Errorf("%w\n(is the query service running at %s? set --url or %s)", err, a.url, envURL)
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		if !ue.printed {
			fmt.Fprintf(a.stderr, "duroscope: %s\n", ue.msg)
		}
		return exitUsage
	default:
		fmt.Fprintf(a.stderr, "duroscope: %s\n", describe(err))
		return exitError
	}
}

// describe turns an error into one line for a human; API errors lose the
// client package's "duroscope: " prefix since the CLI adds its own.
func describe(err error) string {
	var ae *client.APIError
	if errors.As(err, &ae) {
		s := strings.TrimPrefix(err.Error(), "duroscope: ")
		if ae.StatusCode == 401 {
			s += " (set --token or " + envToken + ")"
		}
		return s
	}
	return strings.TrimPrefix(err.Error(), "duroscope: ")
}

func (a *app) topUsage(fs *flag.FlagSet) {
	w := a.stderr
	fmt.Fprintf(w, "usage: duroscope [global flags] <command> [flags] [args]\n\ncommands:\n")
	for _, c := range a.commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\ninstances subcommands: list, count, watch, show ID, tree ID, history ID, status ID...\n")
	fmt.Fprintf(w, "\nglobal flags (also accepted after the command):\n")
	fs.PrintDefaults()
}

// flagSet returns a FlagSet that also accepts the global flags, so they may
// be given before or after the command name.
func (a *app) flagSet(name, usage, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	if !a.envLoaded {
		a.envLoaded = true
		a.url = a.getenv(envURL)
		if a.url == "" {
			a.url = defaultURL
		}
		a.token = a.getenv(envToken)
	}
	fs.StringVar(&a.url, "url", a.url, "query service base URL (env "+envURL+")")
	// A Func flag shows no default, so a token from the environment never
	// appears in -h output.
	fs.Func("token", "bearer token (env "+envToken+")", func(s string) error {
		a.token = s
		return nil
	})
	fs.BoolVar(&a.json, "json", a.json, "print the JSON answer instead of a table")
	fs.Uint64Var(&a.minSeq, "min-seq", a.minSeq, "answer only once the service has projected stream sequence N (min_seq; 0: no condition)")
	fs.Func("timeout", "time limit of the command, e.g. 10s (default 30s; export: none)", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fmt.Errorf("want a non-negative Go duration such as 10s or 2m")
		}
		a.timeout, a.timeoutSet = d, true
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "usage: duroscope %s\n", usage)
		if help != "" {
			fmt.Fprintf(a.stderr, "\n%s\n", help)
		}
		fmt.Fprintf(a.stderr, "\nflags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags interspersed with positional arguments ("show ID
// --json" works); everything after "--" is positional.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error(), printed: true}
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// client builds the service client from the global flags. streaming lifts
// the default timeout (an export may take long) unless --timeout was given.
func (a *app) client(streaming bool) (*client.Client, error) {
	timeout := defaultTimeout
	switch {
	case a.timeoutSet:
		timeout = a.timeout
	case streaming:
		timeout = 0
	}
	opts := []client.Option{
		client.WithUserAgent("duroscope-cli"),
		client.WithTimeout(timeout),
		client.WithRetry(2),
	}
	if a.token != "" {
		opts = append(opts, client.WithToken(a.token))
	}
	if a.minSeq > 0 {
		opts = append(opts, client.WithMinSeq(a.minSeq))
	}
	source := "--url"
	if env := a.getenv(envURL); env != "" && env == a.url {
		source = envURL
	}
	if err := config.ParseURL(a.url, []string{"http", "https"}); err != nil {
		return nil, &usageError{msg: fmt.Sprintf("%s: %v", source, err)}
	}
	c, err := client.New(a.url, opts...)
	if err != nil {
		return nil, &usageError{msg: fmt.Sprintf("%s: %v", source, strings.TrimPrefix(err.Error(), "duroscope client: "))}
	}
	return c, nil
}

// noteLag tells the user on stderr when the answer comes from a read model
// that is behind the stream: the numbers may be stale.
func (a *app) noteLag(c *client.Client) {
	p, ok := c.LastProjection()
	if !ok || p.LagEvents == 0 {
		return
	}
	through := "nothing yet"
	if p.ProjectedThrough != nil {
		through = p.ProjectedThrough.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	fmt.Fprintf(a.stderr, "note: the read model is %d events behind the stream (projected through %s)\n", p.LagEvents, through)
}
