package chread

import (
	"context"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/internal/query"
)

// StreamInstances calls emit with every instance matching f (its Limit,
// Offset and After are ignored), in the list order (created_at desc, then
// instance_id), for GET /v1/instances?format=csv|ndjson. Rows are streamed:
// ClickHouse sends small blocks (spilling its sort to disk when large) and
// only the block being read is held here, so memory stays flat whatever
// the number of rows. emit's error stops the stream and is returned.
func (r *Reader) StreamInstances(ctx context.Context, f query.ListFilter, emit func(api.InstanceSummary) error) error {
	f.After = nil
	data, args := r.listOf(r.retainList(f))
	o := r.scanOpts()
	o.export = true
	var x instanceRow
	return r.query(ctx, o, "export instances", "export_instances.sql", data, args, func(rows driver.Rows) error {
		if err := rows.Scan(x.dest()...); err != nil {
			return err
		}
		s, err := x.summary()
		if err != nil {
			return err
		}
		return emit(s)
	})
}
