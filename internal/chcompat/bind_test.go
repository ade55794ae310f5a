package chcompat

import (
	"errors"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func TestBind(t *testing.T) {
	s := "it's"
	for _, c := range []struct {
		q    string
		args []any
		want string
	}{
		{"SELECT ?", []any{"a'b\\c\x00"}, `SELECT 'a\'b\\c\0'`},
		{"x = ? AND y IN ?", []any{int64(-3), clickhouse.GroupSet{Value: []any{"a", uint32(7)}}}, "x = -3 AND y IN ('a', 7)"},
		{"a = ? -- ?\n AND b = '?' AND c = `?` /* ? /* ? */ ? */ AND d = ?", []any{1, 2},
			"a = 1 -- ?\n AND b = '?' AND c = `?` /* ? /* ? */ ? */ AND d = 2"},
		{"s = 'x\\'?' AND t = ?", []any{&s}, `s = 'x\'?' AND t = 'it\'s'`},
		{"n = ?", []any{(*string)(nil)}, "n = NULL"},
		{"arr = ?", []any{[]int32{1, -2}}, "arr = [1, -2]"},
	} {
		got, err := bind(c.q, c.args)
		if err != nil || got != c.want {
			t.Errorf("bind(%q, %v) = %q, %v; want %q", c.q, c.args, got, err, c.want)
		}
	}
	named := []any{clickhouse.Named("id", "a'b"), clickhouse.Named("ids", clickhouse.GroupSet{Value: []any{"x", "y"}})}
	got, err := bind("id = @id AND x IN @ids AND s = '@id' -- @id\n AND e = 'a@b'", named)
	if want := `id = 'a\'b' AND x IN ('x', 'y') AND s = '@id' -- @id` + "\n AND e = 'a@b'"; err != nil || got != want {
		t.Errorf("bind(named) = %q, %v; want %q", got, err, want)
	}
	if _, err := bind("@nope", named); err == nil {
		t.Error("bind of an unknown name succeeded")
	}
	if _, err := bind("? @id", []any{1, clickhouse.Named("id", 2)}); err == nil {
		t.Error("bind of mixed arguments succeeded")
	}
	if _, err := bind("? ?", []any{1}); err == nil {
		t.Error("bind with too few arguments succeeded")
	}
	if _, err := bind("?", []any{1, 2}); err == nil {
		t.Error("bind with too many arguments succeeded")
	}
	if _, err := bind("?", []any{map[string]int{}}); err == nil {
		t.Error("bind of a map succeeded")
	}
}

func TestWithSettings(t *testing.T) {
	for _, c := range []struct {
		q    string
		s    clickhouse.Settings
		want string
	}{
		{"SELECT 1", nil, "SELECT 1"},
		{"SELECT 1;\n", clickhouse.Settings{"readonly": 2, "max_execution_time": 10},
			"SELECT 1\nSETTINGS max_execution_time = 10, readonly = 2"},
		// A statement's own trailing SETTINGS clause is extended, and its
		// own values win.
		{"INSERT INTO t SELECT x FROM (SELECT 1 AS x SETTINGS max_threads = 1) GROUP BY x\nSETTINGS enable_optimize_predicate_expression = 0",
			clickhouse.Settings{"priority": 10, "enable_optimize_predicate_expression": 1},
			"INSERT INTO t SELECT x FROM (SELECT 1 AS x SETTINGS max_threads = 1) GROUP BY x\nSETTINGS enable_optimize_predicate_expression = 0, priority = 10"},
		// A SETTINGS clause inside a subquery is not the statement's.
		{"SELECT * FROM (SELECT 1 SETTINGS max_threads = 1)", clickhouse.Settings{"readonly": 2},
			"SELECT * FROM (SELECT 1 SETTINGS max_threads = 1)\nSETTINGS readonly = 2"},
		{"SELECT 'SETTINGS a = 1'", clickhouse.Settings{"x": clickhouse.CustomSetting{Value: "v"}},
			"SELECT 'SETTINGS a = 1'\nSETTINGS x = 'v'"},
	} {
		got, err := withSettings(c.q, c.s)
		if err != nil || got != c.want {
			t.Errorf("withSettings(%q, %v) =\n%q, %v; want\n%q", c.q, c.s, got, err, c.want)
		}
	}
}

func TestParseException(t *testing.T) {
	err := ParseException("Code: 57. DB::Exception: Table d.t already exists. (TABLE_ALREADY_EXISTS)")
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) || ex.Code != 57 || ex.Message != "Table d.t already exists. (TABLE_ALREADY_EXISTS)" {
		t.Errorf("ParseException = %#v", err)
	}
	if err := ParseException("connection lost"); errors.As(err, &ex) || err.Error() != "connection lost" {
		t.Errorf("ParseException(no code) = %#v", err)
	}
}
