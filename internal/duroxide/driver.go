package duroxide

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// driverFS holds the Node driver; it is written to the npm cache directory
// before use, beside the node_modules that holds the addon.
//
//go:embed driver/*.js driver/package.json
var driverFS embed.FS

const driverMain = "driver.js"

// stderrTail is how much of the driver's stderr an error quotes.
const stderrTail = 4 << 10

// Driver runs the driver's subcommands against one Duroxide store.
type Driver struct {
	// Store is the store: "sqlite:/path/to.db" or "postgres://user@host:port/db".
	// Required.
	Store string
	// Schema is the Postgres schema Duroxide uses (created when missing);
	// empty means the public schema. Must be empty for SQLite.
	Schema string
	// LogFile receives the addon's tracing output; empty means the driver's
	// stderr.
	LogFile string
	// LogLevel is the addon's tracing level ("error", "warn", "info", ...);
	// empty means "error" (Duroxide's own warnings still show).
	LogLevel string
	// OrchestrationConcurrency and WorkerConcurrency size the runtime of
	// RunScenario and RunLoad; zero means the driver's 4 and 8.
	OrchestrationConcurrency int
	WorkerConcurrency        int
	// InjectLockFailure makes RunScenario give up its first attempt as if
	// Duroxide had failed an orchestration on "database is locked", to test
	// the retry (Scenario.Abandoned). Tests only.
	InjectLockFailure bool
	// Stderr, when non-nil, also receives the driver's stderr as it is
	// written (a test's log, a terminal). Errors quote its tail either way.
	Stderr io.Writer
}

// RunScenario runs the fixed scenario with instance ids "<prefix>-<name>";
// an empty prefix means "scn". It takes a few seconds; every expectation is
// checked by the driver, which fails on any surprise. On SQLite, an attempt
// in which Duroxide failed an orchestration on "database is locked" is run
// again under "<prefix>-again<N>" (at most 3 attempts; Scenario.Abandoned).
func (d Driver) RunScenario(ctx context.Context, prefix string) (*Scenario, error) {
	var out Scenario
	args := flag("prefix", prefix)
	if d.InjectLockFailure {
		args = append(args, "--inject-lock-failure")
	}
	return &out, d.run(ctx, "scenario", d.runtimeArgs(args...), &out)
}

// LoadOptions configure RunLoad. Rate and one of Duration or Count are
// required.
type LoadOptions struct {
	// Prefix of the instance ids "<prefix>-<seq>-<kind>"; empty means "load".
	Prefix string
	// Rate is how many instances start per second.
	Rate float64
	// Duration is how long instances keep starting; zero means until Count.
	Duration time.Duration
	// Count caps the instances started; zero means no cap.
	Count int
	// RunningEvery leaves every k-th instance Running (waiting for an event
	// that never comes); zero means the driver's default (50), -1 never.
	RunningEvery int
	// DeleteEvery deletes every k-th finished root instance; zero never.
	DeleteEvery int
	// Prune prunes each finished continue-as-new instance to its last execution.
	Prune bool
	// Drain bounds the wait for started instances to finish; zero means 60 s.
	Drain time.Duration
	// CountErrors measures instead of checking: a client call that fails
	// (after the driver's retries on "database is locked") is recorded in
	// LoadResult.ClientErrors instead of ending the run, and unexpected or
	// unfinished instances are reported without an error.
	CountErrors bool
}

