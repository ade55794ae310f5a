package readmodel

import (
	"cmp"
	"context"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// An unfiltered page of GET /v1/instances (the first one, a deep one by
// cursor or offset) is the top of all instances in the list order (created_at
// desc, instance_id asc). The FINAL scan that deduplicates 1M instances is
// single-threaded on ClickHouse 18.16 (~90 ms); the top of the raw table —
// every stored version of every instance — is a parallel partial sort of two
// columns (~25 ms). topPicks answers from that top and falls back to the
// FINAL scan only when the top is inconclusive.
//
// Why it is exact: take the first m rows of all versions in the list order
// (after the cursor, if any); θ is the m-th. An instance none of whose rows
// is among them has every row, its newest included, after θ (a row equal to
// θ is a version of θ's own instance). So among instances whose newest row is
// at or before θ, ranking the candidates' newest rows ranks everything: if
// at least offset+limit+1 candidates have their newest row at or before θ
// (and after the cursor), those give the page. When fewer rows than m
// exist, the candidates are every instance.

// topFactor is how many raw rows per row needed the top reads: versions of
// one instance not yet merged take several rows of it.
const topFactor = 4

// topPicks returns the picks of an unfiltered page (ok=false: inconclusive,
// use the FINAL scan).
func (r *Reader) topPicks(ctx context.Context, f ListFilter) (picks []pick, ok bool, err error) {
	need := f.Offset + f.Limit + 1
	m := max(topFactor*need, 256)
	q := `SELECT instance_id, created_at_ms FROM {db}.instances`
	var args []any
	if f.After != nil {
		q += ` WHERE created_at_ms < ? OR (created_at_ms = ? AND instance_id > ?)`
		args = append(args, f.After.CreatedAtMs, f.After.CreatedAtMs, f.After.InstanceID)
	}
	q += ` ORDER BY created_at_ms DESC, instance_id ASC LIMIT ?`
	args = append(args, m)
	var top []pick
	err = r.query(ctx, queryOpts{maxRows: uint64(m)}, "list instances (top)", q, args, func(rows driver.Rows) error {
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
	seen := make(map[string]bool, len(top))
	var ids []string
	for _, p := range top {
		if !seen[p.id] {
			seen[p.id] = true
			ids = append(ids, p.id)
		}
	}
	newest, err := r.newestPicks(ctx, ids)
	if err != nil {
		return nil, false, err
	}
	cands := newest[:0]
	for _, p := range newest {
		if f.After != nil && listOrder(p, pick{id: f.After.InstanceID, created: f.After.CreatedAtMs}) <= 0 {
			continue // moved to or before the cursor since
		}
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

// listOrder compares picks in the list order: created_at desc, id asc.
func listOrder(a, b pick) int {
	if c := cmp.Compare(b.created, a.created); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// newestPicks reads the newest version (row_version, created_at) of each id.
func (r *Reader) newestPicks(ctx context.Context, ids []string) ([]pick, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	t, err := idTable(ids)
	if err != nil {
		return nil, err
	}
	out := make([]pick, 0, len(ids))
	err = r.query(ctx, queryOpts{pointLookup: true, external: []*ext.Table{t}, maxRows: uint64(len(ids))}, "newest instance versions",
		`SELECT instance_id, max(row_version), argMax(created_at_ms, row_version) FROM {db}.instances
		WHERE instance_id IN (SELECT id FROM _ids) GROUP BY instance_id`, nil, func(rows driver.Rows) error {
			var p pick
			if err := rows.Scan(&p.id, &p.version, &p.created); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	return out, err
}
