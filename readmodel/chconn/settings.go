package chconn

import (
	"context"
	"maps"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
)

// The settings seam. Every per-statement ClickHouse setting and external
// table of the read model is attached with WithSettings and
// WithExternalTables, never with clickhouse.Context directly: besides handing
// them to clickhouse-go, they keep a copy under a key of this package, so
// that a connection which is not clickhouse-go's (a test adapter over another
// engine, e.g. chDB) can read what the statement asked for with SettingsFrom
// and ExternalTablesFrom and apply it the same way.

// extrasKey is the context key of the statement's extras.
type extrasKey struct{}

// extras are the settings and external tables attached to a context.
type extras struct {
	settings clickhouse.Settings
	tables   []*ext.Table
}

func extrasOf(ctx context.Context) extras {
	e, _ := ctx.Value(extrasKey{}).(extras)
	return e
}

// with stores e in ctx, both for clickhouse-go and for SettingsFrom /
// ExternalTablesFrom. clickhouse.Context is given the complete set each
// time, so settings attached earlier in the chain are kept.
func with(ctx context.Context, e extras) context.Context {
	ctx = context.WithValue(ctx, extrasKey{}, e)
	opts := []clickhouse.QueryOption{clickhouse.WithSettings(maps.Clone(e.settings))}
	if len(e.tables) > 0 {
		opts = append(opts, clickhouse.WithExternalTable(e.tables...))
	}
	return clickhouse.Context(ctx, opts...)
}

// WithSettings returns ctx carrying settings for the statements run with it,
// added to (and overriding by name) any attached before.
func WithSettings(ctx context.Context, settings clickhouse.Settings) context.Context {
	e := extrasOf(ctx)
	merged := make(clickhouse.Settings, len(e.settings)+len(settings))
	maps.Copy(merged, e.settings)
	maps.Copy(merged, settings)
	e.settings = merged
	return with(ctx, e)
}

// WithExternalTables returns ctx carrying external tables (sent with the
// statement as data, e.g. a long id list) after any attached before.
func WithExternalTables(ctx context.Context, tables ...*ext.Table) context.Context {
	e := extrasOf(ctx)
	e.tables = append(append([]*ext.Table(nil), e.tables...), tables...)
	return with(ctx, e)
}

// SettingsFrom returns the settings attached to ctx by WithSettings (nil:
// none). The caller must not modify the map.
func SettingsFrom(ctx context.Context) clickhouse.Settings { return extrasOf(ctx).settings }

// ExternalTablesFrom returns the external tables attached to ctx by
// WithExternalTables (nil: none).
func ExternalTablesFrom(ctx context.Context) []*ext.Table { return extrasOf(ctx).tables }

// ClickHouse query priorities (setting "priority": 1 is the highest, 0
// means none). While a query of a higher priority runs, the server pauses
// lower-priority ones between blocks: row inserts and the query service's
// reads (what freshness and latency are measured on) run at PriorityRows,
// report recounts (long INSERT ... SELECT over whole hours, whose result
// may lag) at PriorityRecount, so a recount yields the CPU instead of
// delaying a batch.
const (
	PriorityRows    = 1
	PriorityRecount = 10
)
