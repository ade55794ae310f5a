package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/duroscope/duroscope/internal/projector"
)

// TestClickHouseRefusalsReachTheProjector checks that the writes ClickHouse
// refused reach the projector as projector.ErrRefused (the port's
// contract), and nothing else does.
func TestClickHouseRefusalsReachTheProjector(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"constraint", fmt.Errorf("insert into x: %w", &clickhouse.Exception{Code: 469, Message: "Constraint violated"}), true},
		{"too large string", &clickhouse.Exception{Code: 131}, true},
		{"driver conversion", fmt.Errorf("column x: %w", &column.ColumnConverterError{Op: "Append", To: "String", From: "int"}), true},
		// Unavailability, overload and misconfiguration are retried, never
		// dead-lettered.
		{"connection refused", errors.New("dial tcp 127.0.0.1:9000: connect: connection refused"), false},
		{"timeout", context.DeadlineExceeded, false},
		{"memory limit", &clickhouse.Exception{Code: 241, Message: "Memory limit exceeded"}, false},
		{"too many parts", &clickhouse.Exception{Code: 252}, false},
		{"unknown table", &clickhouse.Exception{Code: 60}, false},
		{"readonly", &clickhouse.Exception{Code: 164}, false},
		{"wrong password", &clickhouse.Exception{Code: 193}, false},
	} {
		err := refusal(c.err)
		if got := errors.Is(err, projector.ErrRefused); got != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: refusal(err) = %v: wraps ErrRefused %v, want %v, and the error itself", c.name, err, got, c.want)
		}
	}
	if refusal(nil) != nil {
		t.Error("refusal(nil) is not nil")
	}
}
