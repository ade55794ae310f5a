package chread

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// countData is count_instances.sql's template data: the list's filters and
// the column grouped by ("" = none).
type countData struct {
	listData
	Key string
}

// countColumns are the instances columns of each group_by.
var countColumns = map[query.CountGroupBy]string{
	query.GroupByStatus:        "status",
	query.GroupByOrchestration: "orchestration_name",
	query.GroupByVersion:       "orchestration_version",
}

// CountInstances answers GET /v1/instances/count: one FINAL scan of the
// columns the filters and the key need (the list's exactness: the newest
// version of every instance, deleted ones left out), split into the key
// ranges of scanShards so that each core counts one.
func (r *Reader) CountInstances(ctx context.Context, f query.ListFilter, groupBy query.CountGroupBy) (api.InstanceCount, error) {
	f.After = nil
	d, args := r.listOf(r.retainList(f))
	data := countData{listData: d}
	if groupBy != "" {
		col, ok := countColumns[groupBy]
		if !ok {
			return api.InstanceCount{}, fmt.Errorf("count instances: group_by %q: want one of %v", groupBy, query.CountGroupBys())
		}
		data.Key = col
	}
	var sargs []any
	data.Shards, sargs = r.scanShards(ctx)
	args = append(args, sargs...)
	out := api.InstanceCount{}
	if groupBy != "" {
		out.Groups = []api.CountGroup{}
	}
	err := r.query(ctx, r.scanOpts(), "count instances", "count_instances.sql", data, args, func(rows driver.Rows) error {
		var g api.CountGroup
		var n uint64
		if err := rows.Scan(&g.Key, &n); err != nil {
			return err
		}
		g.Count = int64(n)
		out.Count += g.Count
		if groupBy != "" {
			out.Groups = append(out.Groups, g)
		}
		return nil
	})
	if err != nil {
		return api.InstanceCount{}, err
	}
	return out, nil
}
