package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/duroscope/duroscope/api"
)

// TestTree: the answer's shape (root_id, the instances root first) and 404
// for an unknown instance; parameters are refused.
func TestTree(t *testing.T) {
	m := newMem()
	m.add("root")
	for _, id := range []string{"b", "a"} {
		m.add(id)
		s := m.instances[id]
		parent := "root"
		s.ParentInstance = &parent
		m.instances[id] = s
	}
	h := testHandler(m, nil)

	rec := do(h, "GET", "/v1/instances/root/tree", nil)
	if rec.Code != 200 {
		t.Fatalf("tree = %d %s", rec.Code, rec.Body)
	}
	var got struct {
		RootID    string            `json:"root_id"`
		Instances []json.RawMessage `json:"instances"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, raw := range got.Instances {
		var s api.InstanceSummary
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.InstanceID)
	}
	if got.RootID != "root" || len(ids) != 3 || ids[0] != "root" || ids[1] != "a" || ids[2] != "b" {
		t.Errorf("tree = %s; want root_id root and instances root, a, b", rec.Body)
	}

	rec = do(h, "GET", "/v1/instances/nope/tree", nil)
	if rec.Code != 404 {
		t.Errorf("unknown instance: %d %s; want 404", rec.Code, rec.Body)
	}
}
