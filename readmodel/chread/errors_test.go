package chread

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/readmodel/chconn"
)

func TestClassify(t *testing.T) {
	ex := func(code int32) error {
		return fmt.Errorf("list instances: %w", &clickhouse.Exception{Code: code, Message: "m"})
	}
	for _, c := range []struct {
		err         error
		unavailable bool
	}{
		{ex(159), true},  // TIMEOUT_EXCEEDED
		{ex(202), true},  // TOO_MANY_SIMULTANEOUS_QUERIES
		{ex(241), true},  // MEMORY_LIMIT_EXCEEDED
		{ex(210), true},  // NETWORK_ERROR
		{ex(60), true},   // UNKNOWN_TABLE: schema not applied yet
		{ex(47), false},  // UNKNOWN_IDENTIFIER
		{ex(62), false},  // SYNTAX_ERROR
		{ex(53), false},  // TYPE_MISMATCH
		{ex(396), false}, // TOO_MANY_ROWS_OR_BYTES: a result guard, not an outage
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{io.EOF, true},
		{context.DeadlineExceeded, true},
		{chconn.ErrNotConnected, true},
		{clickhouse.ErrAcquireConnTimeout, true},
		{clickhouse.ErrBindMixedParamsFormats, false},
	} {
		got := classify(c.err)
		if errors.Is(got, query.ErrUnavailable) != c.unavailable {
			t.Errorf("classify(%v): unavailable = %v, want %v", c.err, !c.unavailable, c.unavailable)
		}
		if !errors.Is(got, c.err) || got.Error() != c.err.Error() {
			t.Errorf("classify(%v) = %v: lost the cause or its text", c.err, got)
		}
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}
