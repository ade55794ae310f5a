package readmodel

import (
	"context"
	"errors"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/duroscope/duroscope/internal/query"
)

// unavailableCodes are the ClickHouse server error codes that mean "not now"
// rather than "never": the server is overloaded, out of memory for the
// moment, too slow, cut off, or the query was killed. UNKNOWN_DATABASE and
// UNKNOWN_TABLE are here too: the projector creates the schema, and a query
// service started before it sees them until the first migration has run.
// Every other server error (UNKNOWN_IDENTIFIER, SYNTAX_ERROR, TYPE_MISMATCH,
// a result limit, ...) is a defect that retrying will not cure.
var unavailableCodes = map[int32]bool{
	60:  true, // UNKNOWN_TABLE
	81:  true, // UNKNOWN_DATABASE
	159: true, // TIMEOUT_EXCEEDED
	160: true, // TOO_SLOW
	201: true, // QUOTA_EXPIRED
	202: true, // TOO_MANY_SIMULTANEOUS_QUERIES
	203: true, // NO_FREE_CONNECTION
	209: true, // SOCKET_TIMEOUT
	210: true, // NETWORK_ERROR
	236: true, // ABORTED
	241: true, // MEMORY_LIMIT_EXCEEDED
	279: true, // ALL_CONNECTION_TRIES_FAILED
	394: true, // QUERY_WAS_CANCELLED
	439: true, // CANNOT_SCHEDULE_TASK
}

// classify sorts an error of the connection or the server into the port's
// classes (package query): query.ErrUnavailable for the store being
// unreachable, overloaded or too slow; the error as it is (a defect) for a
// query the server refuses on its merits or arguments the driver cannot
// send. An error that does not come from the server (a dial, a reset
// connection, an EOF mid-answer, no connection yet, a deadline) is an
// outage: the server said nothing about the query.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		if unavailableCodes[ex.Code] {
			return query.Unavailable(err)
		}
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, ErrNotConnected) {
		return query.Unavailable(err)
	}
	var conv *column.ColumnConverterError
	if errors.As(err, &conv) || errors.Is(err, clickhouse.ErrBindMixedParamsFormats) {
		return err
	}
	return query.Unavailable(err)
}
