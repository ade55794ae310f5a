package schema

import (
	"bufio"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// The migration files are compiled into the binary so that a deployed
// projector never depends on files next to it.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered file of migrations/.
type migration struct {
	Version    int
	Name       string // file name without directory, e.g. 0001_init.sql
	Statements []statement
}

// statement is one SQL statement of a migration, with {db} still in it.
type statement struct {
	SQL string
	// Requires is the lowest server version the statement may run on; the
	// zero value means any server.
	Requires serverVersion
	// Line is the 1-based line where the statement's chunk starts, for errors.
	Line int
	// Step, when not "", makes this a Go step ("-- step: NAME") instead of
	// SQL: Apply runs Config.Steps[Step].
	Step string
}

var fileNameRe = regexp.MustCompile(`^([0-9]+)_[A-Za-z0-9_.-]+\.sql$`)

// requiresRe matches the per-statement version gate `-- requires: 20.1`.
var requiresRe = regexp.MustCompile(`^--\s*requires:\s*(\S+)\s*$`)

// stepNearMissRe matches what looks like a misspelled Go step ("step x",
// "Step: X"), which would otherwise silently be a comment.
var stepNearMissRe = regexp.MustCompile(`^step\s*:|^step\s+\S+$`)

// stepRe matches a Go step `-- step: reports_backfill`.
var stepRe = regexp.MustCompile(`^--\s*step:\s*([a-z0-9_]+)\s*$`)

// loadMigrations parses every embedded migration, ordered by version.
func loadMigrations() ([]migration, error) {
	return loadMigrationsFrom(migrationFiles, "migrations")
}

func loadMigrationsFrom(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := fileNameRe.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q: want <number>_<name>.sql", e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil || v <= 0 || v > 1<<31 {
			return nil, fmt.Errorf("migration file %q: version must be a positive number", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration files %q and %q have the same version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", e.Name(), err)
		}
		stmts, err := splitStatements(string(body))
		if err != nil {
			return nil, fmt.Errorf("migration %q: %w", e.Name(), err)
		}
		out = append(out, migration{Version: v, Name: e.Name(), Statements: stmts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// splitStatements cuts a migration file into statements.
//
// Rules (kept deliberately simple, so that a migration author can predict
// them without reading this code):
//   - A statement ends at a line whose last non-blank character is ';'.
//     A ';' elsewhere (inside a line, or followed by a comment) does not end
//     a statement.
//   - Lines whose first non-blank characters are "--" are comments: they are
//     removed from the statement text and never end a statement. A chunk
//     that is only comments and blank lines is ignored.
//   - A comment line "-- requires: MAJOR.MINOR" gates the statement that
//     follows it: the statement runs only on servers >= MAJOR.MINOR and is
//     skipped (and remembered as skipped) on older ones.
//   - A comment line "-- step: NAME" between statements is a Go step (see
//     the package comment); it cannot be gated.
//   - Text after the last ';' that is not only comments is a statement too.
func splitStatements(body string) ([]statement, error) {
	var (
		out       []statement
		sqlLines  []string
		requires  serverVersion
		haveReq   bool
		startLine int
		lineNo    int
	)
	flush := func() {
		text := strings.TrimSpace(strings.Join(sqlLines, "\n"))
		text = strings.TrimSpace(strings.TrimSuffix(text, ";"))
		if text != "" {
			out = append(out, statement{SQL: text, Requires: requires, Line: startLine})
			requires, haveReq = serverVersion{}, false
		}
		sqlLines = sqlLines[:0]
		startLine = 0
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			if m := stepRe.FindStringSubmatch(trimmed); m != nil {
				if haveReq || len(strings.TrimSpace(strings.Join(sqlLines, ""))) > 0 {
					return nil, fmt.Errorf("line %d: %q must stand between statements, ungated", lineNo, trimmed)
				}
				out = append(out, statement{Step: m[1], Line: lineNo})
				continue
			}
			if stepNearMissRe.MatchString(strings.ToLower(strings.TrimSpace(strings.TrimPrefix(trimmed, "--")))) {
				return nil, fmt.Errorf("line %d: %q: write a Go step as \"-- step: name\" (lower case, digits, _)", lineNo, trimmed)
			}
			if m := requiresRe.FindStringSubmatch(trimmed); m != nil {
				v, err := parseServerVersion(m[1])
				if err != nil {
					return nil, fmt.Errorf("line %d: %q: %w", lineNo, trimmed, err)
				}
				if haveReq || len(strings.TrimSpace(strings.Join(sqlLines, ""))) > 0 {
					return nil, fmt.Errorf("line %d: %q must come before its statement, once", lineNo, trimmed)
				}
				requires, haveReq = v, true
			} else if strings.HasPrefix(strings.ToLower(strings.TrimSpace(strings.TrimPrefix(trimmed, "--"))), "requires") {
				// A near miss ("-- requires 20.1", "-- Requires:20") would
				// silently run the statement everywhere; refuse it instead.
				return nil, fmt.Errorf("line %d: %q: write the gate as \"-- requires: MAJOR.MINOR\"", lineNo, trimmed)
			}
			continue
		}
		if trimmed == "" && len(sqlLines) == 0 {
			continue
		}
		if startLine == 0 {
			startLine = lineNo
		}
		sqlLines = append(sqlLines, line)
		if strings.HasSuffix(trimmed, ";") {
			flush()
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	flush()
	if haveReq {
		return nil, fmt.Errorf("a \"-- requires:\" line at the end of the file gates no statement")
	}
	return out, nil
}

// serverVersion is a ClickHouse (major, minor) version. The schema package
// keeps its own tiny copy instead of importing readmodel, which imports
// schema in its tests (and may in code): no import cycle is possible.
type serverVersion struct{ Major, Minor int }

func (v serverVersion) IsZero() bool { return v == serverVersion{} }

// AtLeast reports whether v >= o.
func (v serverVersion) AtLeast(o serverVersion) bool {
	return v.Major > o.Major || (v.Major == o.Major && v.Minor >= o.Minor)
}

func (v serverVersion) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// parseServerVersion accepts "20", "20.1" and the server's own form
// "18.16.1" / "21.8.10.19" (only major and minor matter).
func parseServerVersion(s string) (serverVersion, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) == 0 || parts[0] == "" {
		return serverVersion{}, fmt.Errorf("version %q: want MAJOR.MINOR", s)
	}
	var v serverVersion
	var err error
	if v.Major, err = strconv.Atoi(parts[0]); err != nil || v.Major < 0 {
		return serverVersion{}, fmt.Errorf("version %q: major is not a number", s)
	}
	if len(parts) > 1 {
		if v.Minor, err = strconv.Atoi(parts[1]); err != nil || v.Minor < 0 {
			return serverVersion{}, fmt.Errorf("version %q: minor is not a number", s)
		}
	}
	if v.IsZero() {
		return serverVersion{}, fmt.Errorf("version %q: 0.0 is not a ClickHouse version", s)
	}
	return v, nil
}
