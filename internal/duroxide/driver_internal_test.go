package duroxide

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db": "postgres://u:xxxxx@h:5432/db",
		"postgres://u@h:5432/db":        "postgres://u@h:5432/db",
		"sqlite:/tmp/x.db":              "sqlite:/tmp/x.db",
		"postgresql://u:p@ss@h/db?x=1":  "postgresql://u:xxxxx@h/db?x=1",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 5}
	b.Write([]byte("abc"))
	b.Write([]byte("defg"))
	if b.String() != "cdefg" {
		t.Fatalf("tail %q, want cdefg", b.String())
	}
}

func TestPruneOptionsNeedOne(t *testing.T) {
	if _, err := (PruneOptions{}).args(); err == nil {
		t.Fatal("empty PruneOptions accepted")
	}
	args, err := PruneOptions{KeepLast: 1, CompletedBefore: 42}.args()
	if err != nil || strings.Join(args, " ") != "--keep-last 1 --completed-before 42" {
		t.Fatalf("args %v, %v", args, err)
	}
}
