package chread

import (
	"cmp"
	"context"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/internal/query"
)

// A page of GET /v1/instances (the first one, a deep one by cursor or
// offset) is the top, in the list order (created_at desc, instance_id asc),
// of the instances whose newest version passes the filters. The FINAL scan
// that deduplicates 1M instances is single-threaded on ClickHouse 18.16
// (~90 ms); the top of the raw table — every stored version of every
// instance — is a parallel partial sort of two columns (~25 ms). topPicks
// answers from that top and falls back to the FINAL scan only when the top is
// inconclusive. Every filter takes it, those on Nullable columns (parent,
// roots only, custom status, error) included: list_newest.sql reads their
// newest value through a tuple, which argMax does not skip when NULL.
//
// Why it is exact: the filters (and the cursor) are conditions on a row's own
// columns. Take the first m rows, in the list order, of all versions that
// pass them; θ is the m-th. An instance none of whose passing rows is among
// them has every passing row after θ, so its newest row, if it passes, is
// after θ (a row equal to θ is a version of θ's own instance). So among
// instances whose newest row passes and is at or before θ, ranking the
// candidates' newest rows ranks everything: if at least offset+limit+1
// candidates have a newest row that passes and is at or before θ, those give
// the page. When fewer than m rows pass, the candidates are every instance
// with a passing row.

// topFactor is how many raw rows per row needed the top reads: versions of
// one instance not yet merged take several rows of it.
const topFactor = 4

// topMaxNeed bounds offset+limit+1 for the top: a deep offset page (up to
// 101,001 rows) would pull topFactor times that many ids into the service
// and back as an external table, where the FINAL scan skips them in
// ClickHouse.
const topMaxNeed = 2500

// topPicks returns the picks of a page (ok=false: inconclusive or not
// taken, use the FINAL scan). Offsets deeper than topMaxNeed are not taken.
func (r *Reader) topPicks(ctx context.Context, f query.ListFilter) (picks []pick, ok bool, err error) {
	need := f.Offset + f.Limit + 1
	if need > topMaxNeed {
		return nil, false, nil
	}
	m := max(topFactor*need, 256)
	data, args := r.listOf(f)
	var top []pick
	err = r.query(ctx, queryOpts{maxRows: uint64(m)}, "list instances (top)", "list_top.sql", data,
		append(args, clickhouse.Named("top", m)), func(rows driver.Rows) error {
			var p pick
			if err := rows.Scan(&p.id, &p.created); err != nil {
				return err
			}
			top = append(top, p)
			return nil
		})
	if err != nil {
		return nil, false, err
	}
	complete := len(top) < m
	var theta pick
	if !complete {
		theta = top[len(top)-1]
	}
	ids := distinctIDs(len(top), func(i int) string { return top[i].id })
	// The candidates whose newest row passes the filters and the cursor.
	newest, err := r.newestPicks(ctx, ids, data, args)
	if err != nil {
		return nil, false, err
	}
	cands := newest[:0]
	for _, p := range newest {
		if !complete && listOrder(p, theta) > 0 {
			continue // moved after θ: ranked among the unseen
		}
		cands = append(cands, p)
	}
	if !complete && len(cands) < need {
		return nil, false, nil
	}
	slices.SortFunc(cands, listOrder)
	if f.Offset >= len(cands) {
		return []pick{}, true, nil
	}
	return cands[f.Offset:min(len(cands), need)], true, nil
}

// distinctIDs returns the ids of n rows (id(i) of row i), each once, in the
// order of their first row.
func distinctIDs(n int, id func(i int) string) []string {
	seen := make(map[string]bool, n)
	var ids []string
	for i := range n {
		if x := id(i); !seen[x] {
			seen[x] = true
			ids = append(ids, x)
		}
	}
	return ids
}

// listOrder compares picks in the list order: created_at desc, id asc.
func listOrder(a, b pick) int {
	if c := cmp.Compare(b.created, a.created); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// newestPicks reads the newest version (row_version, created_at) of each id
// whose newest row satisfies the outer list filters of data (on status,
// orchestration_name, orchestration_version, created_at_ms, updated_at_ms,
// instance_id and the Nullable parent_instance, custom_status and error).
func (r *Reader) newestPicks(ctx context.Context, ids []string, data listData, args []any) ([]pick, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	t, err := idTable(ids)
	if err != nil {
		return nil, err
	}
	out := make([]pick, 0, len(ids))
	// scan: the filters must stay outside the aggregation (no predicate
	// push-down).
	o := r.scanOpts()
	o.pointLookup, o.external = true, []*ext.Table{t}
	err = r.query(ctx, o, "newest instance versions", "list_newest.sql", data, args, func(rows driver.Rows) error {
		var p pick
		if err := rows.Scan(&p.id, &p.version, &p.created); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}
