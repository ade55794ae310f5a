// Package chcompat runs Duroscope's real ClickHouse code on an engine other
// than a ClickHouse server reached through clickhouse-go: Conn is a
// driver.Conn over anything that executes one SQL statement and answers in
// ClickHouse's Native format. Its use is the compatibility test (build tag
// chdb): the ClickHouse 26.5 engine embedded in-process by libchdb
// (chdb.go), on which schema.Apply, the Writer and every Reader method run
// unchanged and are compared with the same calls on the 18.16 server.
//
// What the driver would send as protocol data is turned into SQL:
//   - query arguments are bound client-side into the text (bind.go), as
//     clickhouse-go does over the native protocol;
//   - per-statement settings (chconn.SettingsFrom) become a SETTINGS
//     clause, so readonly=2, max_execution_time, force_primary_key, ... are
//     in force for that statement exactly;
//   - external tables (chconn.ExternalTablesFrom) become temporary tables
//     that live for the statement;
//   - a batch INSERT collects its rows in clickhouse-go's own column types and
//     is sent as INSERT ... VALUES with escaped literals.
//
// Results are decoded with clickhouse-go's own column decoders from the
// Native format, so Scan converts values exactly as the driver does.
//
// The package itself needs no cgo; only the libchdb engine and the test are
// behind the chdb build tag (scripts/test-chdb.sh).
package chcompat
