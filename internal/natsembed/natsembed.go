// Package natsembed runs an in-process NATS server with JetStream: the
// projector's no-configuration default and the tests' real JetStream.
package natsembed

import (
	"fmt"
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
	opts := &server.Options{
		ServerName: "duroscope-embedded",
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: cfg.MaxPayload,
		// The pending-bytes limit must exceed the payload limit.
		MaxPending: int64(cfg.MaxPayload) * 8,
		NoSigs:     true,
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
