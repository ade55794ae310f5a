package chconn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ErrNotConnected is returned by a LazyConn before its first successful
// Open.
var ErrNotConnected = errors.New("clickhouse: not connected yet")

// LazyConnConfig configures OpenLazy.
type LazyConnConfig struct {
	Conn ConnConfig
	// RetryMin and RetryMax bound the exponential backoff between attempts
	// (defaults 250ms and 10s).
	RetryMin, RetryMax time.Duration
	// OnError is told about every failed attempt (e.g. to log it); may be nil.
	OnError func(attempt int, err error)
	// OnConnect is told when the connection is established; may be nil.
	OnConnect func()
}

// LazyConn is a connection for a service that must start while ClickHouse
// is down (the query service's reader): it keeps calling Open in the
// background until it succeeds, and until then every call fails fast with
// ErrNotConnected. Once connected it forwards to the real connection, whose
// pool re-dials by itself when the server goes away and comes back. It has
// only the methods its users call (Query, Ping, ServerVersion).
type LazyConn struct {
	cur    atomic.Pointer[connHolder]
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

type connHolder struct{ c driver.Conn }

// attemptTimeout bounds one connection attempt (dial and ping).
const attemptTimeout = 15 * time.Second

// OpenLazy starts connecting in the background and returns at once. Close
// stops the attempts and closes the connection.
func OpenLazy(cfg LazyConnConfig) *LazyConn {
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 250 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = 10 * time.Second
		if cfg.RetryMax < cfg.RetryMin {
			cfg.RetryMax = cfg.RetryMin
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &LazyConn{cancel: cancel, done: make(chan struct{})}
	go l.connect(ctx, cfg)
	return l
}

func (l *LazyConn) connect(ctx context.Context, cfg LazyConnConfig) {
	defer close(l.done)
	wait := cfg.RetryMin
	for attempt := 1; ; attempt++ {
		// A server that accepts but never answers must not stall the
		// attempts: bound each one.
		actx, acancel := context.WithTimeout(ctx, attemptTimeout)
		c, err := Open(actx, cfg.Conn)
		acancel()
		if err == nil {
			if ctx.Err() != nil { // closed while connecting
				c.Close()
				return
			}
			l.cur.Store(&connHolder{c: c})
			if cfg.OnConnect != nil {
				cfg.OnConnect()
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		if cfg.OnError != nil {
			cfg.OnError(attempt, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
		if wait > cfg.RetryMax {
			wait = cfg.RetryMax
		}
	}
}

// Connected reports whether the first Open has succeeded.
func (l *LazyConn) Connected() bool { return l.cur.Load() != nil }

func (l *LazyConn) get() (driver.Conn, error) {
	if h := l.cur.Load(); h != nil {
		return h.c, nil
	}
	return nil, ErrNotConnected
}

// ServerVersion is the version the server announced when the connection
// was opened.
func (l *LazyConn) ServerVersion() (*driver.ServerVersion, error) {
	c, err := l.get()
	if err != nil {
		return nil, err
	}
	return c.ServerVersion()
}

func (l *LazyConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	c, err := l.get()
	if err != nil {
		return nil, err
	}
	return c.Query(ctx, query, args...)
}

func (l *LazyConn) Ping(ctx context.Context) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.Ping(ctx)
}

// Close stops connecting and closes the connection (if any).
func (l *LazyConn) Close() error {
	var err error
	l.once.Do(func() {
		l.cancel()
		<-l.done
		if h := l.cur.Load(); h != nil {
			if cerr := h.c.Close(); cerr != nil {
				err = fmt.Errorf("clickhouse close: %w", cerr)
			}
		}
	})
	return err
}
