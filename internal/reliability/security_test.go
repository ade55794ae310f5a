package reliability

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
)

// natsServer starts a JetStream server with the given extra options on a
// random port; it is shut down at cleanup.
func natsServer(t testing.TB, mod func(*server.Options)) (*server.Server, int) {
	t.Helper()
	opts := &server.Options{ServerName: "duroscope-sec", Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, MaxPayload: 8 << 20, MaxPending: 64 << 20}
	mod(opts)
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s, s.Addr().(*net.TCPAddr).Port
}

// waitExit waits for a process that should fail to start, and returns its log.
func waitExit(t testing.TB, p *proc, within time.Duration) string {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Errorf("%s still running after %v; want it to refuse to start", p.name, within)
		p.kill()
	}
	if p.err == nil {
		t.Errorf("%s exited with status 0; want a failure", p.name)
	}
	return p.log()
}

// TestNATSTLS runs both binaries against a NATS server that requires TLS
// with client certificates (mutual TLS), using a CA generated here: with
// DUROSCOPE_NATS_TLS_CA/CERT/KEY everything is projected and the query
// service reads the watermark; without the CA, without a client
// certificate, or over plain TCP, the projector refuses to start.
func TestNATSTLS(t *testing.T) {
	p := newPKI(t)
	_, port := natsServer(t, func(o *server.Options) {
		o.TLS, o.TLSVerify, o.TLSConfig, o.TLSTimeout = true, true, p.serverTLS(true), 5
	})
	url := fmt.Sprintf("tls://127.0.0.1:%d", port)
	nc, err := nats.Connect(url, nats.Secure(p.clientTLS()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	evs := workload(61, 300)
	publishEvents(t, js, evs)
	db := testenv.NewDatabase(t, "relnatstls")
	tlsEnv := []string{"DUROSCOPE_NATS_TLS_CA=" + p.CAFile, "DUROSCOPE_NATS_TLS_CERT=" + p.ClientCert, "DUROSCOPE_NATS_TLS_KEY=" + p.ClientKey}

	proj := startProc(t, "projector-tls", binary(t, "projector"), nil, projectorEnv(url, db.Addr, db.Name, tlsEnv...))
	projtest.WaitCaughtUp(t, js, 2*time.Minute)
	proj.stop()
	stored := countRows(t, db, "SELECT count() FROM (SELECT DISTINCT instance_id, execution_id, event_id FROM {db}.history_v3)")
	if stored != uint64(len(evs)) {
		t.Errorf("projected %d of %d events over TLS", stored, len(evs))
	}
	q := startQuery(t, url, db.Addr, db.Name, tlsEnv...)
	deadline := time.Now().Add(20 * time.Second)
	var wm string
	for {
		resp, err := http.Get(q.URL + "/v1/watermark")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wm = string(b)
			if resp.StatusCode == 200 && strings.Contains(wm, `"lag_events":0`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("query service over NATS TLS: watermark %q", wm)
		}
		time.Sleep(100 * time.Millisecond)
	}

	refused := 0
	for _, c := range []struct {
		name string
		url  string
		env  []string
		has  []string // any of
	}{
		{"no CA (system roots)", url, nil, []string{"certificate", "x509"}},
		{"CA but no client certificate", url, []string{"DUROSCOPE_NATS_TLS_CA=" + p.CAFile}, []string{"certificate", "tls", "connection", "EOF"}},
		{"plain nats:// URL, no TLS", fmt.Sprintf("nats://127.0.0.1:%d", port), nil, []string{"secure connection required", "tls", "TLS"}},
	} {
		pr := startProc(t, "projector-"+c.name, binary(t, "projector"), nil, projectorEnv(c.url, db.Addr, db.Name, c.env...))
		log := waitExit(t, pr, 30*time.Second)
		ok := false
		for _, h := range c.has {
			ok = ok || strings.Contains(log, h)
		}
		if !ok {
			t.Errorf("%s: the projector's error does not explain it: %s", c.name, tail(log, 600))
		} else {
			refused++
		}
	}
	summaryLine(t, "nats-tls", "tls", "mutual (client certificates required)", "events", len(evs), "projected", stored,
		"query_watermark", strings.TrimSpace(wm), "misconfigured_starts_refused", refused)
}

// TestClickHouseTLS runs both binaries against a private ClickHouse that
// serves its native protocol over TLS (tcp_port_secure) with a certificate
// from a CA generated here: with DUROSCOPE_CLICKHOUSE_TLS_CA they work; with
// plain TCP to the TLS port or without trusting the CA they do not connect;
// DUROSCOPE_CLICKHOUSE_TLS_SKIP_VERIFY=1 connects without verification.
func TestClickHouseTLS(t *testing.T) {
	p := newPKI(t)
	securePort := freePort(t)
	ch := startClickHouse(t, "", fmt.Sprintf(`<tcp_port_secure>%d</tcp_port_secure>
  <openSSL><server><certificateFile>%s</certificateFile><privateKeyFile>%s</privateKeyFile><verificationMode>none</verificationMode>
    <loadDefaultCAFile>false</loadDefaultCAFile><cacheSessions>true</cacheSessions><disableProtocols>sslv2,sslv3</disableProtocols>
    <preferServerCiphers>true</preferServerCiphers></server></openSSL>`, securePort, p.ServerCert, p.ServerKey))
	secure := fmt.Sprintf("127.0.0.1:%d", securePort)
	// The secure port really speaks TLS with our certificate.
	conn, err := tls.Dial("tcp", secure, &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS handshake with ClickHouse's secure port: %v", err)
	}
	conn.Close()

	n := testenv.StartNATS(t)
	evs := workload(62, 300)
	publishEvents(t, n.JS, evs)
	const dbName = "rel_chtls"
	tlsEnv := []string{"DUROSCOPE_CLICKHOUSE_TLS=1", "DUROSCOPE_CLICKHOUSE_TLS_CA=" + p.CAFile}
	proj := startProc(t, "projector-chtls", binary(t, "projector"), nil, projectorEnv(n.URL, secure, dbName, tlsEnv...))
	projtest.WaitCaughtUp(t, n.JS, 2*time.Minute)
	proj.stop()
	db := ch.database(dbName) // over the plain port, to check
	stored := countRows(t, db, "SELECT count() FROM (SELECT DISTINCT instance_id, execution_id, event_id FROM {db}.history_v3)")
	if stored != uint64(len(evs)) {
		t.Errorf("projected %d of %d events over ClickHouse TLS", stored, len(evs))
	}

	results := map[string]string{}
	for _, c := range []struct {
		name  string
		env   []string
		ready bool
	}{
		{"tls+ca", tlsEnv, true},
		{"tls+skip-verify", []string{"DUROSCOPE_CLICKHOUSE_TLS_SKIP_VERIFY=1"}, true},
		{"plain-to-tls-port", nil, false},
		{"tls-untrusted-ca", []string{"DUROSCOPE_CLICKHOUSE_TLS=1"}, false},
	} {
		q := startQuery(t, n.URL, secure, dbName, c.env...)
		var got string
		if c.ready {
			waitReady(t, q.URL, 20*time.Second)
			got = probe(q.URL + "/v1/instances?limit=1")
		} else {
			// Asked once a connection attempt has failed (and been
			// logged), not after a time a busy machine can outlast.
			waitFor(t, time.Minute, func() bool { return strings.Contains(q.log(), "ClickHouse not reachable yet") },
				func() string { return c.name + ": a failed ClickHouse connection in the log:\n" + tail(q.log(), 800) })
			got = probe(q.URL + "/readyz")
		}
		results[c.name] = got
		want := map[bool]string{true: "200", false: "503+RA"}[c.ready]
		if got != want {
			t.Errorf("%s: query service answers %s, want %s\n%s", c.name, got, want, tail(q.log(), 800))
		}
		q.stop()
	}
	summaryLine(t, "clickhouse-tls", "events", len(evs), "projected_over_tls", stored, "query_answers", fmt.Sprint(results))
}

func randomSecret(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// TestNoSecretsInLogs runs both binaries at debug level with an API token,
// a ClickHouse password and NATS credentials in the URL, through successful
// and failing paths (wrong token, wrong password, unreachable NATS), and
// checks that no secret appears in any log. It also checks the API token
// on the real process: /healthz and /readyz open, /v1 401 without or with a
// wrong token.
func TestNoSecretsInLogs(t *testing.T) {
	token, chPass, natsPass, wrongPass := randomSecret("tok-"), randomSecret("chpw-"), randomSecret("natspw-"), randomSecret("wrongpw-")
	ch := startClickHouse(t, `<writer><password>`+chPass+`</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></writer>`, "")
	_, port := natsServer(t, func(o *server.Options) { o.Username, o.Password = "duro", natsPass })
	natsURL := fmt.Sprintf("nats://duro:%s@127.0.0.1:%d", natsPass, port)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	evs := workload(63, 200)
	publishEvents(t, js, evs)
	const dbName = "rel_secrets"
	creds := []string{"DUROSCOPE_CLICKHOUSE_USER=writer", "DUROSCOPE_CLICKHOUSE_PASSWORD=" + chPass, "DUROSCOPE_LOG_LEVEL=debug"}

	var logs []*proc
	proj := startProc(t, "projector", binary(t, "projector"), nil, projectorEnv(natsURL, ch.Addr(), dbName, creds...))
	logs = append(logs, proj)
	projtest.WaitCaughtUp(t, js, 2*time.Minute)
	q := startQuery(t, natsURL, ch.Addr(), dbName, append(creds, "DUROSCOPE_API_TOKEN="+token)...)
	logs = append(logs, q.proc)
	waitReady(t, q.URL, 20*time.Second)
	var auth []string
	for _, c := range []struct {
		path, header string
		want         string
	}{
		{"/healthz", "", "200"}, {"/readyz", "", "200"},
		{"/v1/instances?limit=1", "", "401"}, {"/v1/instances?limit=1", "Bearer " + wrongPass, "401"},
		{"/v1/instances?limit=1", "Bearer " + token[:len(token)-1], "401"}, {"/v1/instances?limit=1", "Basic " + token, "401"},
		{"/v1/instances?limit=1", "Bearer " + token, "200"}, {"/v1/watermark", "Bearer " + token, "200"},
	} {
		req, _ := http.NewRequest("GET", q.URL+c.path, nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := fmt.Sprint(resp.StatusCode)
		auth = append(auth, fmt.Sprintf("%s(%s)=%s", c.path, strings.Fields(c.header + " none")[0], got))
		if got != c.want {
			t.Errorf("GET %s with %q: %s, want %s", c.path, strings.ReplaceAll(c.header, token, "<token>"), got, c.want)
		}
	}
	proj.stop()
	q.stop()

	// Failing paths, where credentials are most likely to leak into
	// error messages.
	deadNATS := fmt.Sprintf("nats://duro:%s@127.0.0.1:%d", natsPass, freePort(t))
	wrongCreds := []string{"DUROSCOPE_CLICKHOUSE_USER=writer", "DUROSCOPE_CLICKHOUSE_PASSWORD=" + wrongPass, "DUROSCOPE_LOG_LEVEL=debug"}
	p1 := startProc(t, "projector-wrong-ch-password", binary(t, "projector"), nil, projectorEnv(natsURL, ch.Addr(), dbName, wrongCreds...))
	q2 := startQuery(t, deadNATS, ch.Addr(), dbName, append(wrongCreds, "DUROSCOPE_API_TOKEN="+token)...)
	p3 := startProc(t, "projector-dead-nats", binary(t, "projector"), nil, projectorEnv(deadNATS, ch.Addr(), dbName, creds...))
	logs = append(logs, p1, q2.proc, p3)
	waitExit(t, p3, 30*time.Second)
	// Until each failing path has run and logged at least once.
	for _, p := range []*proc{p1, q2.proc} {
		waitFor(t, time.Minute, func() bool { return strings.Contains(p.log(), "ClickHouse not reachable yet") },
			func() string { return p.name + ": a failed ClickHouse connection in the log:\n" + tail(p.log(), 800) })
	}
	_ = probe(q2.URL + "/readyz")
	p1.stop()
	q2.stop()

	// The failures are logged (so the check below looks at real errors)...
	all := ""
	for _, p := range logs {
		all += p.log()
	}
	for _, want := range []string{"ClickHouse not reachable yet", "REDACTED"} {
		if !strings.Contains(all, want) {
			t.Errorf("logs lack %q: the failing paths did not run", want)
		}
	}
	// ...and no secret is in any log.
	leaks := 0
	for _, p := range logs {
		l := p.log()
		for name, s := range map[string]string{"API token": token, "ClickHouse password": chPass, "NATS password": natsPass, "wrong password": wrongPass} {
			if strings.Contains(l, s) {
				leaks++
				i := strings.Index(l, s)
				t.Errorf("%s log contains the %s: …%s…", p.name, name, l[max(0, i-200):min(len(l), i+50)])
			}
		}
	}
	logBytes := len(all)
	if testing.Verbose() {
		for _, p := range logs[2:] {
			t.Logf("%s log:\n%s", p.name, tail(p.log(), 1500))
		}
	}
	summaryLine(t, "no-secrets-in-logs", "processes", len(logs), "log_bytes", logBytes, "secrets_checked", 4, "leaks", leaks,
		"auth_answers", fmt.Sprint(auth))
}
