// Package chwrite is the projector's write adapter over ClickHouse: it
// stores history (WriteHistory), the rows derived from it (WriteRows),
// report facts and their cells (Recount), queue snapshots, and reads back
// what the projector needs to re-derive instances (LoadHistories,
// ScanInstanceIDs). Its statements live in sql/*.sql.
package chwrite

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/recount"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chconn"
)

// WriterConfig configures a Writer.
type WriterConfig struct {
	// Database holds the read-model tables (created by schema.Apply). It is
	// spliced into SQL unquoted, so it must satisfy chconn.ValidIdentifier
	// (chconn.Open already refuses anything else).
	Database string
	// Features forces the server's code paths (tests); nil = detect them
	// from the server's version (chconn.DetectFeatures).
	Features *chconn.Features
}

// Writer inserts projected rows and stored history into ClickHouse. It is
// safe for concurrent use (driver.Conn is a pool); each call is independent.
//
// Every write is an idempotent upsert by table key: history is a
// ReplacingMergeTree keyed by (instance_id, execution_id, event_id), and the
// derived tables are ReplacingMergeTree(row_version). Writing the same rows
// again, or an older version after a newer one, never changes what readers
// see once they deduplicate (FINAL, argMax by row_version, or LIMIT 1 BY).
// That is what lets the projector retry a batch freely.
type Writer struct {
	conn driver.Conn
	db   string
	// features are the server's code paths (chconn.Features), detected
	// once from the connection's handshake unless the config forces them.
	features     chconn.Features
	featuresOnce sync.Once
	forced       bool
}

// NewWriter returns a Writer for cfg.Database over conn.
func NewWriter(conn driver.Conn, cfg WriterConfig) *Writer {
	w := &Writer{conn: conn, db: cfg.Database}
	if cfg.Features != nil {
		w.features, w.forced = *cfg.Features, true
	}
	return w
}

// serverFeatures returns the server's code paths. A failed detection
// leaves the zero Features (the split-final path, valid on every server):
// the writer's connection is open, so it does not fail on a live server.
func (w *Writer) serverFeatures() chconn.Features {
	w.featuresOnce.Do(func() {
		if w.forced {
			return
		}
		if f, _, err := chconn.DetectFeatures(w.conn); err == nil {
			w.features = f
		}
	})
	return w.features
}

// The writer's statements, one file each in sql/ (chconn.Statements).
//
//go:embed sql/*.sql
var sqlFiles embed.FS

var statements = chconn.MustParseStatements(sqlFiles)

// dbData is the template data of a statement that needs only the database.
type dbData struct{ DB string }

// insertColumn is one column of a columnar INSERT: its name and all its values as
// one slice of the Go type the driver appends in bulk for that ClickHouse
// type ([]string, []uint64, []*string for Nullable(String), ...).
type insertColumn struct {
	name string
	data any
}

