package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func parse(t *testing.T, args []string, env map[string]string) (*Common, error) {
	t.Helper()
	f := NewFlags("t", envOf(env))
	c := Register(f, "")
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	return c, c.Finish()
}

// selfSigned writes a self-signed certificate and its key as PEM files.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

func TestTLSSettings(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)

	c, err := parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSTLSConfig != nil || c.ClickHouseTLSConfig != nil || c.ClickHouseTLS || len(c.NATSOptions()) != 0 {
		t.Errorf("TLS on by default: %+v", c)
	}

	c, err = parse(t, nil, map[string]string{"DUROSCOPE_NATS_TLS_CA": cert, "DUROSCOPE_NATS_TLS_CERT": cert, "DUROSCOPE_NATS_TLS_KEY": key,
		"DUROSCOPE_CLICKHOUSE_TLS": "1", "DUROSCOPE_CLICKHOUSE_TLS_CA": cert})
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSTLSConfig == nil || c.NATSTLSConfig.RootCAs == nil || len(c.NATSTLSConfig.Certificates) != 1 || len(c.NATSOptions()) != 1 {
		t.Errorf("NATS TLS from the environment: %+v", c.NATSTLSConfig)
	}
	if !c.ClickHouseTLS || c.ClickHouseTLSConfig == nil || c.ClickHouseTLSConfig.RootCAs == nil || c.ClickHouseTLSConfig.InsecureSkipVerify {
		t.Errorf("ClickHouse TLS from the environment: %+v", c.ClickHouseTLSConfig)
	}

	// Flags; a CA or skip-verify alone turns ClickHouse TLS on.
	c, err = parse(t, []string{"-nats-tls-ca", cert, "-clickhouse-tls-skip-verify"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSTLSConfig == nil || len(c.NATSTLSConfig.Certificates) != 0 || !c.ClickHouseTLS || !c.ClickHouseTLSConfig.InsecureSkipVerify {
		t.Errorf("flags: nats %+v clickhouse %v %+v", c.NATSTLSConfig, c.ClickHouseTLS, c.ClickHouseTLSConfig)
	}
	for _, v := range []string{"1", "true", "TRUE", "yes", "on"} {
		if c, err := parse(t, nil, map[string]string{"DUROSCOPE_CLICKHOUSE_TLS": v}); err != nil || !c.ClickHouseTLS || c.ClickHouseTLSConfig == nil {
			t.Errorf("DUROSCOPE_CLICKHOUSE_TLS=%s: %v %v", v, c, err)
		}
	}
	for _, v := range []string{"0", "false", "", "no", "OFF"} {
		if c, err := parse(t, nil, map[string]string{"DUROSCOPE_CLICKHOUSE_TLS": v}); err != nil || c.ClickHouseTLS {
			t.Errorf("DUROSCOPE_CLICKHOUSE_TLS=%q turned TLS on (%v)", v, err)
		}
	}

	for _, c := range []struct {
		env map[string]string
		has string
	}{
		{map[string]string{"DUROSCOPE_NATS_TLS_CERT": cert}, "nats-tls-key"},
		{map[string]string{"DUROSCOPE_NATS_TLS_KEY": key}, "nats-tls-cert"},
		{map[string]string{"DUROSCOPE_NATS_TLS_CA": filepath.Join(dir, "missing.pem")}, "nats-tls-ca"},
		{map[string]string{"DUROSCOPE_NATS_TLS_CA": notPEM}, "no PEM certificate"},
		{map[string]string{"DUROSCOPE_NATS_TLS_CERT": key, "DUROSCOPE_NATS_TLS_KEY": cert}, "nats-tls-cert"},
		{map[string]string{"DUROSCOPE_CLICKHOUSE_TLS_CA": notPEM}, "clickhouse-tls-ca"},
	} {
		if _, err := parse(t, nil, c.env); err == nil || !strings.Contains(err.Error(), c.has) {
			t.Errorf("%v: %v; want an error naming %s", c.env, err, c.has)
		}
	}
}
