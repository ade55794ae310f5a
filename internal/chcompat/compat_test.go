//go:build chdb

package chcompat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chread"
	"github.com/duroscope/duroscope/readmodel/chwrite"
	"github.com/duroscope/duroscope/schema"
)

// Workload of the comparison: a few thousand instances (children
// included) over three days, written in several batches as the projector
// would, with re-delivered events and stale derivations written last.
const (
	compatSeed      = 1016
	compatInstances = 800
	compatSpreadMs  = 3 * 24 * 3600 * 1000
	compatBatches   = 3
)

// readTimeout bounds each Reader statement (max_execution_time): generous,
// for a shared, busy CI server; the same on both sides.
const readTimeout = 2 * time.Minute

// side is one engine with the real Writer and Reader on it.
type side struct {
	name   string
	conn   driver.Conn // the writer's connection (schema, inserts, recounts)
	w      *chwrite.Writer
	r      *chread.Reader
	rconn  driver.Conn // the reader's
	readDB string
}

// TestCompatibility runs Duroscope's real statements (schema.Apply, the
// Writer's inserts and recounts, every Reader method) on the ClickHouse 26.5
// engine of libchdb and on the 18.16 server, over the same generated
// workload, and compares every answer and every read-model table.
func TestCompatibility(t *testing.T) {
	start := time.Now()
	ctx := context.Background()

	// 18.16: a private database (schema applied by the real schema.Apply),
	// written by the default user, read by the read-only account.
	db := testenv.NewDatabase(t, "chcompat")
	oldReadConn, err := chconn.Open(ctx, chconn.ConnConfig{Addrs: []string{db.Addr}, Database: db.Name,
		User: "duroscope_reader", Password: "reader", MaxOpenConns: 4})
	if err != nil {
		t.Fatalf("reader account on %s: %v", db.Addr, err)
	}
	t.Cleanup(func() { oldReadConn.Close() })

	// 26.5: libchdb with its data in a temporary directory.
	var statements atomic.Int64
	var readerStatements, readerReadonly atomic.Int64
	eng, err := OpenChDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	newConn := NewConn(eng, func(sql string) {
		statements.Add(1)
		if strings.Contains(sql, "max_execution_time = ") { // a Reader statement
			readerStatements.Add(1)
			if strings.Contains(sql, "readonly = 2") {
				readerReadonly.Add(1)
			}
		}
	})
	t.Cleanup(func() { newConn.Close() })
	var version string
	if err := newConn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	t.Logf("chDB engine: ClickHouse %s", version)
	if _, err := schema.Apply(ctx, newConn, schema.Config{Database: db.Name,
		Steps: chwrite.NewWriter(newConn, chwrite.WriterConfig{Database: db.Name}).SchemaSteps()}); err != nil {
		t.Fatalf("schema.Apply on ClickHouse %s: %v", version, err)
	}

	sides := [2]*side{
		{name: "18.16", conn: db.Conn, rconn: oldReadConn},
		{name: "chDB " + version, conn: newConn, rconn: newConn},
	}
	for _, s := range sides {
		s.w = chwrite.NewWriter(s.conn, chwrite.WriterConfig{Database: db.Name})
		if s.r, err = chread.NewReader(s.rconn, chread.ReaderConfig{Database: db.Name, MaxExecutionTime: readTimeout}); err != nil {
			t.Fatal(err)
		}
		// Keep every written version in its own part: readers must
		// deduplicate, as before a background merge.
		for _, tbl := range []string{"history_v3", "instances", "executions", "activities", "pending_work",
			"queue_snapshots", "report_instance_facts_v3", "report_activity_facts_v3", "activity_stats_facts", "activity_stats_cells"} {
			if err := s.conn.Exec(ctx, "SYSTEM STOP MERGES "+db.Name+"."+tbl); err != nil {
				t.Fatalf("%s: stop merges: %v", s.name, err)
			}
		}
	}

	w := writeWorkload(t, ctx, sides)
	t.Logf("workload: %d events (%d re-delivered) of %d instances in %d batches, %d stale derivations written last; %s",
		w.events, w.redelivered, len(w.ids), compatBatches, w.stale, time.Since(start).Round(time.Millisecond))

	// The workload must really leave several versions unmerged.
	for _, s := range sides {
		var raw, final uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+db.Name+".instances").Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+db.Name+".instances FINAL").Scan(&final); err != nil {
			t.Fatal(err)
		}
		if raw < final*3/2 {
			t.Fatalf("%s: instances has %d rows for %d instances; the comparison needs unmerged versions", s.name, raw, final)
		}
	}

	checkReadonly(t, ctx, newConn, db.Name)
	names := make([]string, 0, len(tableQueries))
	for n := range tableQueries {
		names = append(names, n)
	}
	sort.Strings(names)
	written := compareTables(t, ctx, db.Name, sides, names)
	answers := compareReaders(t, ctx, sides, w)
	if n, ro := readerStatements.Load(), readerReadonly.Load(); n == 0 || n != ro {
		t.Errorf("chDB: %d of %d Reader statements carried readonly = 2", ro, n)
	}
	checkBackfill(t, ctx, db.Name, sides, written)
	checkRetention(t, ctx, db.Name, sides, w)
	t.Logf("compared %d tables row for row, %d Reader answers, and the backfill of the %d report tables; chDB ran %d statements (%d Reader statements, all with readonly = 2); %s",
		len(names), answers, len(reportTables), statements.Load(), readerStatements.Load(), time.Since(start).Round(time.Millisecond))
}

