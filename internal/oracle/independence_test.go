package oracle

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestIndependence enforces the package's reason to exist: it may use the
// standard library, events, api and the query side's port (internal/query,
// for its parameter types), and nothing else of this module (above all not
// projection/ or readmodel/), so it cannot share their mistakes.
// internal/archtest holds the same kind of rule for every layer.
func TestIndependence(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("list package files: %v", err)
	}
	allowed := map[string]bool{
		"github.com/duroscope/duroscope/events":         true,
		"github.com/duroscope/duroscope/api":            true,
		"github.com/duroscope/duroscope/internal/query": true,
	}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			std := !strings.Contains(strings.SplitN(p, "/", 2)[0], ".")
			if !std && !allowed[p] {
				t.Errorf("%s imports %s: the oracle may only use the standard library, events, api and internal/query", f, p)
			}
		}
	}
}
