package projector

import (
	"context"
	"errors"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/recount"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// Store is the ingest port: what the projector needs of the read model. The
// ClickHouse write adapter implements it.
//
// Errors: an adapter classifies its own failures, so that the projector
// knows nothing of the store's error codes:
//   - an error wrapping ErrRefused from WriteHistory or WriteRows means the
//     store refused the rows themselves; the projector isolates them and
//     dead-letters them with the error's text (isolate.go);
//   - an error wrapping ErrPermanent, from any method, means no retry can
//     succeed before an operator acts; the pipeline stops and Run returns it;
//   - any other error is taken for unavailability and retried with backoff
//     until it succeeds or Run is stopped (retry.go).
type Store interface {
	WriteHistory(ctx context.Context, rows []chwrite.HistoryRow) error
	WriteRows(ctx context.Context, rows []projection.Rows) (recount.Cells, error)
	Recount(ctx context.Context, cells recount.Cells) error
	WriteNotices(ctx context.Context, rows []chwrite.NoticeRow) error
	LoadNotices(ctx context.Context, instanceIDs []string) (map[string][]events.Notice, error)
	LoadHistories(ctx context.Context, instanceIDs []string) (map[string][]events.Event, error)
	ScanInstanceIDs(ctx context.Context, fn func(id string) error) error
	WriteQueueSnapshots(ctx context.Context, snaps []events.QueueSnapshot) error
}

// ErrRefused marks a Store write error caused by the data written rather
// than by the store's availability: retrying the same rows cannot succeed.
var ErrRefused = errors.New("refused by the read model")

// ErrPermanent marks a Store error that retrying cannot cure (the store's
// schema or configuration is wrong, say): the pipeline stops with it.
var ErrPermanent = errors.New("permanent read model failure")