// workload is what writeWorkload wrote.
type workload struct {
	ids                        []string // every instance, sorted
	events, redelivered, stale int
	firstMs, lastMs            int64
	orchestrations             []string
	activities                 []string
	parents                    []string // instances with children
}

// writeWorkload generates histories, publishes them in timestamp order with
// duplicates, and writes them in batches on every side as the projector
// does: history rows, then the rows derived from each touched instance's
// whole stored history, then the recount of the touched report cells.
func writeWorkload(t *testing.T, ctx context.Context, sides [2]*side) workload {
	t.Helper()
	cfg := gen.Config{Seed: compatSeed, Instances: compatInstances, SpreadMs: compatSpreadMs,
		RunningFraction: 0.15, UnknownTypeFraction: 0.02, NowMs: gen.DefaultStartMs + compatSpreadMs}
	rng := rand.New(rand.NewPCG(compatSeed, 1))
	var msgs []gen.Message
	for m := range gen.Duplicate(gen.Interleave(gen.Histories(cfg), 0), 0.05, 200, rng) {
		msgs = append(msgs, m)
	}
	var w workload
	stored := map[string][]events.Event{}
	first := map[string]projection.Rows{} // each instance's first derivation
	orch, acts, parents := map[string]bool{}, map[string]bool{}, map[string]bool{}
	w.firstMs = int64(msgs[0].Event.TimestampMs)
	for b := 0; b < compatBatches; b++ {
		batch := msgs[b*len(msgs)/compatBatches : (b+1)*len(msgs)/compatBatches]
		hist := make([]chwrite.HistoryRow, len(batch))
		touched, newEvents := map[string]bool{}, map[string]int{}
		for i, m := range batch {
			ev := m.Event
			hist[i] = chwrite.HistoryRow{Event: ev, StreamSeq: uint64(b*len(msgs) + i + 1)}
			stored[ev.InstanceID] = append(stored[ev.InstanceID], *ev)
			touched[ev.InstanceID] = true
			newEvents[ev.InstanceID]++
			w.events++
			if m.Copy > 0 {
				w.redelivered++
			}
			w.lastMs = max(w.lastMs, int64(ev.TimestampMs))
		}
		// A projector that saw this batch in two deliveries wrote an
		// older derivation first: rows from the instance's events without
		// the second half of this batch's new ones, and without a recount
		// (the full write below recounts the same cells).
		var partial, full []events.Event
		for id := range touched {
			evs := stored[id]
			full = append(full, evs...)
			if k := len(evs) - (newEvents[id]+1)/2; k > 0 {
				partial = append(partial, evs[:k]...)
			}
		}
		older, err := projection.DeriveAll(partial)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := projection.DeriveAll(full)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range append(older, rows...) {
			if _, ok := first[r.Instance.InstanceID]; !ok {
				first[r.Instance.InstanceID] = r
			}
		}
		if b == compatBatches-1 {
			// Stale derivations arriving after newer ones (a slow
			// projector replica): readers must keep the newest.
			for _, r := range rows {
				if f := first[r.Instance.InstanceID]; f.Version < r.Version && rng.IntN(10) == 0 {
					rows = append(rows, f)
					w.stale++
				}
			}
		}
		err = bothSides(sides, func(s *side) error {
			if err := s.w.WriteHistory(ctx, hist); err != nil {
				return fmt.Errorf("batch %d: WriteHistory: %w", b, err)
			}
			if _, err := s.w.WriteRows(ctx, older); err != nil {
				return fmt.Errorf("batch %d: WriteRows: %w", b, err)
			}
			if err := s.w.WriteDerived(ctx, rows); err != nil {
				return fmt.Errorf("batch %d: WriteDerived: %w", b, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for id, evs := range stored {
		w.ids = append(w.ids, id)
		for _, e := range evs {
			if e.Type == "OrchestrationStarted" {
				var p struct {
					Name           string `json:"name"`
					ParentInstance string `json:"parent_instance"`
				}
				if err := json.Unmarshal(e.Raw, &p); err == nil {
					orch[p.Name] = p.Name != ""
					if p.ParentInstance != "" {
						parents[p.ParentInstance] = true
					}
				}
			}
		}
	}
	sort.Strings(w.ids)
	for _, rows := range first {
		for _, a := range rows.Activities {
			acts[a.ActivityName] = true
		}
	}
	w.orchestrations, w.activities, w.parents = keys(orch), keys(acts), keys(parents)

	// Queue snapshots, one re-delivered.
	snaps := make([]events.QueueSnapshot, 0, 41)
	for i := range 40 {
		snaps = append(snaps, events.QueueSnapshot{TimestampMs: uint64(w.lastMs) - uint64(40-i)*60000,
			OrchestratorQueue: uint64(i * 3 % 17), WorkerQueue: uint64(i * 7 % 23), TimerQueue: uint64(i % 5)})
	}
	snaps = append(snaps, snaps[len(snaps)-1])
	for _, s := range sides {
		if err := s.w.WriteQueueSnapshots(ctx, snaps); err != nil {
			t.Fatalf("%s: WriteQueueSnapshots: %v", s.name, err)
		}
	}
	return w
}

// bothSides runs fn for both sides at once (the 18.16 server and the
// in-process engine use different cores) and joins their errors, each
// prefixed with its side's name.
func bothSides(sides [2]*side, fn func(s *side) error) error {
	var errs [2]error
	var wg sync.WaitGroup
	for i, s := range sides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(s); err != nil {
				errs[i] = fmt.Errorf("%s: %w", s.name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs[:]...)
}

func keys(m map[string]bool) []string {
	var out []string
	for k, ok := range m {
		if ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// tableQueries give every read-model table deduplicated, in key order.
// queue_snapshots leaves out received_at (the server's now()).
var tableQueries = map[string]string{
	"schema_migrations":        `SELECT version, name, skipped_requires FROM {db}.schema_migrations FINAL ORDER BY version`,
	"history_v3":               `SELECT * FROM {db}.history_v3 FINAL ORDER BY instance_id, execution_id, event_id, timestamp_ms`,
	"instances":                `SELECT * FROM {db}.instances FINAL ORDER BY instance_id`,
	"executions":               `SELECT * FROM {db}.executions FINAL ORDER BY instance_id, execution_id`,
	"activities":               `SELECT * FROM {db}.activities FINAL ORDER BY instance_id, execution_id, event_id`,
	"pending_work":             `SELECT * FROM {db}.pending_work FINAL ORDER BY instance_id, execution_id, kind, correlation_id`,
	"queue_snapshots":          `SELECT timestamp_ms, orchestrator_queue, worker_queue, timer_queue FROM {db}.queue_snapshots FINAL ORDER BY timestamp_ms`,
	"report_instance_facts_v3": `SELECT * FROM {db}.report_instance_facts_v3 FINAL ORDER BY hour_ms, orchestration_name, orchestration_version, instance_id, created_at_ms`,
	"report_activity_facts_v3": `SELECT * FROM {db}.report_activity_facts_v3 FINAL ORDER BY hour_ms, activity_name, orchestration_name, instance_id, execution_id, event_id, scheduled_at_ms`,
	"report_instance_cells":    `SELECT * FROM {db}.report_instance_cells FINAL ORDER BY grain_ms, bucket_ms, orchestration_name, orchestration_version`,
	"report_activity_cells":    `SELECT * FROM {db}.report_activity_cells FINAL ORDER BY grain_ms, bucket_ms, activity_name, orchestration_name`,
	"activity_stats_facts":     `SELECT * FROM {db}.activity_stats_facts FINAL ORDER BY hour_ms, activity_name, instance_id, execution_id, event_id, scheduled_at_ms`,
	"activity_stats_cells":     `SELECT * FROM {db}.activity_stats_cells FINAL ORDER BY hour_ms, activity_name`,
}

// compareTables compares the given tables' rows on both sides as text, one
// line per row, and returns them.
func compareTables(t *testing.T, ctx context.Context, dbName string, sides [2]*side, names []string) map[string][2][]string {
	t.Helper()
	out := map[string][2][]string{}
	for _, n := range names {
		q := strings.ReplaceAll(tableQueries[n], "{db}", dbName)
		var got [2][]string
		err := bothSides(sides, func(s *side) error {
			lines, err := rowsAsText(ctx, s.conn, q)
			got[slices.Index(sides[:], s)] = lines
			return err
		})
		if err != nil {
			t.Fatalf("table %s: %v", n, err)
		}
		if len(got[0]) == 0 {
			t.Errorf("table %s is empty: the workload should fill every table", n)
		}
		if d := firstDiff(got[0], got[1]); d != "" {
			t.Errorf("table %s differs (%d rows on %s, %d on %s): %s", n, len(got[0]), sides[0].name, len(got[1]), sides[1].name, d)
		}
		out[n] = got
	}
	return out
}

// reportTables are the report tables re-applying the migrations rebuilds on
// a version-3 database: the cells, recounted by 0003's step from the facts.
// The version-3 facts are the writer's own (0002's backfill reads the
// version-1 history, which 0003 replaced); the upgrade from a version-2
// store is chwrite's TestReportBackfillEqualsLive.
//
// The activity stats tables are rebuilt too, by 0004's step from the
// activities table: the workload deletes nothing, so the writer's facts
// are exactly the live activities (no tombstones) and the backfill must
// give them and their cells back.
var reportTables = []string{"report_activity_cells", "report_instance_cells", "activity_stats_facts", "activity_stats_cells"}

// checkBackfill runs migration 0002's backfill (its Go step,
// chwrite.BackfillReports) over the workload: the report tables are emptied,
// the migrations forgotten and schema.Apply run again, which re-creates
// nothing and backfills the report tables from the version-1 tables. On both
// engines that must give exactly the rows the writer wrote (writer:
// compareTables' answer before).
func checkBackfill(t *testing.T, ctx context.Context, dbName string, sides [2]*side, writer map[string][2][]string) {
	t.Helper()
	err := bothSides(sides, func(s *side) error {
		for _, tbl := range reportTables {
			if err := s.conn.Exec(ctx, "TRUNCATE TABLE "+dbName+"."+tbl); err != nil {
				return err
			}
		}
		if err := s.conn.Exec(ctx, "DROP TABLE "+dbName+".schema_migrations"); err != nil {
			return err
		}
		applied, err := schema.Apply(ctx, s.conn, schema.Config{Database: dbName, Steps: s.w.SchemaSteps()})
		if err == nil && !slices.Contains(applied, 2) {
			err = fmt.Errorf("schema.Apply ran migrations %v, not 2", applied)
		}
		return err
	})
	if err != nil {
		t.Fatalf("backfill: %v", err)
	}
	after := compareTables(t, ctx, dbName, sides, reportTables)
	for _, tbl := range reportTables {
		for i, s := range sides {
			if d := firstDiff(writer[tbl][i], after[tbl][i]); d != "" {
				t.Errorf("%s: the backfill of %s differs from the writer's rows (%d rows, backfilled %d): %s",
					s.name, tbl, len(writer[tbl][i]), len(after[tbl][i]), d)
			}
		}
	}
}

// rowsAsText reads every row of q, each column scanned into the driver's
// own scan type for it and printed.
func rowsAsText(ctx context.Context, conn driver.Conn, q string) ([]string, error) {
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		types := rows.ColumnTypes()
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		parts := make([]string, len(dest))
		for i, d := range dest {
			v := reflect.ValueOf(d).Elem()
			if v.Kind() == reflect.Pointer {
				if v.IsNil() {
					parts[i] = "NULL"
					continue
				}
				v = v.Elem()
			}
			parts[i] = fmt.Sprintf("%#v", v.Interface())
		}
		out = append(out, strings.Join(parts, "\t"))
	}
	return out, rows.Err()
}

func firstDiff(a, b []string) string {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("row %d:\n  %s\n  %s", i, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("row counts %d and %d", len(a), len(b))
	}
	return ""
}

// compareReaders runs every Reader method (and the Writer's reads) with a
// range of arguments on both sides and compares the answers; it returns how
// many it compared.
func compareReaders(t *testing.T, ctx context.Context, sides [2]*side, w workload) int {
	t.Helper()
	n := 0
	same := func(what string, call func(s *side) (any, error)) {
		t.Helper()
		n++
		var got [2]any
		err := bothSides(sides, func(s *side) error {
			v, err := call(s)
			got[slices.Index(sides[:], s)] = v
			return err
		})
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		if !reflect.DeepEqual(got[0], got[1]) {
			a, _ := json.MarshalIndent(got[0], "", " ")
			b, _ := json.MarshalIndent(got[1], "", " ")
			t.Errorf("%s differs (%s, then %s): %s", what, sides[0].name, sides[1].name,
				firstDiff(strings.Split(string(a), "\n"), strings.Split(string(b), "\n")))
		}
	}

	// Lists with each filter, and every page of a cursor walk.
	mid := w.firstMs + (w.lastMs-w.firstMs)/2
	filters := map[string]query.ListFilter{
		"all":            {Limit: 50},
		"offset":         {Limit: 50, Offset: 120},
		"created after":  {Limit: 100, CreatedAfter: &mid},
		"created before": {Limit: 100, CreatedBefore: &mid},
		"prefix":         {Limit: 100, InstancePrefix: w.ids[len(w.ids)/2][:3]},
	}
	for _, st := range []string{api.StatusRunning, api.StatusCompleted, api.StatusFailed} {
		filters["status "+st] = query.ListFilter{Limit: 100, Statuses: []string{st}}
	}
	filters["two statuses"] = query.ListFilter{Limit: 100, Statuses: []string{api.StatusRunning, api.StatusFailed}}
	for _, o := range w.orchestrations {
		filters["orchestration "+o] = query.ListFilter{Limit: 100, Orchestration: o, CreatedAfter: &w.firstMs}
	}
	for i, p := range w.parents {
		if i%5 == 0 {
			filters["parent "+p] = query.ListFilter{Limit: 100, ParentInstance: p}
		}
	}
	for name, f := range filters {
		same("ListInstances("+name+")", func(s *side) (any, error) { return s.r.ListInstances(ctx, f) })
		same("StreamInstances("+name+")", func(s *side) (any, error) {
			var out []api.InstanceSummary
			err := s.r.StreamInstances(ctx, f, func(x api.InstanceSummary) error { out = append(out, x); return nil })
			return out, err
		})
	}
	for _, f := range []query.ListFilter{{Limit: 300}, {Limit: 97, Statuses: []string{api.StatusCompleted}}} {
		pages := 0
		for cursor := (*query.PageCursor)(nil); ; pages++ {
			f.After = cursor
			var lists [2]api.InstanceList
			same(fmt.Sprintf("ListInstances page %d of %v", pages, f.Statuses), func(s *side) (any, error) {
				l, err := s.r.ListInstances(ctx, f)
				lists[slices.Index(sides[:], s)] = l
				return l, err
			})
			tok := lists[0].NextPageToken
			if tok == nil {
				break
			}
			c, err := query.DecodePageToken(*tok)
			if err != nil {
				t.Fatal(err)
			}
			cursor = &c
		}
		if pages < 3 {
			t.Errorf("cursor walk of %v had %d pages; want several", f.Statuses, pages)
		}
	}

	// Point lookups of a sample of instances (and one that does not exist).
	sample := []string{"no-such-instance"}
	for i := 0; i < len(w.ids); i += len(w.ids) / 40 {
		sample = append(sample, w.ids[i])
	}
	for i := 0; i < len(w.parents); i += max(1, len(w.parents)/10) {
		sample = append(sample, w.parents[i])
	}
	for _, id := range sample {
		same("Instance("+id+")", func(s *side) (any, error) { v, ok, err := s.r.Instance(ctx, id); return pair(v, ok), err })
		same("Details("+id+")", func(s *side) (any, error) { v, ok, err := s.r.Details(ctx, id); return pair(v, ok), err })
		same("Executions("+id+")", func(s *side) (any, error) { v, ok, err := s.r.Executions(ctx, id); return pair(v, ok), err })
		for _, exec := range []uint64{0, 1, 2} {
			same(fmt.Sprintf("History(%s, %d)", id, exec), func(s *side) (any, error) {
				v, ok, err := s.r.History(ctx, id, query.HistoryRange{ExecutionID: exec})
				return pair(v, ok), err
			})
		}
	}
	same("BulkStatus", func(s *side) (any, error) { return s.r.BulkStatus(ctx, sample) })
	same("BulkStatus(all)", func(s *side) (any, error) { return s.r.BulkStatus(ctx, w.ids) })
	// The change feed's batched lookups (GET /v1/instances/changes).
	same("Instances(all)", func(s *side) (any, error) { return s.r.Instances(ctx, w.ids) })
	same("ActivityTags(all)", func(s *side) (any, error) { return s.r.ActivityTags(ctx, w.ids) })

	// The projector's reads of stored history.
	same("LoadHistories", func(s *side) (any, error) { return s.w.LoadHistories(ctx, sample) })
	// The drift self-check's reads (its deletion, a mutation, runs on 18.16
	// in internal/e2e's TestDriftFoundAndRepaired).
	same("SampleInstanceIDs", func(s *side) (any, error) { return s.w.SampleInstanceIDs(ctx, "", 1<<20) })
	same("SampleInstanceIDs(after)", func(s *side) (any, error) { return s.w.SampleInstanceIDs(ctx, sample[1], 1<<20) })
	same("StoredInstances", func(s *side) (any, error) {
		m, err := s.w.StoredInstances(ctx, sample)
		return distinctCopies(m), err
	})
	same("ScanInstanceIDs", func(s *side) (any, error) {
		seen := map[string]bool{}
		err := s.w.ScanInstanceIDs(ctx, func(id string) error { seen[id] = true; return nil })
		return seen, err
	})

	// Statistics, health, problems, queues.
	for _, o := range append([]string{""}, w.orchestrations...) {
		same("OrchestrationStats("+o+")", func(s *side) (any, error) { return s.r.OrchestrationStats(ctx, o) })
		if o == "" {
			continue
		}
		same("Performance("+o+")", func(s *side) (any, error) {
			return s.r.Performance(ctx, query.PerformanceFilter{Orchestration: o})
		})
		same("Performance("+o+", since)", func(s *side) (any, error) {
			return s.r.Performance(ctx, query.PerformanceFilter{Orchestration: o, Since: &mid})
		})
		same("ActivityStats("+o+")", func(s *side) (any, error) {
			return s.r.ActivityStats(ctx, query.ActivityFilter{Orchestration: o})
		})
		// The percentile drill-down: everything (two pages), and from a
		// duration since mid.
		for _, f := range []query.SlowInstancesFilter{{Orchestration: o, Limit: 5},
			{Orchestration: o, Since: &mid, MinDurationMs: &mid, Limit: 1000}} {
			same(fmt.Sprintf("SlowInstances(%s, since %v)", o, f.Since != nil), func(s *side) (any, error) {
				first, err := s.r.SlowInstances(ctx, f)
				if err != nil || first.NextPageToken == nil {
					return []api.SlowInstanceList{first}, err
				}
				c, err := query.DecodeSlowToken(*first.NextPageToken)
				if err != nil {
					return nil, err
				}
				f.After = &c
				next, err := s.r.SlowInstances(ctx, f)
				return []api.SlowInstanceList{first, next}, err
			})
		}
	}
	for _, a := range w.activities[:min(3, len(w.activities))] {
		min0 := int64(0)
		for _, f := range []query.ActivityCallsFilter{{Activity: a, Limit: 4},
			{Activity: a, ActivityFilter: query.ActivityFilter{Orchestration: w.orchestrations[0], Since: &mid, IncludeSystem: true}, MinDurationMs: &min0, Limit: 1000}} {
			same(fmt.Sprintf("ActivityCalls(%s, %v)", a, f.MinDurationMs != nil), func(s *side) (any, error) {
				first, err := s.r.ActivityCalls(ctx, f)
				if err != nil || first.NextPageToken == nil {
					return []api.ActivityCallList{first}, err
				}
				c, err := query.DecodeSlowToken(*first.NextPageToken)
				if err != nil {
					return nil, err
				}
				f.After = &c
				next, err := s.r.ActivityCalls(ctx, f)
				return []api.ActivityCallList{first, next}, err
			})
		}
	}
	for _, f := range []query.ActivityFilter{{}, {IncludeSystem: true}, {Since: &mid}, {Orchestration: w.orchestrations[0], Since: &mid}} {
		same(fmt.Sprintf("ActivityStats(%+v)", f), func(s *side) (any, error) { return s.r.ActivityStats(ctx, f) })
	}
	now := time.UnixMilli(w.lastMs + 60000)
	for _, d := range []time.Duration{time.Hour, 24 * time.Hour} {
		same(fmt.Sprintf("Health(%v)", d), func(s *side) (any, error) {
			return s.r.Health(ctx, query.HealthParams{Now: now, LongRunningAfter: d, RecentFailureWindow: d})
		})
		same(fmt.Sprintf("Problems(%v)", d), func(s *side) (any, error) {
			return s.r.Problems(ctx, query.ProblemsParams{Now: now, LongRunningAfter: 2 * d, StuckAfter: d,
				RecentFailureWindow: d, Limit: 25})
		})
	}
	same("Queues", func(s *side) (any, error) { return s.r.Queues(ctx) })
	same("Ping", func(s *side) (any, error) { return nil, s.r.Ping(ctx) })

	// Reports: every bucket with every grouping, and the filters.
	day := int64(24 * 3600 * 1000)
	from := w.firstMs - w.firstMs%day
	ranges := map[string][2]int64{
		api.BucketMinute: {mid - 3*3600*1000, mid + 3*3600*1000},
		api.BucketHour:   {from, from + 2*day},
		api.BucketDay:    {from, from + 5*day},
		api.BucketWeek:   {from - 7*day, from + 14*day},
	}
	for _, bucket := range []string{api.BucketMinute, api.BucketHour, api.BucketDay, api.BucketWeek} {
		size, _ := query.BucketSize(bucket)
		lo, hi := ranges[bucket][0], ranges[bucket][1]
		lo, hi = lo-lo%size, hi-hi%size+size
		for _, g := range []string{api.GroupByOrchestration, api.GroupByVersion, api.GroupByStatus, api.GroupByActivity} {
			q := query.TimeseriesQuery{Bucket: bucket, FromMs: lo, ToMs: hi, GroupBy: g}
			variants := map[string]query.TimeseriesQuery{"": q}
			if len(w.orchestrations) > 0 {
				v := q
				v.Orchestration = w.orchestrations[0]
				variants["orchestration"] = v
			}
			if g == api.GroupByActivity {
				v := q
				v.IncludeSystem = true
				variants["system"] = v
				if len(w.activities) > 0 {
					v = q
					v.Activity = w.activities[0]
					variants["activity"] = v
				}
			} else {
				v := q
				v.Statuses = []string{api.StatusCompleted, api.StatusFailed}
				variants["statuses"] = v
			}
			for vn, v := range variants {
				same(fmt.Sprintf("Timeseries(%s, %s, %s)", bucket, g, vn), func(s *side) (any, error) {
					var out []api.ReportRow
					err := s.r.Timeseries(ctx, v, func(r api.ReportRow) error { out = append(out, r); return nil })
					if err == nil && len(out) == 0 && vn == "" {
						err = errors.New("no rows: the range should hold data")
					}
					return out, err
				})
			}
		}
	}
	for _, q := range []query.ErrorsQuery{
		{FromMs: from, ToMs: from + 4*day, Limit: 10},
		{FromMs: from + 3600*1000, ToMs: from + day + 5*3600*1000, Limit: 3, IncludeSystem: true},
		{FromMs: from, ToMs: from + 4*day, Limit: 10, Orchestration: first(w.orchestrations)},
		{FromMs: from, ToMs: from + 4*day, Limit: 10, Activity: first(w.activities)},
	} {
		same(fmt.Sprintf("Errors(%+v)", q), func(s *side) (any, error) { return s.r.Errors(ctx, q) })
	}
	return n
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func pair(v any, ok bool) any {
	return struct {
		V  any
		OK bool
	}{v, ok}
}

// checkReadonly shows that readonly=2 attached to a statement is in force
// on the engine: with it a write is refused (READONLY, code 164) while a
// setting may still be changed, as the Reader's per-query settings need.
func checkReadonly(t *testing.T, ctx context.Context, c *Conn, dbName string) {
	t.Helper()
	ro := clickhouse.Settings{"readonly": 2}
	ins, err := withSettings("INSERT INTO "+dbName+".queue_snapshots (timestamp_ms, orchestrator_queue, worker_queue, timer_queue)", ro)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Exec(ctx, ins+" VALUES (1, 1, 1, 1)")
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) || ex.Code != 164 {
		t.Errorf("write with readonly=2 on chDB: %v; want READONLY (code 164)", err)
	}
	q, err := withSettings("SELECT toUInt64(getSetting('readonly')), toUInt64(getSetting('max_threads')) SETTINGS max_threads = 1", ro)
	if err != nil {
		t.Fatal(err)
	}
	var readonly, threads uint64
	if err := c.QueryRow(ctx, q).Scan(&readonly, &threads); err != nil || readonly != 2 || threads != 1 {
		t.Errorf("%s: readonly=%d max_threads=%d, %v; want 2 and 1", q, readonly, threads, err)
	}
}

// distinctCopies is m with each key's identical copies collapsed: how many
// copies a table holds until merged differs between servers.
func distinctCopies(m map[string]*chwrite.StoredInstance) map[string]*chwrite.StoredInstance {
	for _, s := range m {
		s.Instance.Copies = distinctRows(s.Instance.Copies)
		for _, e := range s.Executions {
			e.Copies = distinctRows(e.Copies)
		}
	}
	return m
}

func distinctRows[T any](rows []T) []T {
	var out []T
	for _, r := range rows {
		if !slices.ContainsFunc(out, func(o T) bool { return reflect.DeepEqual(o, r) }) {
			out = append(out, r)
		}
	}
	return out
}

// checkRetention runs the retention's statements (chwrite.DropExpired) on
// both sides with cutoffs two months after the workload, last: every month
// of every table it drops from goes, the same on both, and no instance is
// left.
func checkRetention(t *testing.T, ctx context.Context, db string, sides [2]*side, w workload) {
	t.Helper()
	cutoff := time.UnixMilli(w.lastMs).AddDate(0, 2, 0)
	var dropped [2][]string
	for i, s := range sides {
		d, err := s.w.DropExpired(ctx, chwrite.Cutoffs{Management: cutoff, Reports: cutoff})
		if err != nil {
			t.Fatalf("%s: DropExpired: %v", s.name, err)
		}
		for _, p := range d {
			dropped[i] = append(dropped[i], fmt.Sprintf("%s/%d", p.Table, p.Month))
		}
		sort.Strings(dropped[i])
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+db+".instances").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d instance rows left after the retention", s.name, n)
		}
	}
	if len(dropped[0]) == 0 || !slices.Equal(dropped[0], dropped[1]) {
		t.Errorf("retention dropped %v on %s and %v on %s", dropped[0], sides[0].name, dropped[1], sides[1].name)
	}
}
