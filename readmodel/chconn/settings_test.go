package chconn

import (
	"context"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
)

func TestSettingsSeamAccumulates(t *testing.T) {
	ctx := context.Background()
	if SettingsFrom(ctx) != nil || ExternalTablesFrom(ctx) != nil {
		t.Fatal("a bare context carries extras")
	}
	a, err := ext.NewTable("_a", ext.Column("id", "String"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ext.NewTable("_b", ext.Column("id", "String"))
	if err != nil {
		t.Fatal(err)
	}
	c1 := WithSettings(ctx, clickhouse.Settings{"priority": 1, "readonly": 2})
	c2 := WithExternalTables(c1, a)
	c3 := WithSettings(c2, clickhouse.Settings{"priority": 10})
	c4 := WithExternalTables(c3, b)
	s := SettingsFrom(c4)
	if len(s) != 2 || s["priority"] != 10 || s["readonly"] != 2 {
		t.Errorf("settings = %v, want priority 10 (the later one) and readonly 2", s)
	}
	if ts := ExternalTablesFrom(c4); len(ts) != 2 || ts[0] != a || ts[1] != b {
		t.Errorf("external tables = %v, want _a then _b", ts)
	}
	// Earlier contexts are unchanged.
	if SettingsFrom(c1)["priority"] != 1 || len(ExternalTablesFrom(c1)) != 0 || len(ExternalTablesFrom(c3)) != 1 {
		t.Error("attaching extras changed a parent context")
	}
}
