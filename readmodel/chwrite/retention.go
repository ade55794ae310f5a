package chwrite

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// The retention (README "Retention"): whole months of rows leave the read
// model by ALTER TABLE ... DROP PARTITION (ClickHouse 18.16 has no TTL).

// Cutoffs say what DropExpired drops: the months that ended before each
// instant. A zero instant drops nothing of its kind.
type Cutoffs struct {
	// Management (DUROSCOPE_RETENTION) drops the instance tables' months
	// seen last before it (last_seen_ms, migration 0005), the history and
	// notices months that no kept instance has a row in, and the activity
	// stats facts scheduled before it (the stats are cut there).
	Management time.Time
	// Reports (DUROSCOPE_REPORT_RETENTION) drops the report facts and
	// cells of the buckets before it.
	Reports time.Time
}

// DroppedPartition is one month of one table that DropExpired dropped.
type DroppedPartition struct {
	Table string
	Month uint32 // YYYYMM, the partition
}

// The tables of each retention, by how their months are chosen.
var (
	// seenTables are partitioned by a time that only grows with the
	// instance's row versions (last_seen_ms) or that the answers never
	// read before the cutoff (activity stats facts: the stats' since is
	// cut there): every month before the cutoff's goes.
	seenTables = []string{"instances", "executions", "activities", "pending_work", "activity_stats_facts"}
	// eventTables are partitioned by the event's own time: a month goes
	// only when no kept instance has a row in it.
	eventTables = []string{"history_v3", "notices"}
	// reportRetentionTables are partitioned by the bucket (or hour) they count.
	reportRetentionTables = []string{"report_instance_facts_v3", "report_activity_facts_v3", "report_instance_cells", "report_activity_cells"}
)

// RetentionTables lists every table DropExpired may drop months of.
func RetentionTables() []string {
	var out []string
	for _, ts := range [][]string{seenTables, eventTables, reportRetentionTables} {
		out = append(out, ts...)
	}
	return out
}

