// Package config reads the settings both binaries share (API.md "Running:
// configuration both binaries read"): every flag has a DUROSCOPE_* variable,
// and a flag given on the command line wins over the variable.
package config

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/rs/zerolog"
)

// Common holds the shared settings.
type Common struct {
	NATSURL            string
	Stream             string
	ClickHouseAddrs    []string
	ClickHouseDatabase string
	ClickHouseUser     string
	ClickHousePassword string
	LogLevel           string

	clickHouseAddr string // raw flag value, split by Finish
}

// Env looks up variables; os.LookupEnv in production, a map in tests.
type Env func(key string) (string, bool)

// Register adds the shared flags to fs, with defaults taken from env.
// Call Finish after fs.Parse.
func Register(fs *flag.FlagSet, env Env) *Common {
	c := &Common{}
	fs.StringVar(&c.NATSURL, "nats-url", get(env, "DUROSCOPE_NATS_URL", ""), "NATS server URL(s); empty = embedded server on 127.0.0.1:4222 (env DUROSCOPE_NATS_URL)")
	fs.StringVar(&c.Stream, "stream", get(env, "DUROSCOPE_STREAM", "DUROXIDE_HISTORY"), "JetStream stream name (env DUROSCOPE_STREAM)")
	fs.StringVar(&c.clickHouseAddr, "clickhouse-addr", get(env, "DUROSCOPE_CLICKHOUSE_ADDR", "127.0.0.1:9000"), "ClickHouse native address(es), comma separated (env DUROSCOPE_CLICKHOUSE_ADDR)")
	fs.StringVar(&c.ClickHouseDatabase, "clickhouse-database", get(env, "DUROSCOPE_CLICKHOUSE_DATABASE", "duroscope"), "ClickHouse database, created if missing (env DUROSCOPE_CLICKHOUSE_DATABASE)")
	fs.StringVar(&c.ClickHouseUser, "clickhouse-user", get(env, "DUROSCOPE_CLICKHOUSE_USER", "default"), "ClickHouse user (env DUROSCOPE_CLICKHOUSE_USER)")
	fs.StringVar(&c.ClickHousePassword, "clickhouse-password", get(env, "DUROSCOPE_CLICKHOUSE_PASSWORD", ""), "ClickHouse password (env DUROSCOPE_CLICKHOUSE_PASSWORD)")
	fs.StringVar(&c.LogLevel, "log-level", get(env, "DUROSCOPE_LOG_LEVEL", "info"), "debug|info|warn|error (env DUROSCOPE_LOG_LEVEL)")
	return c
}

// Finish completes values that need the parsed flags and validates them.
func (c *Common) Finish() error {
	c.ClickHouseAddrs = splitList(c.clickHouseAddr)
	if len(c.ClickHouseAddrs) == 0 {
		return fmt.Errorf("clickhouse-addr: want host:port[,host:port...], got nothing")
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		return fmt.Errorf("log-level: want debug|info|warn|error, got %q", c.LogLevel)
	}
	if c.Stream == "" {
		return fmt.Errorf("stream: must not be empty")
	}
	return nil
}

// Logger builds the process logger at the configured level.
func (c *Common) Logger(component string) zerolog.Logger {
	lvl, _ := zerolog.ParseLevel(c.LogLevel)
	return zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Str("service", component).Logger()
}

// OSEnv is the process environment.
func OSEnv(key string) (string, bool) { return os.LookupEnv(key) }

func get(env Env, key, def string) string {
	if v, ok := env(key); ok && v != "" {
		return v
	}
	return def
}

// Get returns the variable or def; for binary-specific settings.
func Get(env Env, key, def string) string { return get(env, key, def) }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
