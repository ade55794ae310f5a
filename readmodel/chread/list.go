package chread

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// prefixUpperBound returns the smallest string greater than every string
// with prefix p (ok=false when there is none: p is all 0xFF bytes). ClickHouse
// compares String bytewise, so p <= id < bound selects exactly the ids with
// prefix p, and the range lets the primary key skip the rest.
func prefixUpperBound(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0xFF {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// pick is one instance chosen by a list query's first phase: its id, the
// version the filters were applied to, and its sort key.
type pick struct {
	id      string
	version uint64
	created int64
	cat     uint8 // problems: 1 long-running, 2 stuck, 3 recent failure, 4 slower than usual
}

// listData is the template data of the list statements (list_scan.sql,
// list_top.sql, list_newest.sql, export_instances.sql, and the list_inner /
// list_outer fragments): which of the filters of a query.ListFilter are present.
// Their values are bound by name (listArgs).
type listData struct {
	DB string
	// Key conditions, safe inside FINAL (every version of a key has the same
	// id) and used by the index: the prefix as a range, and its upper bound
	// when there is one.
	Prefix, PrefixBound bool
	// Conditions on other columns, applied after FINAL's deduplication.
	Statuses, Orchestration, CreatedAfter, CreatedBefore, Parent, After bool

	// The further filters (list_outer_more), also after deduplication.
	Version, UpdatedAfter, UpdatedBefore, CustomStatus, ErrorKind, ErrorCategory, RootOnly bool
	// ActivityTag is a key condition (list_inner): the ids of the instances
	// whose activity work items carry the tag.
	ActivityTag bool
	// Shards are the key ranges of a split FINAL scan (list_scan.sql).
	Shards []shard
}

// listOf returns the template data and the arguments of f's filters (and
// After).
func (r *Reader) listOf(f query.ListFilter) (listData, []any) {
	d := listData{
		DB:            r.db,
		Prefix:        f.InstancePrefix != "",
		Statuses:      len(f.Statuses) > 0,
		Orchestration: f.Orchestration != "",
		CreatedAfter:  f.CreatedAfter != nil,
		CreatedBefore: f.CreatedBefore != nil,
		Parent:        f.ParentInstance != "",
		After:         f.After != nil,
		Version:       f.Version != "",
		UpdatedAfter:  f.UpdatedAfter != nil,
		UpdatedBefore: f.UpdatedBefore != nil,
		CustomStatus:  f.CustomStatusPrefix != "",
		ErrorKind:     f.ErrorKind != "",
		ErrorCategory: f.ErrorCategory != "",
		RootOnly:      f.RootOnly,
		ActivityTag:   f.ActivityTag != "",
	}
	var args []any
	if d.Prefix {
		args = append(args, clickhouse.Named("prefix", f.InstancePrefix))
		if ub, ok := prefixUpperBound(f.InstancePrefix); ok {
			d.PrefixBound = true
			args = append(args, clickhouse.Named("prefix_bound", ub))
		}
	}
	if d.Statuses {
		args = append(args, clickhouse.Named("statuses", inList(f.Statuses)))
	}
	if d.Orchestration {
		args = append(args, clickhouse.Named("orchestration", f.Orchestration))
	}
	if d.CreatedAfter {
		args = append(args, clickhouse.Named("created_after", *f.CreatedAfter))
	}
	if d.CreatedBefore {
		args = append(args, clickhouse.Named("created_before", *f.CreatedBefore))
	}
	if d.Parent {
		args = append(args, clickhouse.Named("parent", f.ParentInstance))
	}
	if d.After {
		args = append(args, clickhouse.Named("after_created", f.After.CreatedAtMs), clickhouse.Named("after_id", f.After.InstanceID))
	}
	for _, a := range []struct {
		on    bool
		name  string
		value any
	}{
		{d.Version, "version", f.Version},
		{d.UpdatedAfter, "updated_after", f.UpdatedAfter},
		{d.UpdatedBefore, "updated_before", f.UpdatedBefore},
		{d.CustomStatus, "custom_status_prefix", f.CustomStatusPrefix},
		{d.ErrorKind, "error_kind", f.ErrorKind},
		{d.ErrorCategory, "error_category", f.ErrorCategory},
		{d.ActivityTag, "activity_tag", f.ActivityTag},
	} {
		if a.on {
			if p, ok := a.value.(*int64); ok {
				a.value = *p
			}
			args = append(args, clickhouse.Named(a.name, a.value))
		}
	}
	return d, args
}

// ListInstances answers GET /v1/instances.
//
// Two queries: the first reads (FINAL) only the columns the filters and the
// order need (of status, created_at, name, parent: cheap to read for every
// instance) and picks at most limit+1 ids; the second reads the full rows of
// just those ids, at the versions the filters saw. Reading output and error
// of every instance to show a hundred would cost far more.
func (r *Reader) ListInstances(ctx context.Context, f query.ListFilter) (api.InstanceList, error) {
	if f.Limit <= 0 {
		return api.InstanceList{}, fmt.Errorf("list instances: limit %d: must be positive", f.Limit)
	}
	f = r.retainList(f)
	var picks []pick
	// A prefix alone is a key range, read with FINAL as fast as the top.
	if f.InstancePrefix == "" {
		top, ok, err := r.topPicks(ctx, f)
		if err != nil {
			return api.InstanceList{}, err
		}
		if ok {
			return r.page(ctx, f, top)
		}
	}
	data, args := r.listOf(f)
	var sargs []any
	data.Shards, sargs = r.scanShards(ctx)
	args = append(args, sargs...)
	args = append(args, clickhouse.Named("need", f.Offset+f.Limit+1),
		clickhouse.Named("offset", f.Offset), clickhouse.Named("limit", f.Limit+1))
	err := r.query(ctx, r.scanOpts(), "list instances", "list_scan.sql", data, args, func(rows driver.Rows) error {
		var p pick
		if err := rows.Scan(&p.id, &p.version, &p.created); err != nil {
			return err
		}
		picks = append(picks, p)
		return nil
	})
	if err != nil {
		return api.InstanceList{}, err
	}
	return r.page(ctx, f, picks)
}

// page turns the first phase's picks (up to limit+1) into the answer.
func (r *Reader) page(ctx context.Context, f query.ListFilter, picks []pick) (api.InstanceList, error) {
	var next *string
	if len(picks) > f.Limit {
		picks = picks[:f.Limit]
		last := picks[len(picks)-1]
		tok := query.EncodePageToken(query.PageCursor{CreatedAtMs: last.created, InstanceID: last.id})
		next = &tok
	}
	sums, err := r.rowsAt(ctx, picks)
	if err != nil {
		return api.InstanceList{}, err
	}
	return api.InstanceList{Instances: sums, NextPageToken: next}, nil
}

// rowsAt reads the full instance rows of picks, in picks' order: each at the
// version the first phase saw, so that every answer row satisfies the
// filters it was picked by. If a merge replaced that version by a newer one
// in between, the newest is shown instead.
func (r *Reader) rowsAt(ctx context.Context, picks []pick) ([]api.InstanceSummary, error) {
	out := make([]api.InstanceSummary, 0, len(picks))
	if len(picks) == 0 {
		return out, nil
	}
	t, err := ext.NewTable("_picks", ext.Column("id", "String"), ext.Column("v", "UInt64"))
	if err != nil {
		return nil, fmt.Errorf("external picks table: %w", err)
	}
	for _, p := range picks {
		if err := t.Append(p.id, p.version); err != nil {
			return nil, fmt.Errorf("external picks table: %w", err)
		}
	}
	got := make(map[string]api.InstanceSummary, len(picks))
	scan := func(rows driver.Rows) error {
		var x instanceRow
		if err := rows.Scan(x.dest()...); err != nil {
			return err
		}
		s, err := x.summary()
		if err != nil {
			return err
		}
		got[x.id] = s
		return nil
	}
	// Each (id, version) may be stored twice until merged; LIMIT 1 BY
	// leaves one per id, so the answer has at most len(picks) rows.
	err = r.query(ctx, queryOpts{pointLookup: true, external: []*ext.Table{t}, maxRows: uint64(len(picks))}, "instance rows",
		"instance_rows_at.sql", dbData{r.db}, nil, scan)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, p := range picks {
		if _, ok := got[p.id]; !ok {
			missing = append(missing, p.id)
		}
	}
	if len(missing) > 0 {
		ids, err := idTable(missing)
		if err != nil {
			return nil, err
		}
		err = r.query(ctx, queryOpts{pointLookup: true, external: []*ext.Table{ids}, maxRows: uint64(len(missing))}, "newest instance rows",
			"instance_rows_newest.sql", dbData{r.db}, nil, scan)
		if err != nil {
			return nil, err
		}
	}
	for _, p := range picks {
		if s, ok := got[p.id]; ok {
			out = append(out, s)
		}
	}
	return out, nil
}
