package chread

import (
	"context"
	"fmt"
	"strings"

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
	cat     uint8 // problems: 1 long-running, 2 stuck, 3 recent failure
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
	inner, args, where, wargs := listConditions(f)
	// Only the columns the active filters need are read, and the FINAL scan
	// is split into key-range shards (query_shards.go), each keeping its own
	// first offset+limit+1 rows in the list order; the outer query orders
	// their union and cuts the page.
	cols := "instance_id, row_version, created_at_ms"
	if len(f.Statuses) > 0 {
		cols += ", status"
	}
	if f.Orchestration != "" {
		cols += ", orchestration_name"
	}
	if f.ParentInstance != "" {
		cols += ", parent_instance"
	}
	branch := `SELECT instance_id, row_version, created_at_ms FROM (
		SELECT ` + cols + ` FROM {db}.instances FINAL WHERE {shardcond}`
	for _, c := range inner {
		branch += " AND " + c
	}
	branch += ")"
	if len(where) > 0 {
		branch += " WHERE " + strings.Join(where, " AND ")
	}
	branch += " ORDER BY created_at_ms DESC, instance_id ASC LIMIT ?"
	bargs := append([]any{shardArgs{}}, args...)
	bargs = append(bargs, wargs...)
	bargs = append(bargs, f.Offset+f.Limit+1)
	union, args := unionShards(shardsOf(r.shardBounds(ctx)), branch, bargs)
	q := `SELECT instance_id, row_version, created_at_ms FROM (` + union + `)
		ORDER BY created_at_ms DESC, instance_id ASC LIMIT ?, ?`
	args = append(args, f.Offset, f.Limit+1)

	err := r.query(ctx, queryOpts{scan: true}, "list instances", q, args, func(rows driver.Rows) error {
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

// listConditions turns f's filters (and After) into SQL conditions: inner
// ones on the key (instance_id), safe inside FINAL, and outer ones on every
// other column, applied after FINAL's deduplication. ListInstances and
// StreamInstances share them.
func listConditions(f query.ListFilter) (inner []string, args []any, where []string, wargs []any) {
	if f.InstancePrefix != "" {
		// instance_id is the key: filtering it inside FINAL is safe (every
		// version of a key has the same id) and uses the index.
		inner = append(inner, "instance_id >= ?", "startsWith(instance_id, ?)")
		args = append(args, f.InstancePrefix, f.InstancePrefix)
		if ub, ok := prefixUpperBound(f.InstancePrefix); ok {
			inner = append(inner, "instance_id < ?")
			args = append(args, ub)
		}
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, s := range f.Statuses {
			wargs = append(wargs, s)
		}
	}
	if f.Orchestration != "" {
		where = append(where, "orchestration_name = ?")
		wargs = append(wargs, f.Orchestration)
	}
	if f.CreatedAfter != nil {
		where = append(where, "created_at_ms >= ?")
		wargs = append(wargs, *f.CreatedAfter)
	}
	if f.CreatedBefore != nil {
		where = append(where, "created_at_ms < ?")
		wargs = append(wargs, *f.CreatedBefore)
	}
	if f.ParentInstance != "" {
		where = append(where, "parent_instance = ?")
		wargs = append(wargs, f.ParentInstance)
	}
	if f.After != nil {
		where = append(where, "(created_at_ms < ? OR (created_at_ms = ? AND instance_id > ?))")
		wargs = append(wargs, f.After.CreatedAtMs, f.After.CreatedAtMs, f.After.InstanceID)
	}
	return inner, args, where, wargs
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
		`SELECT `+instanceCols+` FROM {db}.instances
		WHERE (instance_id, row_version) IN (SELECT id, v FROM _picks)
		LIMIT 1 BY instance_id`, nil, scan)
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
			`SELECT `+instanceCols+` FROM {db}.instances
			WHERE instance_id IN (SELECT id FROM _ids)
			ORDER BY instance_id, row_version DESC LIMIT 1 BY instance_id`, nil, scan)
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
