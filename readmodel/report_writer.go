package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chconn"
)

// maxReportMessageChars bounds the error messages kept in report facts (and
// so in the cells' error counts): longer messages are grouped by their first
// 1024 characters. The backfill cuts with substringUTF8 at the same length.
const maxReportMessageChars = 1024

// cellKey is one cell of the report tables: the bucket (start, ms) and the
// two group dimensions (orchestration name and version, or activity name and
// orchestration name).
type cellKey struct {
	bucket int64
	a, b   string
}

// reportBatch is what one WriteRows call adds to the report tables.
type reportBatch struct {
	inst  instanceFactCols
	act   activityFactCols
	cells ReportCells
}

// ReportCells is a set of report cells whose facts a write changed: the hour
// cells touched, and the day cells they belong to. Recount brings them up to
// date. Sets of several writes merge (Add), so a caller may recount the cells
// of many writes at once: a cell's recount reads all of its facts, whatever
// write put them there.
type ReportCells struct {
	instHours, actHours map[cellKey]struct{}
	instDays, actDays   map[cellKey]struct{}
}

func newReportCells() ReportCells {
	return ReportCells{
		instHours: map[cellKey]struct{}{}, actHours: map[cellKey]struct{}{},
		instDays: map[cellKey]struct{}{}, actDays: map[cellKey]struct{}{},
	}
}

// Add merges o into c (a zero c becomes a copy of o).
func (c *ReportCells) Add(o ReportCells) {
	if c.instHours == nil {
		*c = newReportCells()
	}
	for _, p := range [...]struct{ dst, src map[cellKey]struct{} }{
		{c.instHours, o.instHours}, {c.actHours, o.actHours}, {c.instDays, o.instDays}, {c.actDays, o.actDays},
	} {
		for k := range p.src {
			p.dst[k] = struct{}{}
		}
	}
}

// Len is the number of hour cells in c (a recount's work is proportional
// to their facts).
func (c ReportCells) Len() int { return len(c.instHours) + len(c.actHours) }

type instanceFactCols struct {
	hour, created                []int64
	name, version, id, status    []string
	duration                     []int64
	bin                          []int32
	errCategory, errKind, errMsg []string
	rowVersion                   []uint64
}

type activityFactCols struct {
	hour, scheduled              []int64
	actName, orchName, id        []string
	execID, eventID              []uint64
	isSystem                     []uint8
	outcome                      []string
	duration                     []int64
	bin                          []int32
	errCategory, errKind, errMsg []string
	rowVersion                   []uint64
}

// floorTo rounds ms down to a multiple of step (step > 0, ms >= 0 here:
// facts with negative times are never written).
func floorTo(ms, step int64) int64 { return ms - ms%step }

// reportErr splits an error into the report's (category, kind, message).
func reportErr(d *events.ErrorDetails) (string, string, string) {
	if d == nil {
		return "", "", ""
	}
	return d.Category, d.Kind, truncateChars(d.Message, maxReportMessageChars)
}

// truncateChars keeps the first n characters (runes) of s.
func truncateChars(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}