// RunLoad runs the load mix until its duration or count, then drains. It
// fails when an instance ends with an unexpected status or does not finish,
// unless o.CountErrors.
func (d Driver) RunLoad(ctx context.Context, o LoadOptions) (*LoadResult, error) {
	if o.Rate <= 0 || (o.Duration <= 0 && o.Count <= 0) {
		return nil, errors.New("duroxide: RunLoad needs a positive Rate and a Duration or a Count")
	}
	args := []string{"--rate", strconv.FormatFloat(o.Rate, 'f', -1, 64)}
	args = append(args, flag("prefix", o.Prefix)...)
	if o.Duration > 0 {
		args = append(args, "--duration", strconv.FormatInt(o.Duration.Milliseconds(), 10)+"ms")
	}
	if o.Count > 0 {
		args = append(args, "--count", strconv.Itoa(o.Count))
	}
	switch {
	case o.RunningEvery < 0:
		args = append(args, "--running-every", "0")
	case o.RunningEvery > 0:
		args = append(args, "--running-every", strconv.Itoa(o.RunningEvery))
	}
	if o.DeleteEvery > 0 {
		args = append(args, "--delete-every", strconv.Itoa(o.DeleteEvery))
	}
	if o.Prune {
		args = append(args, "--prune")
	}
	if o.Drain > 0 {
		args = append(args, "--drain", strconv.FormatInt(o.Drain.Milliseconds(), 10)+"ms")
	}
	if o.CountErrors {
		args = append(args, "--count-errors")
	}
	var out LoadResult
	return &out, d.run(ctx, "load", d.runtimeArgs(args...), &out)
}

// Answers gathers Duroxide's client answers for ids, and for every instance
// in the store when all is set.
func (d Driver) Answers(ctx context.Context, ids []string, all bool) (*Answers, error) {
	if len(ids) == 0 && !all {
		return nil, errors.New("duroxide: Answers needs ids or all")
	}
	args := d.storeArgs()
	if len(ids) > 0 {
		args = append(args, "--ids", strings.Join(ids, ","))
	}
	if all {
		args = append(args, "--all")
	}
	var out Answers
	return &out, d.run(ctx, "answers", args, &out)
}

// Delete deletes each instance through Duroxide's client (a root cascades
// to its sub-orchestrations; a Running instance needs force). The report
// holds every id's outcome; the error is non-nil when any was refused.
func (d Driver) Delete(ctx context.Context, ids []string, force bool) (*DeleteReport, error) {
	if len(ids) == 0 {
		return nil, errors.New("duroxide: Delete needs ids")
	}
	args := append(d.storeArgs(), "--ids", strings.Join(ids, ","))
	if force {
		args = append(args, "--force")
	}
	var out DeleteReport
	return &out, d.run(ctx, "delete", args, &out)
}

// InstanceFilter selects instances for the bulk operations; Duroxide only
// considers root instances in a terminal status.
type InstanceFilter struct {
	// IDs restricts to these instances; empty means any.
	IDs []string
	// CompletedBefore restricts to instances completed before this time, in
	// Unix milliseconds; zero means any time.
	CompletedBefore int64
	// Limit caps how many instances are processed; zero means no cap.
	Limit int
}

func (f InstanceFilter) args() []string {
	var args []string
	if len(f.IDs) > 0 {
		args = append(args, "--ids", strings.Join(f.IDs, ","))
	}
	if f.CompletedBefore > 0 {
		args = append(args, "--completed-before", strconv.FormatInt(f.CompletedBefore, 10))
	}
	if f.Limit > 0 {
		args = append(args, "--count", strconv.Itoa(f.Limit))
	}
	return args
}

// DeleteBulk deletes the instances matching f (deleteInstanceBulk).
func (d Driver) DeleteBulk(ctx context.Context, f InstanceFilter) (*BulkDeleteReport, error) {
	var out BulkDeleteReport
	return &out, d.run(ctx, "delete-bulk", append(d.storeArgs(), f.args()...), &out)
}

// PruneOptions say which executions a prune removes; at least one is needed.
// The current execution is never removed.
type PruneOptions struct {
	// KeepLast keeps this many most recent executions; zero means not set.
	KeepLast int
	// CompletedBefore removes executions completed before this time, in Unix
	// milliseconds; zero means not set.
	CompletedBefore int64
}

