package chconn

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestFeaturesOfVersions(t *testing.T) {
	for _, c := range []struct {
		v    Version
		path string
	}{
		{Version{18, 16}, "split-final"},
		{Version{22, 8}, "split-final"},
		{Version{23, 2}, "split-final"},
		{Version{23, 3}, "parallel-final"},
		{Version{25, 8}, "parallel-final"},
		{Version{26, 5}, "parallel-final"},
	} {
		f := FeaturesOf(c.v)
		if f.Path() != c.path || f.PartitionFinal != f.ParallelFinal {
			t.Errorf("%v: %+v (%s), want %s", c.v, f, f.Path(), c.path)
		}
	}
	if (Features{}).Path() != "split-final" {
		t.Error("the zero Features are not the 18.16 path")
	}
}

// TestDetectFeaturesOfTheTestServer reads the version from a real
// connection's handshake: the test server is 18.16, the split-final path.
func TestDetectFeaturesOfTheTestServer(t *testing.T) {
	if os.Getenv("DUROSCOPE_SKIP_INTEGRATION") == "1" {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	addr := os.Getenv("DUROSCOPE_TEST_CLICKHOUSE_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9000"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := Open(ctx, ConnConfig{Addrs: []string{addr}, Database: "default", User: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f, v, err := DetectFeatures(conn)
	if err != nil {
		t.Fatal(err)
	}
	if v.Major == 0 || f != FeaturesOf(v) {
		t.Fatalf("detected %+v at %v", f, v)
	}
	t.Logf("server %v takes the %s path", v, f.Path())
	var s string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&s); err != nil {
		t.Fatal(err)
	}
	if want := v.String() + "."; len(s) < len(want) || s[:len(want)] != want {
		t.Errorf("handshake version %v, version() %q", v, s)
	}
}
