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

func TestRejectedByClickHouse(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"store refusal", fmt.Errorf("insert: %w", projector.ErrRejected), true},
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
		if got := rejectedByClickHouse(c.err); got != c.want {
			t.Errorf("%s: rejected = %v, want %v", c.name, got, c.want)
		}
	}
}
