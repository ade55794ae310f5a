package connector

import (
	"context"

	"github.com/duroscope/duroscope/events"
)

// Source is what the connector needs of a Duroxide provider's store. It is
// read only: an adapter never writes to the store, and keeps each read
// short so that the Duroxide runtime writing it is not slowed.
//
// History rows are read in the source's own insertion order, named by a
// position (the SQLite adapter: the history table's rowid). Every read of
// rows and inventory happens inside one Snapshot, so that what a read
// returns is consistent with itself: the connector uses that to compare
// the store's instances with what it has published (deletions) without a
// race against rows written meanwhile.
//
// A Postgres adapter fits the same port: a Snapshot is a REPEATABLE READ
// transaction and the position a sequence the provider's rows carry (poll
// mode); logical replication (cdc mode) would deliver rows and deletions in
// commit order instead and report deletions at once.
type Source interface {
	// Begin opens a consistent read snapshot. It must be closed soon.
	Begin(ctx context.Context) (Snapshot, error)
	// Queues counts the work waiting in the provider's queues now.
	Queues(ctx context.Context) (events.QueueSnapshot, error)
	// Close releases the source.
	Close() error
}

// Snapshot is one consistent read of the store.
type Snapshot interface {
	// Resume returns the position after which the rows not yet published
	// start: the Pos of the newest anchor whose row still holds (same
	// key, same bytes), or 0 (from the start) when none does. An anchor
	// that no longer holds means rows at or below it were deleted or
	// renumbered, so positions at or below it may have been reused.
	Resume(anchors []Anchor) (uint64, error)
	// Rows returns up to limit rows with a position above after, in
	// position order.
	Rows(after uint64, limit int) ([]Row, error)
	// Head is the highest position in the snapshot (0 when empty).
	Head() (uint64, error)
	// Instances returns the inventory of up to limit instances whose id
	// is above after (all ids when after is ""), in id order.
	Instances(after string, limit int) ([]Inventory, error)
	// HistoryExecutions returns the executions of an instance that have
	// history rows, ascending. The connector asks it before reporting an
	// execution gone that the inventory lacks, so that history written
	// without its inventory row (Duroxide's append_with_execution) is not
	// taken for a deletion.
	HistoryExecutions(instanceID string) ([]uint64, error)
	// Close ends the snapshot.
	Close() error
}

// Row is one history row as the provider stored it.
type Row struct {
	// Pos is the row's position in the source's order.
	Pos         uint64
	InstanceID  string
	ExecutionID uint64
	EventID     uint64
	// Type is the row's event_type column.
	Type string
	// Data is event_data exactly as stored.
	Data []byte
	// CreatedAtMs is when the provider wrote the row (second precision
	// for SQLite), 0 when unknown.
	CreatedAtMs int64
	// Notice, when set, makes this not a history row but a deletion or a
	// prune the source saw as it was committed (Postgres cdc); only Pos
	// and Notice are set then.
	Notice *events.Notice
}

// Acknowledger is a Source that must learn when the rows up to a position
// are stored in the stream (Postgres cdc: the replication slot's confirmed
// position may advance only then). The connector calls Stored after every
// batch it committed.
type Acknowledger interface {
	Stored(ctx context.Context, pos uint64) error
}

// Anchor names a published row by position, key and a hash of its bytes,
// so that a later read can tell whether that row is still there.
type Anchor struct {
	Pos         uint64 `json:"pos"`
	InstanceID  string `json:"instance_id"`
	ExecutionID uint64 `json:"execution_id"`
	EventID     uint64 `json:"event_id"`
	Hash        uint64 `json:"hash"`
}

// Inventory is one instance of the store with its executions (ascending).
type Inventory struct {
	InstanceID   string
	ExecutionIDs []uint64
}
