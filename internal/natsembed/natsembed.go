// Package natsembed runs an in-process NATS server with JetStream: the
// projector's no-configuration default and the tests' real JetStream.
package natsembed

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config configures the embedded server.
type Config struct {
	Host     string // default 127.0.0.1
	Port     int    // 0 = default 4222; -1 = a random free port
	StoreDir string // JetStream file storage; required
	// MaxPayload is the largest message accepted (default 8 MiB, so that
	// oversized history events reach the projector and are dead-lettered
	// instead of being refused at publish time).
	MaxPayload int32
	// Name is the server's name (default "duroscope-embedded"); each
	// server of a cluster needs its own.
	Name string
	// Cluster, when set, makes the server a member of a JetStream cluster.
	Cluster *Cluster
}

// Cluster is a server's place in a JetStream cluster: the cluster's name,
// the port on which this server accepts routes (on Host), and the route
// URLs of the members (nats-route://host:port; its own may be included).
type Cluster struct {
	Name   string
	Port   int
	Routes []string
}

// Start starts the server and waits until it accepts connections.
func Start(cfg Config) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, fmt.Errorf("natsembed: StoreDir is required")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = 4222
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = 8 << 20
	}
	if cfg.Name == "" {
		cfg.Name = "duroscope-embedded"
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: cfg.MaxPayload,
		// The pending-bytes limit must exceed the payload limit.
		MaxPending: int64(cfg.MaxPayload) * 8,
		NoSigs:     true,
	}
	if c := cfg.Cluster; c != nil {
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: cfg.Host, Port: c.Port}
		opts.Routes = server.RoutesFromStr(strings.Join(c.Routes, ","))
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("natsembed: server on %s:%d not ready within 10s", cfg.Host, cfg.Port)
	}
	return s, nil
}
