package chcompat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/duroscope/duroscope/readmodel/chconn"
)

// Engine executes one SQL statement and returns its output in format (a
// ClickHouse output format name). A failed statement's error should be a
// *clickhouse.Exception where the engine reports a code (ParseException).
type Engine interface {
	Query(sql, format string) ([]byte, error)
	Close() error
}

// Conn is a driver.Conn over an Engine. Statements run one at a time (an
// embedded engine has one session, and external tables are session
// temporary tables). The methods Duroscope does not call (Select,
// ScanStruct, QueryFormat, InsertFormat, AsyncInsert) return an error.
type Conn struct {
	// driver.Conn is nil: embedding it keeps Conn a driver.Conn when the
	// driver adds methods (as the driver's documentation recommends).
	driver.Conn

	mu  sync.Mutex
	eng Engine
	// trace, when set, sees every statement before it runs.
	trace func(sql string)
}

// NewConn returns a Conn over eng; Close closes eng. trace, if not nil, is
// called with the text of every statement the engine runs (external table
// set-up included), one at a time, before it runs.
func NewConn(eng Engine, trace func(sql string)) *Conn { return &Conn{eng: eng, trace: trace} }

// run executes one statement with the lock held.
func (c *Conn) run(sql, format string) ([]byte, error) {
	if c.eng == nil {
		return nil, errors.New("chcompat: connection closed")
	}
	if c.trace != nil {
		c.trace(sql)
	}
	return c.eng.Query(sql, format)
}

// statement runs q (arguments bound, the context's settings and external
// tables applied) and returns its Native output.
func (c *Conn) statement(ctx context.Context, q string, args []any) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sql, err := bind(q, args)
	if err != nil {
		return nil, err
	}
	sql, err = withSettings(sql, chconn.SettingsFrom(ctx))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	drop, err := c.createExternal(chconn.ExternalTablesFrom(ctx))
	defer drop()
	if err != nil {
		return nil, err
	}
	return c.run(sql, "Native")
}

// createExternal materializes external tables as temporary tables of the
// session and returns the function that drops them again.
func (c *Conn) createExternal(tables []*ext.Table) (drop func(), err error) {
	var created []string
	drop = func() {
		for _, n := range created {
			// A failed drop leaves a table that the next statement's
			// CREATE then reports; nothing is lost by not returning it here.
			_, _ = c.run("DROP TEMPORARY TABLE IF EXISTS "+n, "Native")
		}
	}
	for _, t := range tables {
		if _, err := c.run("CREATE TEMPORARY TABLE "+t.Name()+" ("+t.Structure()+")", "Native"); err != nil {
			return drop, fmt.Errorf("external table %s: %w", t.Name(), err)
		}
		created = append(created, t.Name())
		b := t.Block()
		if b.Rows() == 0 {
			continue
		}
		var sb strings.Builder
		sb.WriteString("INSERT INTO " + t.Name() + " VALUES ")
		if err := writeValues(&sb, b.Columns, b.Rows()); err != nil {
			return drop, fmt.Errorf("external table %s: %w", t.Name(), err)
		}
		if _, err := c.run(sb.String(), "Native"); err != nil {
			return drop, fmt.Errorf("external table %s: %w", t.Name(), err)
		}
	}
	return drop, nil
}

// Query runs a statement and returns its rows.
func (c *Conn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	out, err := c.statement(ctx, query, args)
	if err != nil {
		return nil, err
	}
	return decodeRows(out)
}

// QueryRow runs a statement and returns its first row.
func (c *Conn) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	rows, err := c.Query(ctx, query, args...)
	if err != nil {
		return &row{err: err}
	}
	return &row{rows: rows.(*nativeRows)}
}

// Exec runs a statement and discards its output.
func (c *Conn) Exec(ctx context.Context, query string, args ...any) error {
	_, err := c.statement(ctx, query, args)
	return err
}

// Ping runs SELECT 1.
func (c *Conn) Ping(ctx context.Context) error { return c.Exec(ctx, "SELECT 1") }

// ServerVersion reports the engine's version() (Name "chDB").
func (c *Conn) ServerVersion() (*driver.ServerVersion, error) {
	var v string
	if err := c.QueryRow(context.Background(), "SELECT version()").Scan(&v); err != nil {
		return nil, err
	}
	sv := &driver.ServerVersion{Name: "chDB", DisplayName: "chDB " + v, Timezone: time.UTC}
	parts := strings.SplitN(v, ".", 4)
	for i, dst := range []*uint64{&sv.Version.Major, &sv.Version.Minor, &sv.Version.Patch} {
		if i < len(parts) {
			*dst, _ = strconv.ParseUint(parts[i], 10, 64)
		}
	}
	return sv, nil
}

