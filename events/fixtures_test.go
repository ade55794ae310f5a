package events

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// fixtureDir holds the contract's sample histories.
const fixtureDir = "../../shared/contract/fixtures"

type fixtureLine struct {
	file string
	no   int
	raw  []byte
}

// fixtureLines returns every line of every fixtures/*.jsonl, failing the test
// if there are none (a missing contract must not make tests pass vacuously).
func fixtureLines(tb testing.TB) []fixtureLine {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		// Fall back to the absolute path in case the module is checked out elsewhere.
		files, _ = filepath.Glob("/work/shared/contract/fixtures/*.jsonl")
	}
	var out []fixtureLine
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), MaxPayload+1)
		for n := 1; sc.Scan(); n++ {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			out = append(out, fixtureLine{file: filepath.Base(f), no: n, raw: append([]byte(nil), sc.Bytes()...)})
		}
		if err := sc.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	if len(out) < 50 {
		tb.Fatalf("found only %d fixture lines in %s", len(out), fixtureDir)
	}
	return out
}
