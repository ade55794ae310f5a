package oracle

import (
	"testing"

	"github.com/duroscope/duroscope/events"
)

func TestTree(t *testing.T) {
	evs := []events.Event{
		ev("root", 1, 1, 100, events.TypeOrchestrationStarted, name("R")),
		ev("root::sub::2", 1, 1, 120, events.TypeOrchestrationStarted, name("C"), parent("root", 2)),
		ev("root::sub::3", 1, 1, 110, events.TypeOrchestrationStarted, name("C"), parent("root", 3)),
		ev("root::sub::2::sub::2", 1, 1, 130, events.TypeOrchestrationStarted, name("G"), parent("root::sub::2", 2)),
		ev("orphan", 1, 1, 140, events.TypeOrchestrationStarted, name("O"), parent("gone", 2)),
		ev("gone", 1, 1, 90, events.TypeOrchestrationStarted, name("G")),
		ev("other", 1, 1, 100, events.TypeOrchestrationStarted, name("R")),
	}
	o := New(evs, events.InstanceDeleted("gone", 95))
	for _, from := range []string{"root", "root::sub::2", "root::sub::2::sub::2"} {
		tr, ok := o.Tree(from)
		if !ok || tr.RootID != "root" {
			t.Fatalf("Tree(%s) = %+v, %v", from, tr, ok)
		}
		got := ids(tr.Instances)
		want := []string{"root", "root::sub::3", "root::sub::2", "root::sub::2::sub::2"}
		if len(got) != len(want) {
			t.Fatalf("Tree(%s) = %v, want %v", from, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("Tree(%s) = %v, want %v", from, got, want)
			}
		}
	}
	if tr, ok := o.Tree("orphan"); !ok || tr.RootID != "orphan" || len(tr.Instances) != 1 {
		t.Fatalf("a deleted parent is not followed: %+v", tr)
	}
	if _, ok := o.Tree("gone"); ok {
		t.Fatal("tree of a deleted instance found")
	}
}
