package query

import (
	"context"
	"errors"

	"github.com/duroscope/duroscope/api"
)

// ChangeFeed is the live change feed behind GET /v1/instances/changes: one
// shared follower of the history stream (never a store poll per
// subscriber) that tells each subscriber which instances matching its
// filter changed, once the change is queryable.
type ChangeFeed interface {
	// Subscribe starts a subscription to the instances matching f (Limit,
	// Offset and After are ignored). With resume, it first replays the
	// changes after stream sequence after (Last-Event-ID), or starts with a
	// reset when those are no longer known. It fails with ErrUnavailable
	// while the feed does not follow the stream.
	Subscribe(ctx context.Context, f ListFilter, after uint64, resume bool) (ChangeSubscription, error)
	// Metrics are the feed's figures.
	Metrics() ChangeFeedMetrics
}

// ChangeSubscription is one subscriber's bounded queue of events.
type ChangeSubscription interface {
	// Next waits for the next events (in stream order) and returns them
	// all. It returns an error wrapping ErrCutOff when the feed dropped the
	// subscription (it could not keep up, or the feed stopped), or ctx's
	// error.
	Next(ctx context.Context) ([]ChangeEvent, error)
	// Close ends the subscription; the feed forgets it.
	Close()
}

// ChangeEvent is one event of a subscription: a change, or (Reset set) a
// notice that changes were missed and the subscriber should reload, after
// which changes continue after stream sequence Seq.
type ChangeEvent struct {
	Change api.InstanceChange
	Reset  *api.ChangesReset
	Seq    uint64
}

// ErrCutOff is wrapped by ChangeSubscription.Next when the feed dropped the
// subscription; the error's text says why.
var ErrCutOff = errors.New("subscription cut off")

// ChangeFeedMetrics are the feed's figures for /metrics.
type ChangeFeedMetrics struct {
	Following   bool   // the feed follows the history stream
	Subscribers int    // subscriptions open
	Position    uint64 // every change up to this stream sequence was handed out
	Pending     uint64 // changes read, waiting for the projection
	CutOff      uint64 // subscribers cut off for not keeping up (total)
	Resets      uint64 // resets sent (total)
	Sent        uint64 // change events queued for subscribers (total)
	Lookups     uint64 // read-model lookups of changed instances (total)
}
