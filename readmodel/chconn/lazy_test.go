package chconn

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// qProxy forwards TCP connections from a local port to ClickHouse, so a test
// can make "ClickHouse" appear later than the service starts.
func qProxy(t *testing.T, ln net.Listener, target string) {
	t.Helper()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				u, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				go func() { _, _ = io.Copy(u, c); u.Close() }()
				_, _ = io.Copy(c, u)
				c.Close()
			}()
		}
	}()
}

// TestLazyConnConnectsWhenServerAppears starts a LazyConn towards a port
// where nothing listens yet: calls fail fast with ErrNotConnected, and once a
// proxy to the real server listens there, the connection comes up by itself.
func TestLazyConnConnectsWhenServerAppears(t *testing.T) {
	if os.Getenv("DUROSCOPE_SKIP_INTEGRATION") == "1" {
		t.Skip("DUROSCOPE_SKIP_INTEGRATION=1")
	}
	target := os.Getenv("DUROSCOPE_TEST_CLICKHOUSE_ADDR")
	if target == "" {
		target = "127.0.0.1:9000"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	var failures atomic.Int32
	connected := make(chan struct{})
	l := OpenLazy(LazyConnConfig{
		Conn:      ConnConfig{Addrs: []string{addr}, Database: "default", User: "default", DialTimeout: time.Second},
		RetryMin:  20 * time.Millisecond,
		RetryMax:  100 * time.Millisecond,
		OnError:   func(int, error) { failures.Add(1) },
		OnConnect: func() { close(connected) },
	})
	defer l.Close()
	ctx := context.Background()
	start := time.Now()
	if err := l.Ping(ctx); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Ping before the server: %v, want ErrNotConnected", err)
	}
	if _, err := l.Query(ctx, "SELECT 1"); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Query before the server: %v, want ErrNotConnected", err)
	}
	if _, err := l.ServerVersion(); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("ServerVersion before the server: %v, want ErrNotConnected", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("calls before connecting took %v; they must fail fast", time.Since(start))
	}
	if l.Connected() {
		t.Error("connected before the server")
	}
	deadline := time.Now().Add(5 * time.Second)
	for failures.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if failures.Load() < 2 {
		t.Fatalf("%d failed attempts reported; want retries", failures.Load())
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	defer ln.Close()
	qProxy(t, ln, target)
	select {
	case <-connected:
	case <-time.After(20 * time.Second):
		t.Fatal("LazyConn did not connect after the server appeared")
	}
	if err := l.Ping(ctx); err != nil {
		t.Fatalf("Ping after the server appeared: %v", err)
	}
	if v, err := l.ServerVersion(); err != nil || v.Version.Major == 0 {
		t.Errorf("ServerVersion after the server appeared: %v, %v", v, err)
	}
	rows, err := l.Query(ctx, "SELECT 1")
	if err != nil {
		t.Fatalf("SELECT 1: %v", err)
	}
	var one uint8
	for rows.Next() {
		if err := rows.Scan(&one); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	if one != 1 {
		t.Errorf("SELECT 1 = %d", one)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestLazyConnCloseStopsAttempts closes a LazyConn that never connected.
func TestLazyConnCloseStopsAttempts(t *testing.T) {
	l := OpenLazy(LazyConnConfig{Conn: ConnConfig{Addrs: []string{"127.0.0.1:1"}, Database: "default", DialTimeout: 100 * time.Millisecond},
		RetryMin: 10 * time.Millisecond})
	time.Sleep(50 * time.Millisecond)
	done := make(chan error)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := l.Ping(context.Background()); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Ping after Close: %v", err)
	}
}
