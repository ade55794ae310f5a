package chread

import (
	"cmp"
	"context"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The lists of GET /v1/problems are, per category, the first limit
// instances in the order updated_at desc, instance_id asc whose newest
// version is in that category. The FINAL scan categorizes every instance;
// problemsTop answers from the top of the raw table instead, as topPicks
// does for list pages (list_top.go), by the same argument: a category is a
// condition on a row's own columns, so take the first m stored versions of
// category c in its order, θ the m-th; an instance none of whose rows of
// category c is among them has its newest row, if of category c, after θ.
// So the instances whose newest row is of category c and at or before θ,
// ranked by that row, rank all of them; if at least limit are, they are the
// list. Fewer than m rows of category c: every instance with such a row is
// a candidate.

// problemPick is one instances row of the top: its id, updated_at and
// category.
type problemPick struct {
	pick
	updated int64
}

// problemOrder compares rows in a category's order: updated_at desc, id asc.
func problemOrder(a, b problemPick) int {
	if c := cmp.Compare(b.updated, a.updated); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// problemsTop returns the picks of every category (ok=false: some category
// is inconclusive, use the FINAL scan). args bind the category cutoffs;
// with retain, an instance updated before from is in no category (the
// retention: retention.go).
func (r *Reader) problemsTop(ctx context.Context, limit int, args []any, from int64, retain bool) (picks []pick, ok bool, err error) {
	m := max(topFactor*(limit+1), 256)
	if limit+1 > topMaxNeed {
		return nil, false, nil
	}
	data := scanData{DB: r.db, Retain: retain}
	if retain {
		args = append(slices.Clip(args), clickhouse.Named("retain_from", from))
	}
	var top []problemPick
	err = r.query(ctx, queryOpts{maxRows: uint64(3 * m)}, "problems (top)", "problems_top.sql", data,
		append(slices.Clip(args), clickhouse.Named("top", m)), func(rows driver.Rows) error {
			var p problemPick
			if err := rows.Scan(&p.id, &p.updated, &p.cat); err != nil {
				return err
			}
			top = append(top, p)
			return nil
		})
	if err != nil {
		return nil, false, err
	}
	var theta [4]*problemPick // per category; nil = fewer than m rows (complete)
	var n [4]int
	for i := range top {
		p := &top[i]
		if n[p.cat]++; n[p.cat] == m {
			theta[p.cat] = p
		}
	}
	ids := distinctIDs(len(top), func(i int) string { return top[i].id })
	newest, err := r.problemsNewest(ctx, ids, data, args)
	if err != nil {
		return nil, false, err
	}
	var byCat [4][]problemPick
	for _, p := range newest {
		if t := theta[p.cat]; t != nil && problemOrder(p, *t) > 0 {
			continue // after θ: ranked among the unseen
		}
		byCat[p.cat] = append(byCat[p.cat], p)
	}
	for c := uint8(1); c <= 3; c++ {
		cands := byCat[c]
		if theta[c] != nil && len(cands) < limit {
			return nil, false, nil
		}
		slices.SortFunc(cands, problemOrder)
		for _, p := range cands[:min(len(cands), limit)] {
			picks = append(picks, p.pick)
		}
	}
	return picks, true, nil
}

// problemsNewest reads the newest version of each id and its category,
// leaving out tombstones and instances in no category.
func (r *Reader) problemsNewest(ctx context.Context, ids []string, data scanData, args []any) ([]problemPick, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	t, err := idTable(ids)
	if err != nil {
		return nil, err
	}
	o := r.scanOpts()
	o.pointLookup, o.external = true, []*ext.Table{t}
	var out []problemPick
	err = r.query(ctx, o, "problems (newest versions)", "problems_newest.sql", data, args, func(rows driver.Rows) error {
		var p problemPick
		if err := rows.Scan(&p.id, &p.version, &p.created, &p.updated, &p.cat); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}
