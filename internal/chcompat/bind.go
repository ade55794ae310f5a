package chcompat

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// scanner walks SQL text and knows whether the current byte is plain text
// or inside a string literal, a quoted identifier or a comment.
type scanner struct {
	q     string
	i     int
	state byte // 0 plain, '\'', '"', '`', '-' line comment, '*' block comment
	depth int  // nesting of block comments
}

// plain reports whether the byte at s.i is plain SQL text (not quoted, not
// commented, and not the start of a quote or comment).
func (s *scanner) plain() bool {
	if s.state != 0 {
		return false
	}
	switch c := s.q[s.i]; c {
	case '\'', '"', '`':
		return false
	case '-':
		return !(s.i+1 < len(s.q) && s.q[s.i+1] == '-')
	case '/':
		return !(s.i+1 < len(s.q) && s.q[s.i+1] == '*')
	}
	return true
}

// step consumes the byte at s.i (two for escapes and comment delimiters).
func (s *scanner) step() {
	q, i := s.q, s.i
	next := func(b byte) bool { return i+1 < len(q) && q[i+1] == b }
	switch s.state {
	case 0:
		switch {
		case q[i] == '\'' || q[i] == '"' || q[i] == '`':
			s.state = q[i]
		case q[i] == '-' && next('-'), q[i] == '#':
			s.state = '-'
		case q[i] == '/' && next('*'):
			s.state, s.depth = '*', 1
			s.i++
		}
	case '\'', '"', '`':
		switch {
		case q[i] == '\\':
			s.i++ // the escaped byte
		case q[i] == s.state && next(s.state):
			s.i++ // doubled quote
		case q[i] == s.state:
			s.state = 0
		}
	case '-':
		if q[i] == '\n' {
			s.state = 0
		}
	case '*':
		switch {
		case q[i] == '/' && next('*'):
			s.depth++
			s.i++
		case q[i] == '*' && next('/'):
			s.depth--
			s.i++
			if s.depth == 0 {
				s.state = 0
			}
		}
	}
	s.i++
}

// bind replaces the placeholders of q that are plain SQL text (not in a
// literal, a quoted identifier or a comment) with the literals of args, as
// clickhouse-go binds client-side over the native protocol: "@name" when
// every argument is a clickhouse.Named value, "?" (in order) otherwise.
func bind(q string, args []any) (string, error) {
	if len(args) == 0 {
		return q, nil
	}
	named := map[string]any{}
	for _, a := range args {
		if nv, ok := a.(driver.NamedValue); ok {
			named[nv.Name] = nv.Value
		}
	}
	if len(named) > 0 && len(named) != len(args) {
		return "", fmt.Errorf("chcompat: bind: named and positional arguments mixed")
	}
	var b strings.Builder
	n := 0
	s := scanner{q: q}
	for s.i < len(q) {
		c := q[s.i]
		if (c == '?' && len(named) == 0 || c == '@' && len(named) > 0) && s.plain() {
			var v any
			if c == '?' {
				if n == len(args) {
					return "", fmt.Errorf("chcompat: bind: more placeholders than the %d arguments", len(args))
				}
				v = args[n]
				n++
				s.i++
			} else {
				end := s.i + 1
				for end < len(q) && isNameByte(q[end]) {
					end++
				}
				name := q[s.i+1 : end]
				var ok bool
				if v, ok = named[name]; !ok {
					return "", fmt.Errorf("chcompat: bind: no argument named %q", name)
				}
				s.i = end
			}
			lit, err := literal(v)
			if err != nil {
				return "", fmt.Errorf("chcompat: bind: %w", err)
			}
			b.WriteString(lit)
			continue
		}
		start := s.i
		s.step()
		b.WriteString(q[start:s.i])
	}
	if len(named) == 0 && n != len(args) {
		return "", fmt.Errorf("chcompat: bind: %d placeholders for %d arguments", n, len(args))
	}
	return b.String(), nil
}

func isNameByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// quoteReplacer escapes a string for a single-quoted ClickHouse literal.
var quoteReplacer = strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`)

func quote(s string) string { return "'" + quoteReplacer.Replace(s) + "'" }

// literal renders v as a ClickHouse SQL literal: the argument types
// Duroscope binds (strings, integers, GroupSet) and the Go values the
// driver's columns hold for the schema's types (nullable pointers, arrays,
// times).
func literal(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "NULL", nil
	case string:
		return quote(v), nil
	case []byte:
		if v == nil {
			return "NULL", nil
		}
		return quote(string(v)), nil
	case bool:
		if v {
			return "1", nil
		}
		return "0", nil
	case time.Time:
		return "toDateTime(" + strconv.FormatInt(v.Unix(), 10) + ")", nil
	case clickhouse.GroupSet:
		parts := make([]string, len(v.Value))
		for i, e := range v.Value {
			l, err := literal(e)
			if err != nil {
				return "", err
			}
			parts[i] = l
		}
		return "(" + strings.Join(parts, ", ") + ")", nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return "NULL", nil
		}
		return literal(rv.Elem().Interface())
	case reflect.String:
		return quote(rv.String()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		switch {
		case math.IsNaN(f):
			return "nan", nil
		case math.IsInf(f, 1):
			return "inf", nil
		case math.IsInf(f, -1):
			return "-inf", nil
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	case reflect.Slice, reflect.Array:
		parts := make([]string, rv.Len())
		for i := range parts {
			l, err := literal(rv.Index(i).Interface())
			if err != nil {
				return "", err
			}
			parts[i] = l
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	return "", fmt.Errorf("no literal for %T", v)
}

// writeValues writes rows 0..n-1 of cols as the tuples of a VALUES clause.
func writeValues(b *strings.Builder, cols []column.Interface, n int) error {
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, c := range cols {
			if j > 0 {
				b.WriteString(", ")
			}
			l, err := literal(c.Row(i, false))
			if err != nil {
				return fmt.Errorf("row %d, column %s: %w", i, c.Name(), err)
			}
			b.WriteString(l)
		}
		b.WriteByte(')')
	}
	return nil
}
