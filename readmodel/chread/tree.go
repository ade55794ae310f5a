package chread

import (
	"context"
	"fmt"
	"sort"

	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/api"
)

// maxTreeDepth bounds the walk up to the root and the levels below it: a
// family deeper than this is cut there (Duroxide's sub-orchestrations nest
// a few levels; a longer chain is a defect or a hostile workload).
const maxTreeDepth = 1000

// Tree answers GET /v1/instances/{id}/tree: the root is found by point
// lookups following parent_instance up while the parent is live; the
// descendants level by level, one query per level over the live instances
// whose newest row names a parent of the level above (tree_children.sql).
func (r *Reader) Tree(ctx context.Context, id string) (api.InstanceTree, bool, error) {
	root, found, err := r.Instance(ctx, id)
	if err != nil || !found {
		return api.InstanceTree{}, false, err
	}
	seen := map[string]bool{root.InstanceID: true}
	for depth := 0; root.ParentInstance != nil && !seen[*root.ParentInstance] && depth < maxTreeDepth; depth++ {
		p, ok, err := r.Instance(ctx, *root.ParentInstance)
		if err != nil {
			return api.InstanceTree{}, false, err
		}
		if !ok {
			break
		}
		root = p
		seen[root.InstanceID] = true
	}
	inTree := map[string]bool{root.InstanceID: true}
	var rest []api.InstanceSummary
	level := []string{root.InstanceID}
	for depth := 0; len(level) > 0 && depth < maxTreeDepth; depth++ {
		children, err := r.children(ctx, level)
		if err != nil {
			return api.InstanceTree{}, false, err
		}
		level = level[:0:0]
		for _, c := range children {
			if inTree[c.InstanceID] {
				continue
			}
			inTree[c.InstanceID] = true
			rest = append(rest, c)
			level = append(level, c.InstanceID)
		}
	}
	sort.Slice(rest, func(i, j int) bool {
		if rest[i].CreatedAt != rest[j].CreatedAt {
			return rest[i].CreatedAt < rest[j].CreatedAt
		}
		return rest[i].InstanceID < rest[j].InstanceID
	})
	return api.InstanceTree{RootID: root.InstanceID, Instances: append([]api.InstanceSummary{root}, rest...)}, true, nil
}

// children returns the live instances whose parent is one of parents.
func (r *Reader) children(ctx context.Context, parents []string) ([]api.InstanceSummary, error) {
	t, err := idTable(parents)
	if err != nil {
		return nil, err
	}
	var out []api.InstanceSummary
	err = r.query(ctx, queryOpts{external: []*ext.Table{t}}, fmt.Sprintf("children of %d instances", len(parents)),
		"tree_children.sql", dbData{r.db}, nil, func(rows driver.Rows) error {
			var row instanceRow
			if err := rows.Scan(row.dest()...); err != nil {
				return err
			}
			if !r.retained(row.updated) {
				return nil
			}
			s, err := row.summary()
			if err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	return out, err
}
