package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// PostgresBinDir is where the Debian postgresql-15 package puts initdb and
// pg_ctl; $DUROSCOPE_POSTGRES_BIN overrides it.
func PostgresBinDir() string {
	if d := os.Getenv("DUROSCOPE_POSTGRES_BIN"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

// Postgres is a private PostgreSQL server (its own data directory and free
// port), stopped and removed at cleanup.
type Postgres struct {
	// URL reaches database "postgres" as superuser "postgres", no password.
	URL  string
	Port int
	dir  string
	bin  string
	opts string
	cred *syscall.Credential
}

// Start starts the server again after Stop (a restart keeps the data).
func (p *Postgres) Start() error {
	data := filepath.Join(p.dir, "data")
	if out, err := p.command("pg_ctl", "-D", data, "-o", p.opts, "-l", filepath.Join(p.dir, "server.log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// Stop stops the server (fast shutdown); stopping a stopped server is not
// an error.
func (p *Postgres) Stop() error {
	data := filepath.Join(p.dir, "data")
	if err := p.command("pg_ctl", "-D", data, "status").Run(); err != nil {
		return nil // not running
	}
	if out, err := p.command("pg_ctl", "-D", data, "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// PostgresOption changes how StartPostgres configures the server.
type PostgresOption func(*postgresOptions)

type postgresOptions struct {
	settings []string
}

// WithLogicalReplication starts the server with wal_level=logical and room
// for replication slots and WAL senders (logical decoding tests).
func WithLogicalReplication() PostgresOption {
	return func(o *postgresOptions) {
		o.settings = append(o.settings, "wal_level=logical", "max_replication_slots=10", "max_wal_senders=10")
	}
}

// WithSetting adds one server setting ("name=value", passed as -c).
func WithSetting(nameValue string) PostgresOption {
	return func(o *postgresOptions) { o.settings = append(o.settings, nameValue) }
}

// StartPostgres initialises and starts a server. Without the binaries it
// skips the test, unless DUROSCOPE_REQUIRE_POSTGRES is set, then it fails.
// As root (initdb refuses root) the server runs as the "postgres" user.
func StartPostgres(tb testing.TB, options ...PostgresOption) *Postgres {
	tb.Helper()
	bin := PostgresBinDir()
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		if os.Getenv("DUROSCOPE_REQUIRE_POSTGRES") != "" {
			tb.Fatalf("PostgreSQL binaries not found in %s (apt-get install postgresql-15): %v", bin, err)
		}
		tb.Skipf("PostgreSQL binaries not found in %s (apt-get install postgresql-15, or set DUROSCOPE_POSTGRES_BIN); set DUROSCOPE_REQUIRE_POSTGRES=1 to fail instead", bin)
	}
	dir, err := os.MkdirTemp("", "duroscope-pg-")
	if err != nil {
		tb.Fatalf("postgres temp dir: %v", err)
	}
	p := &Postgres{dir: dir, bin: bin}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		p.cred, err = credentialOf("postgres")
		if err != nil {
			tb.Fatalf("running as root, PostgreSQL needs the postgres user: %v", err)
		}
		if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			tb.Fatalf("chown %s: %v", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := p.command("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Port = freePort(tb)
	var o postgresOptions
	for _, opt := range options {
		opt(&o)
	}
	p.opts = fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", p.Port, dir)
	for _, s := range o.settings {
		p.opts += " -c " + s
	}
	if err := p.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := p.Stop(); err != nil {
			tb.Error(err)
		}
	})
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
	return p
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	cmd.Stdin = &bytes.Buffer{}
	return cmd
}

func credentialOf(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of %s: %w", name, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of %s: %w", name, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
