package archtest

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/duroscope/duroscope"

// root is the module's directory, from this package's.
var root = filepath.Join("..", "..")

// pkg is one of the module's packages: its direct imports (non-test files:
// the rules are about what the program links, so a test may wire an adapter
// to the port it tests).
type pkg struct {
	path    string
	imports []string
}

func load(t *testing.T, path string) pkg {
	t.Helper()
	dir := filepath.Join(root, strings.TrimPrefix(strings.TrimPrefix(path, module), "/"))
	bp, err := build.ImportDir(dir, 0)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pkg{path: path, imports: bp.Imports}
}

// closure is path and every package of the module it imports, directly or
// not, with their direct imports.
func closure(t *testing.T, path string) []pkg {
	t.Helper()
	seen := map[string]bool{}
	var out []pkg
	var walk func(string)
	walk = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		pk := load(t, p)
		out = append(out, pk)
		for _, imp := range pk.imports {
			if ours(imp) {
				walk(imp)
			}
		}
	}
	walk(path)
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

func ours(p string) bool { return p == module || strings.HasPrefix(p, module+"/") }

func std(p string) bool { return !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") }

// under reports whether p is the package prefix (module-relative) or below it.
func under(p, prefix string) bool {
	full := module + "/" + prefix
	return p == full || strings.HasPrefix(p, full+"/")
}

// adapters are the packages that talk to a store or a stream, and the
// drivers they use.
var adapters = []string{"readmodel", "schema", "internal/projector", "internal/watermark", "internal/changes", "internal/testenv", "internal/natsembed"}

var drivers = []string{"github.com/ClickHouse/", "github.com/nats-io/", "github.com/jackc/", "github.com/lib/pq"}

func isAdapter(p string) bool {
	if slices.ContainsFunc(adapters, func(a string) bool { return under(p, a) }) {
		return true
	}
	return slices.ContainsFunc(drivers, func(d string) bool { return strings.HasPrefix(p, d) })
}

// ioStd are the standard packages that do I/O or read the clock.
var ioStd = []string{"net", "os", "io/ioutil", "io/fs", "database", "syscall", "log", "time", "crypto/rand", "math/rand", "embed"}

func isIOStd(p string) bool {
	return slices.ContainsFunc(ioStd, func(s string) bool { return p == s || strings.HasPrefix(p, s+"/") })
}

// TestProjectionIsPure: the pure core (projection, and the events it reads)
// imports no I/O, no clock and no randomness, and nothing of the module but
// events.
func TestProjectionIsPure(t *testing.T) {
	for _, p := range closure(t, module+"/projection") {
		for _, imp := range p.imports {
			switch {
			case std(imp) && isIOStd(imp):
				t.Errorf("%s imports %s: the pure core does no I/O and reads no clock", p.path, imp)
			case !std(imp) && !under(imp, "events") && !under(imp, "projection"):
				t.Errorf("%s imports %s: the pure core uses only the standard library and events", p.path, imp)
			}
		}
	}
}

// TestEventsImportsNothingOfOurs: events is the bottom layer.
func TestEventsImportsNothingOfOurs(t *testing.T) {
	for _, imp := range load(t, module+"/events").imports {
		if !std(imp) {
			t.Errorf("events imports %s: it is the bottom layer and imports only the standard library", imp)
		}
	}
}

// TestHTTPAPIUsesOnlyThePort: the HTTP layer reads through query.ReadModel
// and never reaches an adapter (readmodel above all) or a driver, directly
// or through another of our packages.
func TestHTTPAPIUsesOnlyThePort(t *testing.T) {
	for _, p := range closure(t, module+"/internal/httpapi") {
		if isAdapter(p.path) {
			t.Errorf("internal/httpapi depends on the adapter %s", p.path)
		}
		for _, imp := range p.imports {
			if isAdapter(imp) {
				t.Errorf("%s (used by internal/httpapi) imports the adapter %s", p.path, imp)
			}
		}
	}
}

// TestQueryPortImportsNoAdapter: the port (and its contract suite) knows no
// implementation: not readmodel, not the oracle, no driver.
func TestQueryPortImportsNoAdapter(t *testing.T) {
	for _, root := range []string{"internal/query", "internal/query/querytest"} {
		for _, p := range closure(t, module+"/"+root) {
			if isAdapter(p.path) || under(p.path, "internal/oracle") || under(p.path, "internal/httpapi") {
				t.Errorf("%s depends on %s", root, p.path)
			}
			for _, imp := range p.imports {
				if isAdapter(imp) {
					t.Errorf("%s (used by %s) imports the adapter %s", p.path, root, imp)
				}
			}
		}
	}
}

// TestOracleIsIndependent: the oracle shares no code with projection or
// readmodel (internal/oracle's TestIndependence, from the outside and
// transitively).
func TestOracleIsIndependent(t *testing.T) {
	allowed := []string{"events", "api", "internal/query", "internal/oracle"}
	for _, p := range closure(t, module+"/internal/oracle") {
		for _, imp := range p.imports {
			if !std(imp) && !slices.ContainsFunc(allowed, func(a string) bool { return under(imp, a) && !under(imp, "internal/query/querytest") }) {
				t.Errorf("%s imports %s: the oracle may use only the standard library, events, api and internal/query", p.path, imp)
			}
		}
	}
}

// TestReadModelDoesNotReachUp: the ClickHouse adapters (readmodel/...)
// implement the ports and know nothing of the HTTP layer, the projector or
// the oracle above them.
func TestReadModelDoesNotReachUp(t *testing.T) {
	for _, sub := range subPackages(t, "readmodel") {
		for _, p := range closure(t, sub) {
			for _, imp := range p.imports {
				if under(imp, "internal/httpapi") || under(imp, "internal/projector") || under(imp, "internal/oracle") {
					t.Errorf("%s imports %s: the read model is below the query side and the projector", p.path, imp)
				}
			}
		}
	}
}

// subPackages lists the packages at or below the module-relative dir.
func subPackages(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if _, err := build.ImportDir(path, 0); err == nil {
			rel, _ := filepath.Rel(root, path)
			out = append(out, module+"/"+filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRulesSeeTheTree guards the rules themselves: the closures are found
// (a rule over an empty set would always pass).
func TestRulesSeeTheTree(t *testing.T) {
	if n := len(closure(t, module+"/internal/httpapi")); n < 3 {
		t.Fatalf("httpapi's closure has %d packages; the walk is broken", n)
	}
	if !slices.ContainsFunc(closure(t, module+"/readmodel/chwrite"), func(p pkg) bool { return p.path == module+"/projection" }) {
		t.Fatal("readmodel/chwrite's closure lacks projection; the walk is broken")
	}
	if n := len(subPackages(t, "readmodel")); n < 4 {
		t.Fatalf("%d packages under readmodel; the walk is broken", n)
	}
	if !isAdapter(module+"/readmodel/chread") || !isAdapter("github.com/ClickHouse/clickhouse-go/v2") || isAdapter(module+"/internal/query") {
		t.Fatal("isAdapter misclassifies")
	}
}
