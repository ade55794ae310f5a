package chread

import (
	"context"
	"testing"

	"github.com/duroscope/duroscope/readmodel/chconn"
)

// TestPathSettings: on the parallel-final path the report scans (and only
// they) deduplicate partition by partition, and no scan is split however
// ScanShards is set; on split-final neither. Read through the settings seam.
func TestPathSettings(t *testing.T) {
	ctx := context.Background()
	// A connection that never connects: nothing here reaches a server.
	conn := chconn.OpenLazy(chconn.LazyConnConfig{Conn: chconn.ConnConfig{Addrs: []string{"127.0.0.1:1"}, Database: "db"}})
	defer conn.Close()
	for _, c := range []struct {
		f         chconn.Features
		partition bool
	}{
		{chconn.FeaturesOf(chconn.Version{Major: 18, Minor: 16}), false},
		{chconn.FeaturesOf(chconn.Version{Major: 26, Minor: 5}), true},
	} {
		r, err := NewReader(conn, ReaderConfig{Database: "db", ScanShards: 4, Features: &c.f})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := r.ctx(ctx, r.reportOpts(ctx))
		got := chconn.SettingsFrom(rctx)["do_not_merge_across_partitions_select_final"]
		cancel()
		if (got == 1) != c.partition {
			t.Errorf("%s: report scans carry do_not_merge_across_partitions_select_final = %v", c.f.Path(), got)
		}
		sctx, cancel := r.ctx(ctx, r.scanOpts())
		if _, ok := chconn.SettingsFrom(sctx)["do_not_merge_across_partitions_select_final"]; ok {
			t.Errorf("%s: instance scans carry do_not_merge_across_partitions_select_final", c.f.Path())
		}
		cancel()
		if c.f.ParallelFinal {
			if shards, args := r.scanShards(ctx); len(shards) != 1 || shards[0] != (shard{}) || len(args) != 0 {
				t.Errorf("parallel-final split a scan: %v", shards)
			}
		}
	}
}
