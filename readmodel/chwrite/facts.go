package chwrite

import (
	"context"
	"strings"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/recount"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/reportcells"
)

// maxReportMessageChars bounds the error messages kept in report facts (and
// so in the cells' error counts): longer messages are grouped by their first
// 1024 characters. The backfill cuts with substringUTF8 at the same length.
const maxReportMessageChars = 1024

// reportBatch is what one WriteRows call adds to the report tables.
type reportBatch struct {
	inst  instanceFactCols
	act   activityFactCols
	cells recount.Cells
}

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
	deleted                      []uint8
	rowVersion                   []uint64
}

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

// reportFacts extracts the report facts of rows: of the live incarnation
// and of every past (deleted) one, which the reports keep counting
// (docs/deletions.md), plus tombstones for the activity facts a derivation
// of a subset could have keyed by another incarnation's orchestration name
// (projection.Rows.StaleReportActivities). An instance has a fact once
// execution 1's OrchestrationStarted (event 1) is projected: it gives the
// fact's bucket (created_at), orchestration name and version, none of which
// can change afterwards. An activity has one once the OrchestrationStarted
// (event 1) of the execution that scheduled it is projected (it gives the
// orchestration name). Times before 1970 are left out (no Duroxide clock
// produces them, and the buckets are computed for non-negative times only).
func reportFacts(rows []projection.Rows) *reportBatch {
	rb := &reportBatch{}
	for i := range rows {
		r := &rows[i]
		if !r.Instance.Deleted {
			rb.addIncarnation(&r.Instance, r.Starts, r.Activities, r.Version)
		}
		for j := range r.Past {
			p := &r.Past[j]
			rb.addIncarnation(&p.Instance, p.Starts, p.Activities, r.Version)
		}
		for j := range r.StaleReportActivities {
			a := &r.StaleReportActivities[j]
			if a.ScheduledAtMs >= 0 {
				rb.addActivity(a, a.OrchestrationName, true, r.Version)
			}
		}
	}
	return rb
}

// addIncarnation adds the facts of one incarnation of an instance.
func (rb *reportBatch) addIncarnation(in *projection.InstanceRow, starts []projection.StartRow, acts []projection.ActivityRow, version uint64) {
	if len(starts) == 0 {
		return
	}
	if s := starts[0]; s.ExecutionID == 1 && s.TimestampMs >= 0 {
		hour := reportcells.FloorTo(s.TimestampMs, reportcells.GrainHourMs)
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
		c.bin = append(c.bin, reportcells.DurationBin(dur))
		c.errCategory = append(c.errCategory, cat)
		c.errKind = append(c.errKind, kind)
		c.errMsg = append(c.errMsg, msg)
		c.rowVersion = append(c.rowVersion, version)
		rb.cells.AddInstance(recount.Cell{BucketMs: hour, A: s.OrchestrationName, B: s.OrchestrationVersion})
	}
	for j := range acts {
		a := &acts[j]
		if a.Deleted || a.ScheduledAtMs < 0 {
			continue
		}
		orch, ok := startName(starts, a.ExecutionID)
		if !ok {
			continue
		}
		rb.addActivity(a, orch, false, version)
	}
}

// addActivity adds one activity fact (a tombstone when deleted).
func (rb *reportBatch) addActivity(a *projection.ActivityRow, orch string, deleted bool, version uint64) {
	hour := reportcells.FloorTo(a.ScheduledAtMs, reportcells.GrainHourMs)
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
	c.isSystem = append(c.isSystem, boolU8(strings.HasPrefix(a.ActivityName, events.SystemCallPrefix)))
	c.outcome = append(c.outcome, a.Outcome)
	c.duration = append(c.duration, dur)
	c.bin = append(c.bin, reportcells.DurationBin(dur))
	c.errCategory = append(c.errCategory, cat)
	c.errKind = append(c.errKind, kind)
	c.errMsg = append(c.errMsg, msg)
	c.deleted = append(c.deleted, boolU8(deleted))
	c.rowVersion = append(c.rowVersion, version)
	rb.cells.AddActivity(recount.Cell{BucketMs: hour, A: a.ActivityName, B: orch})
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

func (w *Writer) writeInstanceFacts(ctx context.Context, c *instanceFactCols) error {
	return w.insert(ctx, "report_instance_facts_v3", len(c.id), []insertColumn{
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
	return w.insert(ctx, "report_activity_facts_v3", len(c.id), []insertColumn{
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
		{"deleted", c.deleted},
		{"row_version", c.rowVersion},
	})
}
