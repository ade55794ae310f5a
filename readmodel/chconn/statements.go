package chconn

import (
	"fmt"
	"io/fs"
	"strings"
	"text/template"
)

// Statements are the SQL statements of a package, one file each in its
// sql/ directory (embedded with //go:embed), rendered with text/template
// from typed data: the database name, shard ranges, which filters are
// present. Values never enter the text through the template; they are bound
// by name (clickhouse.Named, "@name" in the file), which clickhouse-go does
// on the client, so it works on servers without query parameters (18.16).
// A file may also hold {{define}} fragments that the others share.
type Statements struct{ t *template.Template }

// ParseStatements parses every sql/*.sql file of fsys. It fails on a
// template syntax error (a build defect, caught by the package's tests).
func ParseStatements(fsys fs.FS) (Statements, error) {
	t, err := template.New("").Option("missingkey=error").ParseFS(fsys, "sql/*.sql")
	if err != nil {
		return Statements{}, fmt.Errorf("parse SQL statements: %w", err)
	}
	return Statements{t}, nil
}

// MustParseStatements is ParseStatements for package-level variables.
func MustParseStatements(fsys fs.FS) Statements {
	s, err := ParseStatements(fsys)
	if err != nil {
		panic(err)
	}
	return s
}

// Render returns the statement of file name (e.g. "instance.sql") for data.
func (s Statements) Render(name string, data any) (string, error) {
	t := s.t.Lookup(name)
	if t == nil {
		return "", fmt.Errorf("SQL statement %s: no such file", name)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("SQL statement %s: %w", name, err)
	}
	return strings.TrimSpace(b.String()), nil
}

// Names lists the statement files (for tests that render every one).
func (s Statements) Names() []string {
	var out []string
	for _, t := range s.t.Templates() {
		if strings.HasSuffix(t.Name(), ".sql") {
			out = append(out, t.Name())
		}
	}
	return out
}
