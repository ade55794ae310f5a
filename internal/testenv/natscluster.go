package testenv

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/internal/natsembed"
)

// NATSCluster is a real JetStream cluster of embedded servers on this
// machine (routes between them, each with its own store), and a client
// connection that knows every member: what a clustered deployment gives
// the binaries in DUROSCOPE_NATS_URL.
type NATSCluster struct {
	// URL lists every member's client URL, comma separated.
	URL string
	NC  *nats.Conn
	JS  jetstream.JetStream

	mu    sync.Mutex
	nodes []*clusterNode
	name  string
}

type clusterNode struct {
	cfg    natsembed.Config
	server *server.Server // nil while stopped
}

// StartNATSCluster starts size servers forming one JetStream cluster,
// stopped at cleanup.
func StartNATSCluster(tb testing.TB, size int) *NATSCluster {
	tb.Helper()
	ports := freePorts(tb, 2*size)
	c := &NATSCluster{name: "duroscope-test"}
	var routes, urls []string
	for i := range size {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[size+i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	dir := tb.TempDir()
	for i := range size {
		c.nodes = append(c.nodes, &clusterNode{cfg: natsembed.Config{
			Name:     fmt.Sprintf("n%d", i+1),
			Port:     ports[i],
			StoreDir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			Cluster:  &natsembed.Cluster{Name: c.name, Port: ports[size+i], Routes: routes},
		}})
	}
	tb.Cleanup(c.stop)
	// Start them together: a JetStream cluster elects its meta leader
	// only once a quorum of members is up.
	var wg sync.WaitGroup
	errs := make([]error, size)
	for i := range size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Start(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	c.URL = strings.Join(urls, ",")
	nc, err := nats.Connect(c.URL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		tb.Fatalf("connect to the NATS cluster: %v", err)
	}
	c.NC = nc
	if c.JS, err = jetstream.New(nc); err != nil {
		tb.Fatal(err)
	}
	c.waitJetStream(tb, time.Minute)
	return c
}

// Connect opens another connection to the cluster through every member's
// URL (as a process given DUROSCOPE_NATS_URL does), closed at cleanup.
func (c *NATSCluster) Connect(tb testing.TB) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(c.URL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		tb.Fatalf("connect to the NATS cluster: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return nc, js
}

// Start (re)starts member i on its own ports and store.
func (c *NATSCluster) Start(i int) error {
	c.mu.Lock()
	n := c.nodes[i]
	c.mu.Unlock()
	s, err := natsembed.Start(n.cfg)
	if err != nil {
		return fmt.Errorf("start NATS cluster member %s: %w", n.cfg.Name, err)
	}
	c.mu.Lock()
	n.server = s
	c.mu.Unlock()
	return nil
}

// Kill stops member i at once, as a crashed node (its store stays).
func (c *NATSCluster) Kill(i int) {
	c.mu.Lock()
	s := c.nodes[i].server
	c.nodes[i].server = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Server is member i's server (nil while it is stopped).
func (c *NATSCluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].server
}

// Size is the number of members.
func (c *NATSCluster) Size() int { return len(c.nodes) }

func (c *NATSCluster) stop() {
	if c.NC != nil {
		c.NC.Close()
	}
	for i := range c.nodes {
		c.Kill(i)
	}
}

// waitJetStream waits until the cluster can place a stream on every
// member: a meta leader is elected and every member has joined (answering
// AccountInfo alone comes earlier, and a stream created then can time out).
func (c *NATSCluster) waitJetStream(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	probe := jetstream.StreamConfig{Name: "DUROSCOPE_TEST_PROBE", Subjects: []string{"duroscope.test.probe"}, Replicas: len(c.nodes)}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.JS.CreateStream(ctx, probe)
		if err == nil {
			err = c.JS.DeleteStream(ctx, probe.Name)
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("NATS cluster: JetStream not available within %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePorts returns n distinct TCP ports free on 127.0.0.1 a moment ago.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("find a free port: %v", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}
