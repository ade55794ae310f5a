// Package config reads the settings both binaries share (API.md "Running:
// configuration both binaries read"): every flag has a DUROSCOPE_* variable,
// and a flag given on the command line wins over the variable.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
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

	// TLS to NATS: a CA bundle to verify the server with, and a client
	// certificate and key for servers that require one (mutual TLS).
	NATSTLSCA, NATSTLSCert, NATSTLSKey string
	// TLS to ClickHouse's native port (its tcp_port_secure): on when
	// ClickHouseTLS is set or a CA / skip-verify is given.
	ClickHouseTLS           bool
	ClickHouseTLSCA         string
	ClickHouseTLSSkipVerify bool

	// NATSTLSConfig and ClickHouseTLSConfig are built by Finish from the
	// settings above; nil = plain TCP (for NATS, a tls:// URL still gets
	// TLS with the system roots).
	NATSTLSConfig       *tls.Config
	ClickHouseTLSConfig *tls.Config

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
	fs.StringVar(&c.NATSTLSCA, "nats-tls-ca", get(env, "DUROSCOPE_NATS_TLS_CA", ""), "PEM file of the CA(s) that sign the NATS server's certificate; turns TLS on (env DUROSCOPE_NATS_TLS_CA)")
	fs.StringVar(&c.NATSTLSCert, "nats-tls-cert", get(env, "DUROSCOPE_NATS_TLS_CERT", ""), "PEM client certificate for NATS servers that verify clients; needs -nats-tls-key (env DUROSCOPE_NATS_TLS_CERT)")
	fs.StringVar(&c.NATSTLSKey, "nats-tls-key", get(env, "DUROSCOPE_NATS_TLS_KEY", ""), "PEM private key of -nats-tls-cert (env DUROSCOPE_NATS_TLS_KEY)")
	fs.BoolVar(&c.ClickHouseTLS, "clickhouse-tls", getBool(env, "DUROSCOPE_CLICKHOUSE_TLS"), "connect to ClickHouse over TLS (its secure native port, usually 9440) (env DUROSCOPE_CLICKHOUSE_TLS=1)")
	fs.StringVar(&c.ClickHouseTLSCA, "clickhouse-tls-ca", get(env, "DUROSCOPE_CLICKHOUSE_TLS_CA", ""), "PEM file of the CA(s) that sign ClickHouse's certificate; implies -clickhouse-tls (env DUROSCOPE_CLICKHOUSE_TLS_CA)")
	fs.BoolVar(&c.ClickHouseTLSSkipVerify, "clickhouse-tls-skip-verify", getBool(env, "DUROSCOPE_CLICKHOUSE_TLS_SKIP_VERIFY"), "do not verify ClickHouse's certificate (testing only); implies -clickhouse-tls (env DUROSCOPE_CLICKHOUSE_TLS_SKIP_VERIFY=1)")
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
	var err error
	if c.NATSTLSConfig, err = natsTLS(c.NATSTLSCA, c.NATSTLSCert, c.NATSTLSKey); err != nil {
		return err
	}
	if c.ClickHouseTLS || c.ClickHouseTLSCA != "" || c.ClickHouseTLSSkipVerify {
		c.ClickHouseTLS = true
		c.ClickHouseTLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.ClickHouseTLSSkipVerify}
		if c.ClickHouseTLSCA != "" {
			if c.ClickHouseTLSConfig.RootCAs, err = loadCA("clickhouse-tls-ca", c.ClickHouseTLSCA); err != nil {
				return err
			}
		}
	}
	return nil
}

// natsTLS builds the NATS client's TLS configuration; nil when no TLS file
// is configured.
func natsTLS(ca, cert, key string) (*tls.Config, error) {
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	if (cert == "") != (key == "") {
		return nil, fmt.Errorf("nats-tls-cert and nats-tls-key: give both or neither")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pool, err := loadCA("nats-tls-ca", ca)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("nats-tls-cert / nats-tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}

func loadCA(flagName, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", flagName, file)
	}
	return pool, nil
}

// NATSOptions are the connection options the NATS settings ask for (TLS).
func (c *Common) NATSOptions() []nats.Option {
	if c.NATSTLSConfig == nil {
		return nil
	}
	// Secure with a config: the client upgrades to TLS whatever the URL
	// scheme, verifying with the given CA (system roots otherwise).
	return []nats.Option{nats.Secure(c.NATSTLSConfig.Clone())}
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

// getBool reads a boolean variable: 1, true, yes or on (any case) is true.
func getBool(env Env, key string) bool {
	v, _ := env(key)
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
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

// RedactURLs hides the credentials of URLs (a comma-separated list, e.g.
// NATS servers or a postgres:// source) before they reach a log or an
// error message: a user part becomes "REDACTED".
func RedactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable URL)"
			continue
		}
		if u.User != nil {
			u.User = url.User("REDACTED")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
