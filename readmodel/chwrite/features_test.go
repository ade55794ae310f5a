package chwrite

import (
	"testing"

	"github.com/duroscope/duroscope/readmodel/chconn"
)

// TestRecountSettingsByPath: the recount deduplicates partition by
// partition only on the parallel-final path (18.16 does not know the
// setting; the chDB compatibility test runs it on 26.5).
func TestRecountSettingsByPath(t *testing.T) {
	current := chconn.FeaturesOf(chconn.Version{Major: 26, Minor: 5})
	w := NewWriter(nil, WriterConfig{Database: "db", Features: &current})
	if got := w.recountSettings()["do_not_merge_across_partitions_select_final"]; got != 1 {
		t.Errorf("parallel-final: do_not_merge_across_partitions_select_final = %v, want 1", got)
	}
	w = NewWriter(nil, WriterConfig{Database: "db", Features: &chconn.Features{}})
	if s := w.recountSettings(); len(s) != 0 {
		t.Errorf("split-final: settings %v, want none", s)
	}
}