// reportFacts extracts the report facts of rows. An instance has a fact once
// execution 1's OrchestrationStarted (event 1) is projected: it gives the
// fact's bucket (created_at), orchestration name and version, none of which
// can change afterwards. An activity has one once the OrchestrationStarted
// (event 1) of the execution that scheduled it is projected (it gives the
// orchestration name). Times before 1970 are left out (no Duroxide clock
// produces them, and the buckets are computed for non-negative times only).
func reportFacts(rows []projection.Rows) *reportBatch {
	rb := &reportBatch{cells: newReportCells()}
	for i := range rows {
		r := &rows[i]
		if len(r.Starts) == 0 {
			continue
		}
		starts := r.Starts
		if s := starts[0]; s.ExecutionID == 1 && s.TimestampMs >= 0 {
			in := &r.Instance
			hour := floorTo(s.TimestampMs, grainHourMs)
			var dur int64
			if in.DurationMs.Valid {
				dur = in.DurationMs.Value
			}
			cat, kind, msg := reportErr(in.Error)
			c := &rb.inst
			c.hour = append(c.hour, hour)
			c.created = append(c.created, s.TimestampMs)
			c.name = append(c.name, s.OrchestrationName)
			c.version = append(c.version, s.OrchestrationVersion)
			c.id = append(c.id, in.InstanceID)
			c.status = append(c.status, in.Status)
			c.duration = append(c.duration, dur)
			c.bin = append(c.bin, DurationBin(dur))
			c.errCategory = append(c.errCategory, cat)
			c.errKind = append(c.errKind, kind)
			c.errMsg = append(c.errMsg, msg)
			c.rowVersion = append(c.rowVersion, r.Version)
			rb.cells.instHours[cellKey{hour, s.OrchestrationName, s.OrchestrationVersion}] = struct{}{}
			rb.cells.instDays[cellKey{floorTo(hour, grainDayMs), s.OrchestrationName, s.OrchestrationVersion}] = struct{}{}
		}
		for j := range r.Activities {
			a := &r.Activities[j]
			if a.ScheduledAtMs < 0 {
				continue
			}
			orch, ok := startName(starts, a.ExecutionID)
			if !ok {
				continue
			}
			hour := floorTo(a.ScheduledAtMs, grainHourMs)
			var dur int64
			if a.DurationMs.Valid {
				dur = a.DurationMs.Value
			}
			cat, kind, msg := reportErr(a.Error)
			c := &rb.act
			c.hour = append(c.hour, hour)
			c.scheduled = append(c.scheduled, a.ScheduledAtMs)
			c.actName = append(c.actName, a.ActivityName)
			c.orchName = append(c.orchName, orch)
			c.id = append(c.id, a.InstanceID)
			c.execID = append(c.execID, a.ExecutionID)
			c.eventID = append(c.eventID, a.EventID)
			c.isSystem = append(c.isSystem, boolU8(a.IsSystem))
			c.outcome = append(c.outcome, a.Outcome)
			c.duration = append(c.duration, dur)
			c.bin = append(c.bin, DurationBin(dur))
			c.errCategory = append(c.errCategory, cat)
			c.errKind = append(c.errKind, kind)
			c.errMsg = append(c.errMsg, msg)
			c.rowVersion = append(c.rowVersion, r.Version)
			rb.cells.actHours[cellKey{hour, a.ActivityName, orch}] = struct{}{}
			rb.cells.actDays[cellKey{floorTo(hour, grainDayMs), a.ActivityName, orch}] = struct{}{}
		}
	}
	return rb
}

// startName returns the orchestration name of execution exec's
// OrchestrationStarted (event 1), if projected. starts is short (one entry
// per execution) and ascending.
func startName(starts []projection.StartRow, exec uint64) (string, bool) {
	for i := range starts {
		if starts[i].ExecutionID == exec {
			return starts[i].OrchestrationName, true
		}
	}
	return "", false
}

// Recount brings the report cells in cells up to date with their facts:
// hour cells from the facts, then day cells from the hour cells. Each step
// starts after the previous one is committed (ClickHouse INSERTs are
// synchronous), and a recount must start after the facts it is for were
// written (WriteRows returned): that is what makes the last recount of a
// cell see all of it. Instances and activities are independent chains and
// run concurrently. Recounting a cell again, or concurrently with another
// writer, is harmless: a cell's snapshot is versioned by its facts
// (report_sql.go).
func (w *Writer) Recount(ctx context.Context, cells ReportCells) error {
	chains := [2][]recountStep{
		{
			{"instance hour cells", instanceHourRecount, instanceHourCellsFilter, cells.instHours, "orchestration_name", "orchestration_version", false},
			{"instance day cells", instanceDayRecount, instanceDayCellsFilter, cells.instDays, "orchestration_name", "orchestration_version", true},
		},
		{
			{"activity hour cells", activityHourRecount, activityHourCellsFilter, cells.actHours, "activity_name", "orchestration_name", false},
			{"activity day cells", activityDayRecount, activityDayCellsFilter, cells.actDays, "activity_name", "orchestration_name", true},
		},
	}
	var (
		wg   sync.WaitGroup
		errs [2]error
	)
	for i := range chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, st := range chains[i] {
				if errs[i] = w.recount(ctx, st); errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs[:]...)
}