func (o PruneOptions) args() ([]string, error) {
	var args []string
	if o.KeepLast > 0 {
		args = append(args, "--keep-last", strconv.Itoa(o.KeepLast))
	}
	if o.CompletedBefore > 0 {
		args = append(args, "--completed-before", strconv.FormatInt(o.CompletedBefore, 10))
	}
	if len(args) == 0 {
		return nil, errors.New("duroxide: prune needs KeepLast or CompletedBefore")
	}
	return args, nil
}

// Prune prunes one instance's old executions (pruneExecutions).
func (d Driver) Prune(ctx context.Context, id string, o PruneOptions) (*PruneReport, error) {
	opts, err := o.args()
	if err != nil {
		return nil, err
	}
	var out PruneReport
	return &out, d.run(ctx, "prune", append(append(d.storeArgs(), "--id", id), opts...), &out)
}

// PruneBulk prunes the executions of the instances matching f.
func (d Driver) PruneBulk(ctx context.Context, f InstanceFilter, o PruneOptions) (*BulkPruneReport, error) {
	opts, err := o.args()
	if err != nil {
		return nil, err
	}
	var out BulkPruneReport
	return &out, d.run(ctx, "prune-bulk", append(append(d.storeArgs(), f.args()...), opts...), &out)
}

func (d Driver) storeArgs() []string {
	return append([]string{"--store", d.Store}, flag("schema", d.Schema)...)
}

func (d Driver) runtimeArgs(extra ...string) []string {
	args := append(d.storeArgs(), flag("log-file", d.LogFile)...)
	args = append(args, flag("log-level", d.LogLevel)...)
	if d.OrchestrationConcurrency > 0 {
		args = append(args, "--orchestration-concurrency", strconv.Itoa(d.OrchestrationConcurrency))
	}
	if d.WorkerConcurrency > 0 {
		args = append(args, "--worker-concurrency", strconv.Itoa(d.WorkerConcurrency))
	}
	return append(args, extra...)
}

func flag(name, value string) []string {
	if value == "" {
		return nil
	}
	return []string{"--" + name, value}
}

// run executes one subcommand and decodes its JSON answer into out. When the
// driver fails after answering (a refused deletion), out is still filled.
func (d Driver) run(ctx context.Context, sub string, args []string, out any) error {
	if d.Store == "" {
		return errors.New("duroxide: Driver.Store is required")
	}
	addon, err := EnsureAddon(ctx)
	if err != nil {
		return err
	}
	cache, err := NPMCacheDir()
	if err != nil {
		return err
	}
	dir, err := writeDriver(cache)
	if err != nil {
		return err
	}
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: stderrTail}
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join(dir, driverMain), sub}, args...)...)
	cmd.Env = append(os.Environ(), "DUROSCOPE_DUROXIDE_ADDON="+addon)
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	if d.Stderr != nil {
		cmd.Stderr = io.MultiWriter(stderr, d.Stderr)
	}
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
			return fmt.Errorf("duroxide driver %s: undecodable answer (%w); exit: %v; stderr tail:\n%s", sub, err, runErr, stderr.String())
		}
	}
	if runErr != nil {
		return fmt.Errorf("duroxide driver %s on %s: %w; stderr tail:\n%s", sub, redact(d.Store), runErr, stderr.String())
	}
	if stdout.Len() == 0 {
		return fmt.Errorf("duroxide driver %s on %s: exited 0 without an answer; stderr tail:\n%s", sub, redact(d.Store), stderr.String())
	}
	return nil
}

// redact hides a Postgres password in error messages.
func redact(store string) string {
	if strings.HasPrefix(store, "sqlite:") {
		return store
	}
	u, err := url.Parse(store)
	if err != nil {
		return "(unparsable store URL)"
	}
	return u.Redacted()
}

// driverHash names a version of the embedded driver by its content.
func driverHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(driverFS, "driver", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := driverFS.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("duroxide: hash the embedded driver: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

func tail(b []byte) string {
	if len(b) > stderrTail {
		b = b[len(b)-stderrTail:]
	}
	return string(b)
}
