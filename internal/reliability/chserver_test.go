package reliability

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chwrite"
	"github.com/duroscope/duroscope/schema"
)

// chServer is a private clickhouse-server for tests that stop, restart or
// reconfigure ClickHouse: the shared server (scripts/test.sh) serves every
// other test and must stay up. It has its own port, data directory and
// users, and small caches.
type chServer struct {
	t       testing.TB
	dir     string
	Port    int
	cmd     *exec.Cmd
	done    chan struct{}
	Starts  int
	extra   string // extra server config elements
	users   string // users.xml <users> content
	logPath string
}

// defaultUsers is the writer account of the test servers.
const defaultUsers = `<default><password></password><networks><ip>::1</ip><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>`

// startClickHouse starts a private server; users (may be empty) adds
// accounts to the default one, extra adds server configuration.
func startClickHouse(t testing.TB, users, extra string) *chServer {
	t.Helper()
	if testenv.SkipIntegration() {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		t.Fatalf("clickhouse-server not installed (scripts/clickhouse.sh start installs it): %v", err)
	}
	c := &chServer{t: t, dir: t.TempDir(), Port: freePort(t), users: defaultUsers + users, extra: extra}
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(c.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.logPath = filepath.Join(c.dir, "log", "stdout.log")
	if err := os.WriteFile(filepath.Join(c.dir, "config.xml"), []byte(c.config()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "users.xml"), []byte(`<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default>
    <readonly><readonly>2</readonly><max_memory_usage>1000000000</max_memory_usage></readonly></profiles>
  <users>`+c.users+`</users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(c.Kill)
	return c
}

func (c *chServer) config() string {
	return fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%[1]s/log/server.log</log><errorlog>%[1]s/log/server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <tcp_port>%[2]d</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <format_schema_path>%[1]s/format_schemas/</format_schema_path>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <max_connections>256</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>0</uncompressed_cache_size>
  <timezone>UTC</timezone>
  %[3]s
</yandex>
`, c.dir, c.Port, c.extra)
}

// Addr is the native protocol address.
func (c *chServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", c.Port) }

// Start starts the server (again, on the same port and data) and waits
// until it answers.
func (c *chServer) Start() {
	c.t.Helper()
	f, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command("clickhouse-server", "--config-file="+filepath.Join(c.dir, "config.xml"))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = c.dir
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start clickhouse-server: %v", err)
	}
	c.cmd, c.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(c.done)
	}()
	c.Starts++
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := chconn.Open(ctx, chconn.ConnConfig{Addrs: []string{c.Addr()}, Database: "default", User: "default", DialTimeout: time.Second})
		cancel()
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-c.done:
			c.t.Fatalf("clickhouse-server exited at start:\n%s", c.logs())
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("private clickhouse-server on %s did not answer within 60s: %v\n%s", c.Addr(), err, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the server with SIGTERM (SIGKILL after 20 s) and waits.
func (c *chServer) Stop() {
	if c.cmd == nil {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.done
	}
}

// Kill stops the server at once.
func (c *chServer) Kill() {
	if c.cmd == nil {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

func (c *chServer) logs() string {
	var b strings.Builder
	for _, f := range []string{c.logPath, filepath.Join(c.dir, "log", "server.err.log")} {
		data, _ := os.ReadFile(f)
		b.WriteString(tail(string(data), 3000))
	}
	return b.String()
}

// database creates a database with the schema on the private server and
// returns it as a testenv.Database (for Digest).
func (c *chServer) database(name string) *testenv.Database {
	c.t.Helper()
	ctx := context.Background()
	conn, err := chconn.Open(ctx, chconn.ConnConfig{Addrs: []string{c.Addr()}, Database: name, User: "default"})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	if _, err := schema.Apply(ctx, conn, schema.Config{Database: name,
		Steps: chwrite.NewWriter(conn, chwrite.WriterConfig{Database: name}).SchemaSteps()}); err != nil {
		c.t.Fatal(err)
	}
	return &testenv.Database{Conn: conn, Name: name, Addr: c.Addr()}
}