// recountStep is one recount statement and the cells it is run for.
type recountStep struct {
	what, sql, filter string
	cells             map[cellKey]struct{}
	dimA, dimB        string
	days              bool
}

// recount runs one recount statement for its cells (none: nothing to do).
func (w *Writer) recount(ctx context.Context, st recountStep) error {
	if len(st.cells) == 0 {
		return nil
	}
	t, err := cellTable(st.cells, st.dimA, st.dimB, st.days)
	if err != nil {
		return err
	}
	q := strings.ReplaceAll(strings.ReplaceAll(st.sql, "{cells}", st.filter), "{db}", w.db)
	if err := w.conn.Exec(chconn.WithExternalTables(chconn.WithSettings(ctx, clickhouse.Settings{"priority": priorityRecount}), t), q); err != nil {
		return fmt.Errorf("recount %d %s in %s: %w", len(st.cells), st.what, w.db, err)
	}
	return nil
}

// cellTable builds the external table _cells of a recount: for hour cells
// (hour_ms, dimA, dimB); for day cells every hour cell of each day,
// (grain_ms, bucket_ms, dimA, dimB), so that the filter is a primary-key
// lookup of the hour cells table.
func cellTable(cells map[cellKey]struct{}, dimA, dimB string, days bool) (*ext.Table, error) {
	var (
		t   *ext.Table
		err error
	)
	if days {
		t, err = ext.NewTable("_cells", ext.Column("grain_ms", "UInt32"), ext.Column("bucket_ms", "Int64"),
			ext.Column(dimA, "String"), ext.Column(dimB, "String"))
	} else {
		t, err = ext.NewTable("_cells", ext.Column("hour_ms", "Int64"), ext.Column(dimA, "String"), ext.Column(dimB, "String"))
	}
	if err != nil {
		return nil, fmt.Errorf("external cells table: %w", err)
	}
	for c := range cells {
		if !days {
			err = t.Append(c.bucket, c.a, c.b)
		} else {
			for h := int64(0); h < grainDayMs && err == nil; h += grainHourMs {
				err = t.Append(uint32(grainHourMs), c.bucket+h, c.a, c.b)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("external cells table: %w", err)
		}
	}
	return t, nil
}

func (w *Writer) writeInstanceFacts(ctx context.Context, c *instanceFactCols) error {
	return w.insert(ctx, "report_instance_facts", len(c.id), []insertColumn{
		{"hour_ms", c.hour},
		{"orchestration_name", c.name},
		{"orchestration_version", c.version},
		{"instance_id", c.id},
		{"created_at_ms", c.created},
		{"status", c.status},
		{"duration_ms", c.duration},
		{"duration_bin", c.bin},
		{"err_category", c.errCategory},
		{"err_kind", c.errKind},
		{"err_message", c.errMsg},
		{"row_version", c.rowVersion},
	})
}

func (w *Writer) writeActivityFacts(ctx context.Context, c *activityFactCols) error {
	return w.insert(ctx, "report_activity_facts", len(c.id), []insertColumn{
		{"hour_ms", c.hour},
		{"activity_name", c.actName},
		{"orchestration_name", c.orchName},
		{"instance_id", c.id},
		{"execution_id", c.execID},
		{"event_id", c.eventID},
		{"is_system", c.isSystem},
		{"scheduled_at_ms", c.scheduled},
		{"outcome", c.outcome},
		{"duration_ms", c.duration},
		{"duration_bin", c.bin},
		{"err_category", c.errCategory},
		{"err_kind", c.errKind},
		{"err_message", c.errMsg},
		{"row_version", c.rowVersion},
	})
}

// RecountAll recounts every report cell from all facts (what migration
// 0002's backfill does). The live path never needs it; tests use it to prove
// that the cells kept by Recount equal a recount from scratch, and an
// operator can use it to repair cells after a restore of the fact tables.
func (w *Writer) RecountAll(ctx context.Context) error {
	for _, st := range [...]struct{ what, sql string }{
		{"instance hour cells", instanceHourRecount},
		{"instance day cells", instanceDayRecount},
		{"activity hour cells", activityHourRecount},
		{"activity day cells", activityDayRecount},
	} {
		q := strings.ReplaceAll(strings.ReplaceAll(st.sql, "{cells}", ""), "{db}", w.db)
		if err := w.conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("recount all %s in %s: %w", st.what, w.db, err)
		}
	}
	return nil
}

