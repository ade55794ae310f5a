package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/config"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chwrite"
	"github.com/duroscope/duroscope/schema"
)

// env is the infrastructure of one bench run: a ClickHouse connection, a
// JetStream connection (to an embedded server unless a URL was given), and
// the databases and streams the run created, dropped at close unless kept.
type env struct {
	cfg    *Settings
	ch     driver.Conn
	nc     *nats.Conn
	js     jetstream.JetStream
	srv    *server.Server // embedded server, nil with --nats-url
	natURL string
	tmp    string
	runID  string

	// chPIDs is the local ClickHouse server process, for CPU accounting.
	chPIDs []int

	dbs     []string
	streams []string
}

func newEnv(ctx context.Context, cfg *Settings) (*env, error) {
	e := &env{cfg: cfg, runID: randHex(4)}
	var err error
	e.tmp, err = os.MkdirTemp("", "duroscope-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	e.ch, err = chconn.Open(ctx, chconn.ConnConfig{
		Addrs: cfg.clickHouseAddrs, Database: "default", User: cfg.clickHouseUser, Password: cfg.clickHousePassword,
		MaxOpenConns: 32,
	})
	if err != nil {
		return nil, fmt.Errorf("ClickHouse at %v (set --clickhouse-addr or DUROSCOPE_CLICKHOUSE_ADDR): %w", cfg.clickHouseAddrs, err)
	}
	e.chPIDs = clickHousePIDs(cfg.clickHouseAddrs[0])
	if cfg.natsURL == "" {
		n, err := testenv.StartJetStream(filepath.Join(e.tmp, "nats"), -1, jetstream.WithPublishAsyncMaxPending(8000))
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		e.srv, e.natURL, e.nc, e.js = n.Server, n.URL, n.NC, n.JS
		return e, nil
	}
	e.natURL = cfg.natsURL
	e.nc, err = nats.Connect(e.natURL, nats.Name("duroscope-bench"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect NATS %s: %w", config.Redact(e.natURL), err)
	}
	e.js, err = jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(8000))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return e, nil
}

func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if !e.cfg.keep {
		for _, db := range e.dbs {
			_ = e.ch.Exec(ctx, "DROP DATABASE IF EXISTS "+db)
		}
		for _, s := range e.streams {
			_ = e.js.DeleteStream(ctx, s)
		}
	} else if len(e.dbs)+len(e.streams) > 0 {
		logf("kept databases %v and streams %v (--keep)", e.dbs, e.streams)
	}
	if e.nc != nil {
		e.nc.Close()
	}
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}
	if e.ch != nil {
		e.ch.Close()
	}
	if !e.cfg.keep || e.srv == nil {
		os.RemoveAll(e.tmp)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newDatabase creates a uniquely named database with the read-model schema.
func (e *env) newDatabase(ctx context.Context, what string) (string, error) {
	name := fmt.Sprintf("dsbench_%s_%s_%d", e.runID, what, len(e.dbs))
	e.dbs = append(e.dbs, name)
	if _, err := schema.Apply(ctx, e.ch, schema.Config{Database: name,
		Steps: chwrite.NewWriter(e.ch, chwrite.WriterConfig{Database: name}).SchemaSteps()}); err != nil {
		return "", fmt.Errorf("apply schema to %s: %w", name, err)
	}
	return name, nil
}

// dropDatabase drops a database this run created (unless --keep).
func (e *env) dropDatabase(ctx context.Context, name string) {
	if e.cfg.keep {
		return
	}
	if err := e.ch.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		logf("warning: drop database %s: %v", name, err)
	}
}

// newStreamName names a stream of this run (created by the caller).
func (e *env) newStreamName(what string) string {
	name := fmt.Sprintf("DSBENCH_%s_%s", strings.ToUpper(e.runID), strings.ToUpper(what))
	e.streams = append(e.streams, name, events.DLQStream(name))
	return name
}

func (e *env) deleteStream(ctx context.Context, name string) {
	if e.cfg.keep {
		return
	}
	_ = e.js.DeleteStream(ctx, name)
	_ = e.js.DeleteStream(ctx, events.DLQStream(name))
}

