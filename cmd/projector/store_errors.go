package main

import (
	"errors"
	"net/url"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/duroscope/duroscope/internal/projector"
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

// rejectedByClickHouse is the projector's Config.Rejected: the store's own
// refusals, ClickHouse's data errors and the driver's conversion errors
// (raised while a value is appended, before anything is sent).
func rejectedByClickHouse(err error) bool {
	if errors.Is(err, projector.ErrRejected) {
		return true
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return refusedCodes[ex.Code]
	}
	var conv *column.ColumnConverterError
	return errors.As(err, &conv)
}

// redactURL hides credentials in NATS URLs (a comma-separated list) before
// they reach a log or an error message.
func redactURL(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable URL)"
			continue
		}
		if u.User != nil {
			u.User = url.User("REDACTED")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
