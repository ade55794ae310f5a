// Package chconn is the read model's connection to ClickHouse: opening and
// checking it (Open), a connection for services that start while ClickHouse
// is down (LazyConn), the per-statement settings seam (WithSettings), the
// server's features (Features) and what ClickHouse's error codes mean
// (IsRefused). The write adapter (chwrite) and the read adapter (chread) run
// their statements through it.
package chconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/schema"
)

// ConnConfig says how to reach ClickHouse. Only the native protocol is used:
// ClickHouse 18.16 (Debian) does not speak clickhouse-go's HTTP dialect.
type ConnConfig struct {
	Addrs    []string // host:port of the native protocol, e.g. 127.0.0.1:9000
	Database string
	User     string
	Password string
	TLS      *tls.Config // nil = plain TCP
	// DialTimeout bounds each connection attempt (default 5s).
	DialTimeout time.Duration
	// MaxOpenConns bounds the pool (default 16).
	MaxOpenConns int
	// Settings are sent with every query (e.g. readonly, max_execution_time).
	Settings map[string]any
}

// ValidIdentifier reports whether s can be used as a database name
// unquoted (schema.ValidIdentifier, the rule's one home).
func ValidIdentifier(s string) bool { return schema.ValidIdentifier(s) }

// Open connects to ClickHouse (without selecting the database, which may
// not exist yet) and checks that the server answers.
func Open(ctx context.Context, cfg ConnConfig) (driver.Conn, error) {
	if !ValidIdentifier(cfg.Database) {
		return nil, fmt.Errorf("clickhouse database name %q: want letters, digits and _ only", cfg.Database)
	}
	if len(cfg.Addrs) == 0 {
		return nil, fmt.Errorf("clickhouse: no address configured")
	}
	dt := cfg.DialTimeout
	if dt == 0 {
		dt = 5 * time.Second
	}
	maxOpen := cfg.MaxOpenConns
	if maxOpen == 0 {
		maxOpen = 16
	}
	settings := clickhouse.Settings{}
	for k, v := range cfg.Settings {
		settings[k] = v
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:     cfg.Addrs,
		Protocol: clickhouse.Native,
		Auth: clickhouse.Auth{
			Database: "default",
			Username: cfg.User,
			Password: cfg.Password,
		},
		TLS:              cfg.TLS,
		DialTimeout:      dt,
		MaxOpenConns:     maxOpen,
		MaxIdleConns:     maxOpen,
		ConnMaxLifetime:  time.Hour,
		Settings:         settings,
		ConnOpenStrategy: clickhouse.ConnOpenInOrder,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse open %v: %w", cfg.Addrs, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse ping %v: %w", cfg.Addrs, err)
	}
	return conn, nil
}
