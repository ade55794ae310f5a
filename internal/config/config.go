// Package config reads every binary's settings (API.md "Running:
// configuration both binaries read"): Flags, a typed flag set in which every
// flag has a DUROSCOPE_* variable and a flag given on the command line wins
// over the variable; Common, the settings all binaries share; the shared
// defaults; and Redact for URLs that reach logs.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/schema"
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

	flags *Flags // names the source of a value in errors
}

// Defaults shared by the binaries: one home for each.
const (
	// DefaultNATSURL is where the projector's embedded JetStream server
	// listens when no NATS URL is configured.
	DefaultNATSURL = "nats://127.0.0.1:4222"
	// DefaultClickHouseAddr is ClickHouse's native port on this host.
	DefaultClickHouseAddr = "127.0.0.1:9000"
	// DefaultDatabase is the read model's database.
	DefaultDatabase = "duroscope"
)

// NATSSchemes are the URL schemes NATS clients accept.
func NATSSchemes() []string { return []string{"nats", "tls", "ws", "wss"} }

// LogLevels are the accepted -log-level values.
func LogLevels() []string { return []string{"debug", "info", "warn", "error"} }

// Register adds the shared flags to f. natsDefault is the binary's NATS
// URL when none is configured ("" = the projector's embedded server).
// Call Finish after f.Parse.
func Register(f *Flags, natsDefault string) *Common {
	c := &Common{flags: f}
	natsUsage := "NATS server URL(s), comma separated"
	if natsDefault == "" {
		natsUsage += "; empty = an embedded JetStream server on 127.0.0.1:4222"
	}
	f.URLs(&c.NATSURL, "nats-url", "DUROSCOPE_NATS_URL", natsDefault, NATSSchemes(), natsUsage)
	f.String(&c.Stream, "stream", "DUROSCOPE_STREAM", events.DefaultStream, "JetStream stream name")
	f.List(&c.ClickHouseAddrs, "clickhouse-addr", "DUROSCOPE_CLICKHOUSE_ADDR", []string{DefaultClickHouseAddr}, "ClickHouse native address(es), comma separated")
	f.String(&c.ClickHouseDatabase, "clickhouse-database", "DUROSCOPE_CLICKHOUSE_DATABASE", DefaultDatabase, "ClickHouse database, created if missing")
	f.String(&c.ClickHouseUser, "clickhouse-user", "DUROSCOPE_CLICKHOUSE_USER", "default", "ClickHouse user")
	f.Secret(&c.ClickHousePassword, "clickhouse-password", "DUROSCOPE_CLICKHOUSE_PASSWORD", "ClickHouse password (prefer the variable: flags show in process lists)")
	f.OneOf(&c.LogLevel, "log-level", "DUROSCOPE_LOG_LEVEL", "info", LogLevels(), "log level")
	f.String(&c.NATSTLSCA, "nats-tls-ca", "DUROSCOPE_NATS_TLS_CA", "", "PEM file of the CA(s) that sign the NATS server's certificate; turns TLS on")
	f.String(&c.NATSTLSCert, "nats-tls-cert", "DUROSCOPE_NATS_TLS_CERT", "", "PEM client certificate for NATS servers that verify clients; needs -nats-tls-key")
	f.String(&c.NATSTLSKey, "nats-tls-key", "DUROSCOPE_NATS_TLS_KEY", "", "PEM private key of -nats-tls-cert")
	f.Bool(&c.ClickHouseTLS, "clickhouse-tls", "DUROSCOPE_CLICKHOUSE_TLS", false, "connect to ClickHouse over TLS (its secure native port, usually 9440)")
	f.String(&c.ClickHouseTLSCA, "clickhouse-tls-ca", "DUROSCOPE_CLICKHOUSE_TLS_CA", "", "PEM file of the CA(s) that sign ClickHouse's certificate; implies -clickhouse-tls")
	f.Bool(&c.ClickHouseTLSSkipVerify, "clickhouse-tls-skip-verify", "DUROSCOPE_CLICKHOUSE_TLS_SKIP_VERIFY", false, "do not verify ClickHouse's certificate (testing only); implies -clickhouse-tls")
	return c
}

// MaxStreamReplicas is JetStream's largest replica count.
const MaxStreamReplicas = 5

// StreamReplicas registers DUROSCOPE_STREAM_REPLICAS for the binaries that
// create JetStream streams and buckets (projector, connector).
func StreamReplicas(f *Flags, p *int) {
	f.Int(p, "stream-replicas", "DUROSCOPE_STREAM_REPLICAS", 1, 1, MaxStreamReplicas,
		"replicas of the streams and KV buckets this process creates when missing (more than 1 needs a JetStream cluster; an existing stream keeps its own)")
}

// ManagementRetention registers DUROSCOPE_RETENTION for the binaries that
// apply it (the query service filters by it, the projector drops by it):
// instances whose last update is older leave the management answers.
func ManagementRetention(f *Flags, p *time.Duration) {
	f.Retention(p, "retention", "DUROSCOPE_RETENTION",
		"instances not updated for this long leave the management answers and their rows are dropped (90d, 12h; empty = keep all)")
}

// Finish completes values that need the parsed flags and validates them.
func (c *Common) Finish() error {
	if !schema.ValidIdentifier(c.ClickHouseDatabase) {
		return fmt.Errorf("%s: want letters, digits and _ only (at most 63, not starting with a digit), got %q",
			c.flags.Source("clickhouse-database"), c.ClickHouseDatabase)
	}
	if c.Stream == "" {
		return fmt.Errorf("%s: want a stream name, got nothing", c.flags.Source("stream"))
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