// DropExpired drops every month the cutoffs no longer keep, history and
// notices first, and returns what it dropped. A month is dropped whole or
// not at all; the query side filters by the same retention, so answers
// never depend on when this runs (only the report retention is not
// filtered: a report over dropped months answers what is left). Running it
// again, or from two processes, is harmless.
func (w *Writer) DropExpired(ctx context.Context, c Cutoffs) ([]DroppedPartition, error) {
	var out []DroppedPartition
	if !c.Management.IsZero() {
		cutoff := c.Management.UnixMilli()
		month, err := w.monthOf(ctx, cutoff)
		if err != nil {
			return out, err
		}
		for _, t := range eventTables {
			kept, err := w.keptMonths(ctx, t, month, cutoff)
			if err != nil {
				return out, err
			}
			if out, err = w.dropBefore(ctx, out, t, month, kept); err != nil {
				return out, err
			}
		}
		for _, t := range seenTables {
			if out, err = w.dropBefore(ctx, out, t, month, nil); err != nil {
				return out, err
			}
		}
	}
	if !c.Reports.IsZero() {
		month, err := w.monthOf(ctx, c.Reports.UnixMilli())
		if err != nil {
			return out, err
		}
		for _, t := range reportRetentionTables {
			if out, err = w.dropBefore(ctx, out, t, month, nil); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// monthOf is the month (YYYYMM) of atMs as the server's partition keys
// compute it (in its time zone).
func (w *Writer) monthOf(ctx context.Context, atMs int64) (uint32, error) {
	q, err := statements.Render("retention_month.sql", dbData{w.db})
	if err != nil {
		return 0, err
	}
	var m uint32
	if err := w.conn.QueryRow(ctx, q, clickhouse.Named("at_ms", atMs)).Scan(&m); err != nil {
		return 0, fmt.Errorf("retention: month of %d: %w", atMs, err)
	}
	return m, nil
}

// keptMonths are the months before month of event table t that hold a row
// of an instance seen at or after cutoff (epoch ms). It reads t's
// instance_id and timestamp_ms columns, so it only runs when t has a month
// that could go.
func (w *Writer) keptMonths(ctx context.Context, t string, month uint32, cutoff int64) (map[uint32]bool, error) {
	parts, err := w.partitions(ctx, t)
	if err != nil {
		return nil, err
	}
	if !anyBefore(parts, month) {
		return nil, nil
	}
	q, err := statements.Render("retention_kept_months.sql", struct{ DB, Table string }{w.db, t})
	if err != nil {
		return nil, err
	}
	rows, err := w.conn.Query(ctx, q, clickhouse.Named("month", month), clickhouse.Named("cutoff", cutoff))
	if err != nil {
		return nil, fmt.Errorf("retention: months of %s.%s still kept: %w", w.db, t, err)
	}
	defer rows.Close()
	kept := map[uint32]bool{}
	for rows.Next() {
		var m uint32
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("retention: months of %s.%s still kept: %w", w.db, t, err)
		}
		kept[m] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("retention: months of %s.%s still kept: %w", w.db, t, err)
	}
	return kept, nil
}

// dropBefore drops every month of t before month except those in keep,
// appending them to out.
func (w *Writer) dropBefore(ctx context.Context, out []DroppedPartition, t string, month uint32, keep map[uint32]bool) ([]DroppedPartition, error) {
	parts, err := w.partitions(ctx, t)
	if err != nil {
		return out, err
	}
	for _, p := range parts {
		if p >= month || keep[p] {
			continue
		}
		q, err := statements.Render("drop_partition.sql", struct {
			DB, Table string
			Partition uint32
		}{w.db, t, p})
		if err != nil {
			return out, err
		}
		if err := w.conn.Exec(ctx, q); err != nil {
			return out, fmt.Errorf("retention: drop month %d of %s.%s: %w", p, w.db, t, err)
		}
		out = append(out, DroppedPartition{Table: t, Month: p})
	}
	return out, nil
}

// partitions lists the months of t that hold data. A partition that is not
// a month (the single partition of a table that is not partitioned) is
// never listed, so it is never dropped.
func (w *Writer) partitions(ctx context.Context, t string) ([]uint32, error) {
	q, err := statements.Render("retention_partitions.sql", dbData{w.db})
	if err != nil {
		return nil, err
	}
	rows, err := w.conn.Query(ctx, q, clickhouse.Named("db", w.db), clickhouse.Named("table", t))
	if err != nil {
		return nil, fmt.Errorf("retention: partitions of %s.%s: %w", w.db, t, err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("retention: partitions of %s.%s: %w", w.db, t, err)
		}
		if m, err := strconv.ParseUint(p, 10, 32); err == nil && m >= 100001 && m%100 >= 1 && m%100 <= 12 {
			out = append(out, uint32(m))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("retention: partitions of %s.%s: %w", w.db, t, err)
	}
	return out, nil
}

func anyBefore(months []uint32, month uint32) bool {
	for _, m := range months {
		if m < month {
			return true
		}
	}
	return false
}

// partitionedTables are the tables migration 0005 re-creates partitioned.
var partitionedTables = []string{"instances", "executions", "activities", "pending_work", "history_v3", "notices"}

// PartitionTables is migration 0005's Go step: for each table it re-created
// partitioned as <name>_p and filled, the copy takes the name and the old
// table becomes <name>_unpartitioned. A table already partitioned (the
// migration ran again after its swap) keeps its place, and the copy the
// re-run made is dropped. Two projectors running it at once: the second
// RENAME fails (its target exists) and that projector stops with the
// error; restarted, it finds the swap done.
func (w *Writer) PartitionTables(ctx context.Context) error {
	for _, t := range partitionedTables {
		q, err := statements.Render("table_partition_key.sql", dbData{w.db})
		if err != nil {
			return err
		}
		var key string
		if err := w.conn.QueryRow(ctx, q, clickhouse.Named("db", w.db), clickhouse.Named("table", t)).Scan(&key); err != nil {
			return fmt.Errorf("partition key of %s.%s: %w", w.db, t, err)
		}
		stmt := "swap_partitioned.sql"
		if key != "" {
			stmt = "drop_partitioned_copy.sql"
		}
		if q, err = statements.Render(stmt, struct{ DB, Table string }{w.db, t}); err != nil {
			return err
		}
		if err := w.conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("partition %s.%s: %w", w.db, t, err)
		}
	}
	return nil
}
