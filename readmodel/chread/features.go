package chread

import (
	"context"
	"sync"

	"github.com/duroscope/duroscope/readmodel/chconn"
)

// featureCache holds the server's code paths (chconn.Features), detected
// once from the connection's handshake. Until the connection is up
// (chconn.LazyConn) detection fails and is tried again at the next query;
// meanwhile the zero Features (the split-final path, valid everywhere)
// apply.
type featureCache struct {
	mu    sync.Mutex
	f     chconn.Features
	known bool
}

// featuresOf returns the server's features, detecting them at the first
// call that can.
func (r *Reader) featuresOf(context.Context) chconn.Features {
	c := &r.features
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known {
		if f, _, err := chconn.DetectFeatures(r.conn); err == nil {
			c.f, c.known = f, true
		}
	}
	return c.f
}
