package chconn

import (
	"context"
	"errors"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// refusedCodes are ClickHouse server error codes that mean the server
// refused the data of an INSERT (a value it cannot store), not that it is
// unavailable, overloaded or misconfigured. ClickHouse 18.16 with this
// schema (plain String and integer columns, no constraints) produces none of
// them for a decodable event; newer servers can (constraints, string
// limits). Deliberately short: a misclassified outage would dead-letter
// good events, while a missing code only means retrying.
var refusedCodes = map[int32]bool{
	6:   true, // CANNOT_PARSE_TEXT
	27:  true, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
	41:  true, // CANNOT_PARSE_DATETIME
	53:  true, // TYPE_MISMATCH
	70:  true, // CANNOT_CONVERT_TYPE
	117: true, // INCORRECT_DATA
	131: true, // TOO_LARGE_STRING_SIZE
	321: true, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
	469: true, // VIOLATED_CONSTRAINT
}

// IsRefused reports whether err means that ClickHouse (or the driver, while
// encoding a value before anything is sent) refused the data of a write, as
// opposed to an outage or a defect: retrying the same rows cannot succeed.
func IsRefused(err error) bool {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return refusedCodes[ex.Code]
	}
	var conv *column.ColumnConverterError
	return errors.As(err, &conv)
}

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

// IsUnavailable reports whether err (of the connection or the server) means
// that ClickHouse is unreachable, overloaded or too slow now, rather than
// that the statement is wrong: a server error with one of unavailableCodes,
// no connection yet, a deadline or cancellation, or any error that does not
// come from the server (a dial, a reset connection, an EOF mid-answer: the
// server said nothing about the statement). Any other server error, and
// arguments the driver cannot send, are defects that retrying will not cure.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return unavailableCodes[ex.Code]
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, ErrNotConnected) {
		return true
	}
	var conv *column.ColumnConverterError
	return !errors.As(err, &conv) && !errors.Is(err, clickhouse.ErrBindMixedParamsFormats)
}