// Contributors is empty.
func (c *Conn) Contributors() []string { return nil }

// Stats reports one connection.
func (c *Conn) Stats() driver.Stats {
	return driver.Stats{MaxOpenConns: 1, MaxIdleConns: 1, Open: 1, Idle: 1}
}

// Close closes the engine.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eng == nil {
		return nil
	}
	err := c.eng.Close()
	c.eng = nil
	return err
}

var errUnsupported = errors.New("chcompat: not supported (Duroscope does not use it)")

// Select is not used by Duroscope.
func (c *Conn) Select(context.Context, any, string, ...any) error { return errUnsupported }

// QueryFormat is not used by Duroscope.
func (c *Conn) QueryFormat(context.Context, string, string, ...any) (io.ReadCloser, error) {
	return nil, errUnsupported
}

// InsertFormat is not used by Duroscope.
func (c *Conn) InsertFormat(context.Context, string, string, io.Reader) error { return errUnsupported }

// AsyncInsert is not used by Duroscope.
func (c *Conn) AsyncInsert(context.Context, string, bool, ...any) error { return errUnsupported }

// exceptionRe matches the start of a ClickHouse error text.
var exceptionRe = regexp.MustCompile(`^Code: (\d+)\. (?:DB::Exception: )?`)

// ParseException turns an engine's error text into the *clickhouse.Exception
// the driver would return, so code that branches on the code (schema.Apply)
// behaves the same; text without a code becomes a plain error.
func ParseException(text string) error {
	m := exceptionRe.FindStringSubmatch(text)
	if m == nil {
		return errors.New(text)
	}
	code, err := strconv.ParseInt(m[1], 10, 32)
	if err != nil {
		return errors.New(text)
	}
	msg := strings.TrimSpace(text[len(m[0]):])
	return &clickhouse.Exception{Code: int32(code), Name: "DB::Exception", Message: msg}
}

// settingsClauseRe matches a SETTINGS clause that ends a statement.
var settingsClauseRe = regexp.MustCompile(`(?is)\bSETTINGS\s+([A-Za-z_][A-Za-z0-9_]*\s*=\s*[^(),=]+?(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*=\s*[^(),=]+?)*)\s*;?\s*$`)

// withSettings applies settings to the statement q as a SETTINGS clause
// (merged into one that already ends q; a setting q states itself wins, as
// a query's own SETTINGS override the driver's protocol-level ones).
func withSettings(q string, settings clickhouse.Settings) (string, error) {
	if len(settings) == 0 {
		return q, nil
	}
	q = strings.TrimRight(q, " \t\r\n;")
	own := map[string]bool{}
	loc := settingsClauseRe.FindStringSubmatchIndex(q)
	if loc != nil && topLevel(q, loc[0]) {
		for _, kv := range strings.Split(q[loc[2]:loc[3]], ",") {
			own[strings.ToLower(strings.TrimSpace(strings.SplitN(kv, "=", 2)[0]))] = true
		}
	} else {
		loc = nil
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		if !own[strings.ToLower(k)] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return q, nil
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v, err := settingLiteral(settings[k])
		if err != nil {
			return "", fmt.Errorf("setting %s: %w", k, err)
		}
		parts[i] = k + " = " + v
	}
	if loc != nil {
		return q + ", " + strings.Join(parts, ", "), nil
	}
	return q + "\nSETTINGS " + strings.Join(parts, ", "), nil
}

// topLevel reports whether position pos of q is outside every parenthesis,
// string literal and quoted identifier.
func topLevel(q string, pos int) bool {
	depth := 0
	s := scanner{q: q}
	for s.i < pos && s.i < len(q) {
		if s.plain() {
			switch q[s.i] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		s.step()
	}
	return depth == 0 && s.state == 0
}

// settingLiteral renders a setting value.
func settingLiteral(v any) (string, error) {
	switch v := v.(type) {
	case clickhouse.CustomSetting:
		return quote(v.Value), nil
	case bool:
		if v {
			return "1", nil
		}
		return "0", nil
	}
	return literal(v)
}

// row is driver.Row over the first row of a result.
type row struct {
	err  error
	rows *nativeRows
}

func (r *row) Err() error { return r.err }

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if !r.rows.Next() {
		return errNoRows
	}
	return r.rows.Scan(dest...)
}

func (r *row) ScanStruct(any) error { return errUnsupported }

// errNoRows is what the driver returns for a QueryRow without rows.
var errNoRows = sql.ErrNoRows

// decodeRows decodes a Native result.
func decodeRows(out []byte) (*nativeRows, error) {
	blocks, err := decodeNative(out)
	if err != nil {
		return nil, fmt.Errorf("chcompat: decode Native result: %w", err)
	}
	return &nativeRows{blocks: blocks, row: -1}, nil
}
