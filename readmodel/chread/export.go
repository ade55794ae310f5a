package chread

import (
	"context"
	"strings"

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
	inner, args, where, wargs := listConditions(f)
	q := `SELECT ` + instanceCols + ` FROM (
		SELECT ` + instanceCols + ` FROM {db}.instances FINAL`
	if len(inner) > 0 {
		q += " WHERE " + strings.Join(inner, " AND ")
	}
	q += ")"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at_ms DESC, instance_id ASC"
	args = append(args, wargs...)
	var x instanceRow
	return r.query(ctx, queryOpts{scan: true, export: true}, "export instances", q, args, func(rows driver.Rows) error {
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
