// Package chconntest holds test helpers for the packages that run embedded
// SQL statements (readmodel/chread, readmodel/chwrite).
package chconntest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// CheckStatementsUsed keeps a package's sql/ and its code in step: every
// statement file among names is named by the package's Go code (the test's
// working directory), every sql/*.sql file is among names, and every
// statement name the code renders is a file. fragments.sql holds templates
// that statements include, so it is not named by the code.
func CheckStatementsUsed(t testing.TB, names []string) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var code strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code.Write(b)
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
		if n != "fragments.sql" && !strings.Contains(code.String(), `"`+n+`"`) {
			t.Errorf("sql/%s is not used by the package's code", n)
		}
	}
	sqlFiles, err := filepath.Glob("sql/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sqlFiles {
		if !have[filepath.Base(f)] {
			t.Errorf("%s is not parsed", f)
		}
	}
	for _, m := range stmtNameRe.FindAllStringSubmatch(code.String(), -1) {
		if !have[m[1]] {
			t.Errorf("the code renders %s, which sql/ does not have", m[1])
		}
	}
}

// stmtNameRe finds statement names in Go code.
var stmtNameRe = regexp.MustCompile(`"([a-z0-9_]+\.sql)"`)