// HourCell is one hour cell of a ReportCells: its bucket (ms) and its two
// group dimensions (orchestration name and version, or activity name and
// orchestration name).
type HourCell struct {
	BucketMs int64  `json:"h"`
	A        string `json:"a"`
	B        string `json:"b"`
}

// reportCellsWire is the JSON form of ReportCells: the hour cells only
// (a day cell is the day of its hour cells).
type reportCellsWire struct {
	Instances  []HourCell `json:"i,omitempty"`
	Activities []HourCell `json:"a,omitempty"`
}

// MarshalJSON records c, so that another process can recount it
// (UnmarshalJSON gives back the same set).
func (c ReportCells) MarshalJSON() ([]byte, error) {
	var w reportCellsWire
	for k := range c.instHours {
		w.Instances = append(w.Instances, HourCell{k.bucket, k.a, k.b})
	}
	for k := range c.actHours {
		w.Activities = append(w.Activities, HourCell{k.bucket, k.a, k.b})
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (c *ReportCells) UnmarshalJSON(b []byte) error {
	var w reportCellsWire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("report cells: %w", err)
	}
	*c = newReportCells()
	for _, h := range w.Instances {
		if h.BucketMs < 0 || h.BucketMs%grainHourMs != 0 {
			return fmt.Errorf("report cells: instance cell at %d ms is not an hour", h.BucketMs)
		}
		c.instHours[cellKey{h.BucketMs, h.A, h.B}] = struct{}{}
		c.instDays[cellKey{floorTo(h.BucketMs, grainDayMs), h.A, h.B}] = struct{}{}
	}
	for _, h := range w.Activities {
		if h.BucketMs < 0 || h.BucketMs%grainHourMs != 0 {
			return fmt.Errorf("report cells: activity cell at %d ms is not an hour", h.BucketMs)
		}
		c.actHours[cellKey{h.BucketMs, h.A, h.B}] = struct{}{}
		c.actDays[cellKey{floorTo(h.BucketMs, grainDayMs), h.A, h.B}] = struct{}{}
	}
	return nil
}

// Split cuts c into sets of at most n hour cells each (n > 0), e.g. to
// record it in messages of a bounded size.
func (c ReportCells) Split(n int) []ReportCells {
	var (
		out []ReportCells
		cur ReportCells
	)
	add := func(inst bool, k cellKey) {
		if cur.instHours == nil {
			cur = newReportCells()
		}
		day := cellKey{floorTo(k.bucket, grainDayMs), k.a, k.b}
		if inst {
			cur.instHours[k], cur.instDays[day] = struct{}{}, struct{}{}
		} else {
			cur.actHours[k], cur.actDays[day] = struct{}{}, struct{}{}
		}
		if cur.Len() == n {
			out, cur = append(out, cur), ReportCells{}
		}
	}
	for k := range c.instHours {
		add(true, k)
	}
	for k := range c.actHours {
		add(false, k)
	}
	if cur.Len() > 0 {
		out = append(out, cur)
	}
	return out
}