// consumerState is what the bench polls to time a consumer.
type consumerState struct {
	exists   bool
	ackFloor uint64
}

func (e *env) consumer(ctx context.Context, stream, name string) (consumerState, error) {
	c, err := e.js.Consumer(ctx, stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return consumerState{}, nil
	}
	if err != nil {
		return consumerState{}, err
	}
	ci, err := c.Info(ctx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return consumerState{}, nil
	}
	if err != nil {
		return consumerState{}, err
	}
	return consumerState{exists: true, ackFloor: ci.AckFloor.Stream}, nil
}

func (e *env) deleteConsumer(ctx context.Context, stream, name string) error {
	err := e.js.DeleteConsumer(ctx, stream, name)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete consumer %s: %w", name, err)
	}
	return nil
}

// child is a consumer process started by the bench (this binary re-executed
// in a child mode, see child.go).
type child struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan error
}

// startChild runs this executable with args, output to logPath, with the
// bench's environment plus env.
func startChild(logPath string, env []string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start child %v: %w", args, err)
	}
	c := &child{cmd: cmd, log: lf, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the child has ended on its own (a crash).
func (c *child) exited() (bool, error) {
	select {
	case err := <-c.done:
		c.done <- err
		return true, err
	default:
		return false, nil
	}
}

// stop asks the child to finish (SIGTERM), waits up to grace, then kills it.
func (c *child) stop(grace time.Duration) error {
	defer c.log.Close()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		return err
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("child %d did not stop within %v; killed", c.pid(), grace)
	}
}

// procStatus reads VmRSS and VmHWM (peak RSS) of pid in bytes.
func procStatus(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &rss
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &hwm
		default:
			continue
		}
		fields := strings.Fields(line)
		if len(fields) >= 2 {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			*dst = kb << 10
		}
	}
	return rss, hwm, sc.Err()
}

// cpuSeconds is the user+system CPU time pid has used.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux the bench targets.
const clockTicks = 100

// clickHousePIDs finds the local process listening on the ClickHouse
// address's port (its CPU time is the server's alone); when there is none
// (a remote server, or /proc unreadable) it returns nil and ClickHouse CPU
// is not reported.
func clickHousePIDs(addr string) []int {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) < 10 || fs[3] != "0A" { // 0A = LISTEN
				continue
			}
			i := strings.LastIndexByte(fs[1], ':')
			if p, err := strconv.ParseInt(fs[1][i+1:], 16, 32); err == nil && int(p) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", e.Name(), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "fd", fd.Name())); err == nil && inodes[l] {
				return []int{pid}
			}
		}
	}
	return nil
}

// cpuMeter measures the CPU used by this process, a child and ClickHouse
// over an interval.
type cpuMeter struct {
	childPID       int
	ch             []int
	self, kid, chs float64
	started        time.Time
}

func startCPUMeter(childPID int, chPIDs []int) *cpuMeter {
	m := &cpuMeter{childPID: childPID, ch: chPIDs, started: time.Now()}
	m.self, _ = cpuSeconds(os.Getpid())
	m.kid, _ = cpuSeconds(childPID)
	for _, p := range m.ch {
		v, _ := cpuSeconds(p)
		m.chs += v
	}
	return m
}

// cpuUse is CPU seconds used during an interval, per process group.
type cpuUse struct {
	Wall       float64 `json:"wall_s"`
	Child      float64 `json:"child_cpu_s"`
	Bench      float64 `json:"bench_cpu_s"` // this process: embedded NATS server + polling
	ClickHouse float64 `json:"clickhouse_cpu_s"`
}

func (m *cpuMeter) stop() cpuUse {
	u := cpuUse{Wall: time.Since(m.started).Seconds()}
	if v, err := cpuSeconds(os.Getpid()); err == nil {
		u.Bench = v - m.self
	}
	if v, err := cpuSeconds(m.childPID); err == nil {
		u.Child = v - m.kid
	}
	var chs float64
	for _, p := range m.ch {
		v, _ := cpuSeconds(p)
		chs += v
	}
	u.ClickHouse = chs - m.chs
	return u
}

// loadAvg is /proc/loadavg's first three fields.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