// insert sends one INSERT of all values of cols into table.
//
// The column list is always spelled out: ClickHouse 18.16 rejects the
// driver's column-less batch INSERT, and naming the columns keeps inserts
// working when a later migration adds a column with a default (e.g.
// queue_snapshots.received_at is filled by the server). Whole columns are
// appended at once (batch.Column(i).Append(slice)) instead of row by row:
// it skips the per-row reflection of batch.Append, which dominates the cost
// of large batches.
func (w *Writer) insert(ctx context.Context, table string, rows int, cols []insertColumn) error {
	if rows == 0 {
		// An INSERT of no rows is a wasted round trip (and an empty part
		// on some servers).
		return nil
	}
	data := struct {
		DB, Table string
		Columns   []string
	}{DB: w.db, Table: table, Columns: make([]string, len(cols))}
	for i, c := range cols {
		data.Columns[i] = c.name
	}
	q, err := statements.Render("insert.sql", data)
	if err != nil {
		return err
	}
	b, err := w.conn.PrepareBatch(chconn.WithSettings(ctx, clickhouse.Settings{"priority": chconn.PriorityRows}), q)
	if err != nil {
		return fmt.Errorf("insert into %s.%s: prepare: %w", w.db, table, err)
	}
	// Close is a no-op after Send; on an early return it ends the INSERT
	// without sending and releases the connection.
	defer b.Close()
	for i, c := range cols {
		if err := b.Column(i).Append(c.data); err != nil {
			return fmt.Errorf("insert into %s.%s: column %s: %w", w.db, table, c.name, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert into %s.%s: %d rows: %w", w.db, table, rows, err)
	}
	return nil
}

// WriteDerived upserts everything derived from the given instances and
// brings the report cells they touch up to date: WriteRows, then Recount.
func (w *Writer) WriteDerived(ctx context.Context, rows []projection.Rows) error {
	cells, err := w.WriteRows(ctx, rows)
	if err != nil {
		return err
	}
	return w.Recount(ctx, cells)
}

// WriteRows upserts the rows derived from the given instances: one INSERT
// per table (activities, pending_work, executions, instances, the two
// report fact tables and the activity stats facts, whose cells it then
// counts as touched: stats.go), each row carrying row_version =
// Rows.Version so that ReplacingMergeTree keeps the derivation from the most events, whatever
// order the writes land in. It returns the report cells whose facts it
// changed — on error too, the cells it may have changed — which are stale
// until recounted (Recount). The projector recounts
// the cells of many batches at once, off its per-batch path: a recount
// reads whole cells, so per batch it would cost more than the batch.
//
// The instances table is written last: a reader that finds an instance (the
// entry point of every query) then also finds the rows its details refer to,
// at least at that version, even while a call is half done. A failed call
// may have written some tables; the projector retries the whole call, which
// is harmless because every write is an idempotent upsert.
func (w *Writer) WriteRows(ctx context.Context, rows []projection.Rows) (recount.Cells, error) {
	if len(rows) == 0 {
		return recount.Cells{}, nil
	}
	rb := reportFacts(rows)
	sf := statsFacts(rows, &rb.cells)
	statsCells := rb.cells.Stats()
	// The detail and fact tables are independent of each other: insert them
	// concurrently (each INSERT is one connection of the pool and one server
	// thread), so the server's parsing, sorting and compressing of one
	// overlaps the others' and the client's encoding. Only the instances
	// table must wait for all of them.
	writes := [...]func() error{
		func() error { return w.writeActivities(ctx, rows) },
		func() error { return w.writeWork(ctx, rows) },
		func() error { return w.writeExecutions(ctx, rows) },
		func() error { return w.writeInstanceFacts(ctx, &rb.inst) },
		func() error { return w.writeActivityFacts(ctx, &rb.act) },
		func() error { return w.writeStatsFacts(ctx, sf, statsCells) },
	}
	var (
		wg   sync.WaitGroup
		errs [len(writes)]error
	)
	for i, write := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = write()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return rb.cells, err
	}
	return rb.cells, w.writeInstances(ctx, rows)
}

func (w *Writer) writeInstances(ctx context.Context, rows []projection.Rows) error {
	n := len(rows)
	var (
		id, name, version, status   = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		createdAt, updatedAt        = make([]int64, n), make([]int64, n)
		execCount, currentExec      = make([]uint64, n), make([]uint64, n)
		parentInstance, output      = make([]*string, n), make([]*string, n)
		errs, customStatus          = make([]*string, n), make([]*string, n)
		parentID                    = make([]*uint64, n)
		duration                    = make([]*int64, n)
		pendAct, pendTimer, pendEvt = make([]uint32, n), make([]uint32, n), make([]uint32, n)
		pendSub                     = make([]uint32, n)
		eventCount, rowVersion      = make([]uint64, n), make([]uint64, n)
		lastSeen                    = make([]int64, n)
		deleted                     = make([]uint8, n)
	)
	for i := range rows {
		r := &rows[i].Instance
		deleted[i] = boolU8(r.Deleted)
		id[i], name[i], version[i], status[i] = r.InstanceID, r.OrchestrationName, r.OrchestrationVersion, r.Status
		createdAt[i], updatedAt[i] = r.CreatedAtMs, r.UpdatedAtMs
		execCount[i], currentExec[i] = r.ExecutionCount, r.CurrentExecutionID
		parentInstance[i] = nullStr(r.ParentInstance)
		parentID[i] = nullU64(r.ParentID)
		output[i] = nullStr(r.Output)
		errs[i] = errorDetailsJSON(r.Error)
		customStatus[i] = nullStr(r.CustomStatus)
		duration[i] = nullI64(r.DurationMs)
		pendAct[i], pendTimer[i], pendEvt[i], pendSub[i] = r.PendingActivities, r.PendingTimers, r.PendingEvents, r.PendingSubOrchestrations
		eventCount[i], rowVersion[i], lastSeen[i] = r.EventCount, rows[i].Version, rows[i].LastSeenMs
	}
	return w.insert(ctx, "instances", n, []insertColumn{
		{"instance_id", id},
		{"orchestration_name", name},
		{"orchestration_version", version},
		{"status", status},
		{"created_at_ms", createdAt},
		{"updated_at_ms", updatedAt},
		{"execution_count", execCount},
		{"current_execution_id", currentExec},
		{"parent_instance", parentInstance},
		{"parent_id", parentID},
		{"output", output},
		{"error", errs},
		{"custom_status", customStatus},
		{"duration_ms", duration},
		{"pending_activities", pendAct},
		{"pending_timers", pendTimer},
		{"pending_events", pendEvt},
		{"pending_sub_orchestrations", pendSub},
		{"event_count", eventCount},
		{"deleted", deleted},
		{"last_seen_ms", lastSeen},
		{"row_version", rowVersion},
	})
}

func (w *Writer) writeExecutions(ctx context.Context, rows []projection.Rows) error {
	n := 0
	for i := range rows {
		n += len(rows[i].Executions)
	}
	var (
		id, name, status       = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		execID, eventCount     = make([]uint64, 0, n), make([]uint64, 0, n)
		startedAt, lastEventAt = make([]int64, 0, n), make([]int64, 0, n)
		completedAt, duration  = make([]*int64, 0, n), make([]*int64, 0, n)
		output, errs           = make([]*string, 0, n), make([]*string, 0, n)
		rowVersion             = make([]uint64, 0, n)
		lastSeen               = make([]int64, 0, n)
		deleted                = make([]uint8, 0, n)
	)
	for i := range rows {
		for j := range rows[i].Executions {
			r := &rows[i].Executions[j]
			deleted = append(deleted, boolU8(r.Deleted))
			id = append(id, r.InstanceID)
			execID = append(execID, r.ExecutionID)
			name = append(name, r.OrchestrationName)
			status = append(status, r.Status)
			startedAt = append(startedAt, r.StartedAtMs)
			completedAt = append(completedAt, nullI64(r.CompletedAtMs))
			lastEventAt = append(lastEventAt, r.LastEventAtMs)
			eventCount = append(eventCount, r.EventCount)
			duration = append(duration, nullI64(r.DurationMs))
			output = append(output, nullStr(r.Output))
			errs = append(errs, errorDetailsJSON(r.Error))
			rowVersion = append(rowVersion, rows[i].Version)
			lastSeen = append(lastSeen, rows[i].LastSeenMs)
		}
	}
	return w.insert(ctx, "executions", n, []insertColumn{
		{"instance_id", id},
		{"execution_id", execID},
		{"orchestration_name", name},
		{"status", status},
		{"started_at_ms", startedAt},
		{"completed_at_ms", completedAt},
		{"last_event_at_ms", lastEventAt},
		{"event_count", eventCount},
		{"duration_ms", duration},
		{"output", output},
		{"error", errs},
		{"deleted", deleted},
		{"last_seen_ms", lastSeen},
		{"row_version", rowVersion},
	})
}

func (w *Writer) writeActivities(ctx context.Context, rows []projection.Rows) error {
	n := 0
	for i := range rows {
		n += len(rows[i].Activities)
	}
	var (
		id, actName, orchName = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		outcome               = make([]string, 0, n)
		execID, eventID       = make([]uint64, 0, n), make([]uint64, 0, n)
		isSystem              = make([]uint8, 0, n)
		scheduledAt           = make([]int64, 0, n)
		outcomeAt, duration   = make([]*int64, 0, n), make([]*int64, 0, n)
		errs                  = make([]*string, 0, n)
		rowVersion            = make([]uint64, 0, n)
		lastSeen              = make([]int64, 0, n)
		deleted               = make([]uint8, 0, n)
	)
	for i := range rows {
		for j := range rows[i].Activities {
			r := &rows[i].Activities[j]
			deleted = append(deleted, boolU8(r.Deleted))
			id = append(id, r.InstanceID)
			execID = append(execID, r.ExecutionID)
			eventID = append(eventID, r.EventID)
			actName = append(actName, r.ActivityName)
			orchName = append(orchName, r.OrchestrationName)
			isSystem = append(isSystem, boolU8(r.IsSystem))
			scheduledAt = append(scheduledAt, r.ScheduledAtMs)
			outcome = append(outcome, r.Outcome)
			outcomeAt = append(outcomeAt, nullI64(r.OutcomeAtMs))
			duration = append(duration, nullI64(r.DurationMs))
			errs = append(errs, errorDetailsJSON(r.Error))
			rowVersion = append(rowVersion, rows[i].Version)
			lastSeen = append(lastSeen, rows[i].LastSeenMs)
		}
	}
	return w.insert(ctx, "activities", n, []insertColumn{
		{"instance_id", id},
		{"execution_id", execID},
		{"event_id", eventID},
		{"activity_name", actName},
		{"orchestration_name", orchName},
		{"is_system", isSystem},
		{"scheduled_at_ms", scheduledAt},
		{"outcome", outcome},
		{"outcome_at_ms", outcomeAt},
		{"duration_ms", duration},
		{"error", errs},
		{"deleted", deleted},
		{"last_seen_ms", lastSeen},
		{"row_version", rowVersion},
	})
}

func (w *Writer) writeWork(ctx context.Context, rows []projection.Rows) error {
	n := 0
	for i := range rows {
		n += len(rows[i].Work)
	}
	var (
		id, kind, name, input      = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		child                      = make([]string, 0, n)
		execID, corrID             = make([]uint64, 0, n), make([]uint64, 0, n)
		pending, persistent        = make([]uint8, 0, n), make([]uint8, 0, n)
		tag                        = make([]*string, 0, n)
		scheduledAt, fireAt, delay = make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
		rowVersion                 = make([]uint64, 0, n)
		lastSeen                   = make([]int64, 0, n)
		deleted                    = make([]uint8, 0, n)
	)
	for i := range rows {
		for j := range rows[i].Work {
			r := &rows[i].Work[j]
			deleted = append(deleted, boolU8(r.Deleted))
			id = append(id, r.InstanceID)
			execID = append(execID, r.ExecutionID)
			kind = append(kind, r.Kind)
			corrID = append(corrID, r.CorrelationID)
			pending = append(pending, boolU8(r.Pending))
			name = append(name, r.Name)
			input = append(input, r.Input)
			tag = append(tag, nullStr(r.Tag))
			child = append(child, r.ChildInstance)
			persistent = append(persistent, boolU8(r.Persistent))
			scheduledAt = append(scheduledAt, r.ScheduledAtMs)
			fireAt = append(fireAt, r.FireAtMs)
			delay = append(delay, r.DelayMs)
			rowVersion = append(rowVersion, rows[i].Version)
			lastSeen = append(lastSeen, rows[i].LastSeenMs)
		}
	}
	return w.insert(ctx, "pending_work", n, []insertColumn{
		{"instance_id", id},
		{"execution_id", execID},
		{"kind", kind},
		{"correlation_id", corrID},
		{"pending", pending},
		{"name", name},
		{"input", input},
		{"tag", tag},
		{"child_instance", child},
		{"persistent", persistent},
		{"scheduled_at_ms", scheduledAt},
		{"fire_at_ms", fireAt},
		{"delay_ms", delay},
		{"deleted", deleted},
		{"last_seen_ms", lastSeen},
		{"row_version", rowVersion},
	})
}

// WriteQueueSnapshots stores Duroxide queue-depth snapshots. The table is a
// ReplacingMergeTree keyed by timestamp_ms, so a re-delivered snapshot is
// stored once (after merges); readers pick the newest by timestamp_ms.
// received_at is left to its server-side default.
func (w *Writer) WriteQueueSnapshots(ctx context.Context, snaps []events.QueueSnapshot) error {
	n := len(snaps)
	ts, orch, worker, timer := make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
	for i, s := range snaps {
		ts[i], orch[i], worker[i], timer[i] = s.TimestampMs, s.OrchestratorQueue, s.WorkerQueue, s.TimerQueue
	}
	return w.insert(ctx, "queue_snapshots", n, []insertColumn{
		{"timestamp_ms", ts},
		{"orchestrator_queue", orch},
		{"worker_queue", worker},
		{"timer_queue", timer},
	})
}

// ScanInstanceIDs calls fn with the id of every instance in the instances
// table, streaming (the driver reads block by block, so memory stays flat
// for millions of ids). It stops at fn's first error and returns it.
//
// The scan reads the table without FINAL or DISTINCT, which would make the
// server merge or hash every id first: fn may therefore see an id more than
// once (rows of unmerged parts). Its user, seeding a Bloom filter of known
// instances, does not mind; a caller that needs a set must deduplicate.
func (w *Writer) ScanInstanceIDs(ctx context.Context, fn func(id string) error) error {
	q, err := statements.Render("scan_instance_ids.sql", dbData{w.db})
	if err != nil {
		return err
	}
	rows, err := w.conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("scan %s.instances: %w", w.db, err)
	}
	defer rows.Close()
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("scan %s.instances: %w", w.db, err)
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan %s.instances: %w", w.db, err)
	}
	return nil
}

// errorDetailsJSON renders d as the compact JSON object of the read model's Error
// ({"category","kind","message","retryable"}), or nil (SQL NULL) for no
// error. HTML escaping is off so that messages stay readable in SQL.
func errorDetailsJSON(d *events.ErrorDetails) *string {
	if d == nil {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Encoding a struct of strings and a bool cannot fail.
	_ = enc.Encode(d)
	s := strings.TrimSuffix(buf.String(), "\n")
	return &s
}

func nullStr(v events.OptString) *string {
	if !v.Valid {
		return nil
	}
	s := v.Value
	return &s
}

func nullU64(v events.OptUint) *uint64 {
	if !v.Valid {
		return nil
	}
	u := v.Value
	return &u
}

func nullI64(v projection.OptInt) *int64 {
	if !v.Valid {
		return nil
	}
	i := v.Value
	return &i
}

func boolU8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
