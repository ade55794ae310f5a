package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/duroscope/duroscope/api"
)

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}

// table writes aligned columns. Cells are sanitized: a tab or newline inside
// a value would break the alignment of every following row.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if i > 0 {
			_, _ = io.WriteString(t.tw, "\t")
		}
		_, _ = io.WriteString(t.tw, cell(c))
	}
	_, _ = io.WriteString(t.tw, "\n")
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

var cellReplacer = strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`)

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return cellReplacer.Replace(s)
}

// kv is one "key: value" line of a details block.
type kv struct{ k, v string }

// printKV writes aligned "key:  value" lines.
func printKV(w io.Writer, rows []kv) error {
	t := newTable(w)
	for _, r := range rows {
		t.row(r.k+":", r.v)
	}
	return t.flush()
}

// section writes a blank line and a heading before a block.
func section(w io.Writer, title string) {
	fmt.Fprintf(w, "\n%s\n", title)
}

func fmtTime(t api.Time) string { return t.Format() }

func fmtOptTime(t *api.Time) string {
	if t == nil {
		return ""
	}
	return t.Format()
}

func fmtOptString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func fmtOptMs(ms *int64) string {
	if ms == nil {
		return ""
	}
	return fmtMs(*ms)
}

func fmtMs(ms int64) string { return strconv.FormatInt(ms, 10) + "ms" }

func fmtUint(n uint64) string { return strconv.FormatUint(n, 10) }

func fmtError(e *api.Error) string {
	if e == nil {
		return ""
	}
	s := e.Category + "/" + e.Kind + ": " + e.Message
	if e.Retryable {
		s += " (retryable)"
	}
	return s
}

// truncate shortens long free text (inputs, outputs) in tables.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// printAnyTable renders JSON of unknown shape (the planned report endpoint)
// as tables: an array of objects becomes one table whose columns are the
// keys in order of first appearance; an object's scalar members become
// "key: value" lines and its array members tables under a heading. Anything
// else is printed as indented JSON.
func printAnyTable(w io.Writer, raw []byte) error {
	v, err := decodeOrdered(raw)
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	switch x := v.(type) {
	case []any:
		if rows, ok := objectRows(x); ok {
			return printObjectRows(w, rows)
		}
	case object:
		var scalars []kv
		type block struct {
			name string
			rows []object
		}
		var blocks []block
		for _, m := range x {
			switch mv := m.v.(type) {
			case []any:
				if rows, ok := objectRows(mv); ok {
					blocks = append(blocks, block{name: m.k, rows: rows})
					continue
				}
				scalars = append(scalars, kv{m.k, compact(mv)})
			default:
				scalars = append(scalars, kv{m.k, compact(mv)})
			}
		}
		if len(scalars) > 0 {
			if err := printKV(w, scalars); err != nil {
				return err
			}
		}
		for i, b := range blocks {
			if i > 0 || len(scalars) > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "%s\n", strings.ToUpper(b.name))
			if err := printObjectRows(w, b.rows); err != nil {
				return err
			}
		}
		return nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// object is a JSON object with its member order kept.
type object []member

type member struct {
	k string
	v any
}

func objectRows(a []any) ([]object, bool) {
	if len(a) == 0 {
		return nil, false
	}
	rows := make([]object, 0, len(a))
	for _, e := range a {
		o, ok := e.(object)
		if !ok {
			return nil, false
		}
		rows = append(rows, o)
	}
	return rows, true
}

func printObjectRows(w io.Writer, rows []object) error {
	var cols []string
	idx := map[string]int{}
	for _, r := range rows {
		for _, m := range r {
			if _, ok := idx[m.k]; !ok {
				idx[m.k] = len(cols)
				cols = append(cols, m.k)
			}
		}
	}
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = strings.ToUpper(c)
	}
	t := newTable(w, header...)
	for _, r := range rows {
		cells := make([]string, len(cols))
		for _, m := range r {
			cells[idx[m.k]] = compact(m.v)
		}
		t.row(cells...)
	}
	return t.flush()
}

// compact renders a decoded value as one cell.
func compact(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	var b strings.Builder
	writeCompact(&b, v)
	return b.String()
}

func writeCompact(b *strings.Builder, v any) {
	switch x := v.(type) {
	case object:
		b.WriteByte('{')
		for i, m := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(m.k)
			b.Write(k)
			b.WriteByte(':')
			writeCompact(b, m.v)
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCompact(b, e)
		}
		b.WriteByte(']')
	case nil:
		b.WriteString("null")
	case json.Number:
		b.WriteString(x.String())
	default:
		j, _ := json.Marshal(x)
		b.Write(j)
	}
}

// decodeOrdered decodes JSON keeping object member order (encoding/json's
// maps lose it, and a report's columns should come in the server's order).
func decodeOrdered(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch d := tok.(type) {
	case json.Delim:
		switch d {
		case '{':
			var o object
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				o = append(o, member{k, v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			if o == nil {
				o = object{}
			}
			return o, nil
		case '[':
			a := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected %v", d)
	default:
		return tok, nil
	}
}
