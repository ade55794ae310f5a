package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var (
	variableRe = regexp.MustCompile(`^DUROSCOPE_[A-Z0-9_]+=?$`)
	readmeRe   = regexp.MustCompile(`DUROSCOPE_[A-Z0-9_]+`)
)

// binaryVariables are the DUROSCOPE_* names spelled as string literals in
// the non-test Go files of every package a binary (./cmd/...) links
// (except internal/testenv):
// variables ("DUROSCOPE_STREAM") and variable prefixes of tool flags
// ("DUROSCOPE_GEN_"), with the file that spells each.
func binaryVariables(t *testing.T, root string) map[string]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{.ImportPath}}|{{.Dir}}|{{join .GoFiles ","}}{{end}}`, "./cmd/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	found := map[string]string{}
	fset := token.NewFileSet()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "|")
		if len(parts) != 3 || !strings.HasPrefix(parts[0], "github.com/duroscope/duroscope") || parts[2] == "" {
			continue
		}
		if parts[0] == "github.com/duroscope/duroscope/internal/testenv" {
			continue // the bench starts its embedded NATS with it; its variables configure the tests, not a binary
		}
		for _, name := range strings.Split(parts[2], ",") {
			path := filepath.Join(parts[1], name)
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				v, err := strconv.Unquote(lit.Value)
				if err == nil && variableRe.MatchString(v) {
					found[strings.TrimSuffix(v, "=")] = path
				}
				return true
			})
		}
	}
	return found
}

// TestREADMEDocumentsEveryVariable fails when a binary reads a DUROSCOPE_*
// variable that README.md's configuration table does not list, or the
// table lists one that no binary reads.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "\n## Configuration\n")
	if start < 0 {
		t.Fatal("README.md has no ## Configuration section")
	}
	table := text[start+1:]
	if end := strings.Index(table, "\n## "); end >= 0 {
		table = table[:end]
	}
	documented := map[string]bool{}
	for _, v := range readmeRe.FindAllString(table, -1) {
		documented[v] = true
	}

	read := binaryVariables(t, root)
	if len(read) < 20 {
		t.Fatalf("found only %d variables in the binaries: %v; the scan is broken", len(read), read)
	}
	var missing []string
	for v, file := range read {
		if !documented[v] {
			missing = append(missing, v+" (read in "+file+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("README.md's configuration table does not document %s", m)
	}
	for v := range documented {
		if !readOrDerived(read, v) {
			t.Errorf("README.md's configuration table documents %s, which no binary reads", v)
		}
	}
}

// readOrDerived: v is read, or derived from a read prefix of tool flags
// (the table's example DUROSCOPE_GEN_INSTANCES of "DUROSCOPE_GEN_").
func readOrDerived(read map[string]string, v string) bool {
	if _, ok := read[v]; ok {
		return true
	}
	for p := range read {
		if strings.HasSuffix(p, "_") && strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}
