package chread

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Scans over every instance (the stats, health, problems and queues
// queries) read a table FINAL. On ClickHouse 18.16 a FINAL read is one
// merging stream, so the whole deduplication and the aggregation above it
// run on one core however many the server has. A scan is therefore split
// into shards, ranges of instance_id, each read FINAL in its own UNION ALL
// branch (the server runs the branches in parallel) and aggregated there;
// the outer query combines the branches' partial results (sums, and -State
// / -Merge for exact quantiles, whose merge is exact). Restricting FINAL to
// a key range is safe: every version of a row has the same instance_id, and
// every derived table's key starts with it.
//
// The shard boundaries are sampled from the instances table and refreshed
// now and then. They need not be current or even: any boundaries cover the
// key space exactly once (the first shard is unbounded below, the last
// above), so they only affect how evenly the work is spread, never the
// answer.

// shardOpts are the sharding knobs (tests lower minRows to exercise the
// sharded queries on small tables).
type shardOpts struct {
	// minRows is the instance count below which a scan is not split.
	minRows int
	// refresh is how long sampled boundaries are used.
	refresh time.Duration
	// maxShards caps the branches of one scan.
	maxShards int
	// fixed, when > 0, is the shard count instead of the server's threads.
	fixed int
}

var defaultShardOpts = shardOpts{minRows: 50_000, refresh: time.Minute, maxShards: 8}

// shardSampleMod samples one instance id in shardSampleMod (by hash).
const shardSampleMod = 64

type shardCache struct {
	mu         sync.Mutex
	bounds     []string
	expires    time.Time
	refreshing bool
}

// shardBounds returns the sorted inner boundaries of the current shards
// (none: do not split; always so unless ReaderConfig.ScanShards asks). A caller that finds them stale refreshes them while
// the others go on with the old ones; a failed refresh means no split.
func (r *Reader) shardBounds(ctx context.Context) []string {
	if r.shardOpts.minRows == math.MaxInt {
		return nil
	}
	c := &r.shards
	c.mu.Lock()
	if time.Now().Before(c.expires) || c.refreshing {
		b := c.bounds
		c.mu.Unlock()
		return b
	}
	c.refreshing = true
	c.mu.Unlock()

	b, err := r.sampleBounds(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	if err != nil {
		// Retry soon rather than at every query.
		c.bounds, c.expires = nil, time.Now().Add(5*time.Second)
		return nil
	}
	c.bounds, c.expires = b, time.Now().Add(r.shardOpts.refresh)
	return b
}

// sampleBounds picks boundaries that split the instances into about equal
// shards, one per server thread (the server's max_threads), at most
// maxShards.
func (r *Reader) sampleBounds(ctx context.Context) ([]string, error) {
	var setting string
	err := r.query(ctx, queryOpts{}, "server threads",
		`SELECT value FROM system.settings WHERE name = 'max_threads'`, nil,
		func(rows driver.Rows) error { return rows.Scan(&setting) })
	if err != nil {
		return nil, err
	}
	threads, err := parseMaxThreads(setting)
	if err != nil {
		return nil, err
	}
	var sample []string
	err = r.query(ctx, queryOpts{}, "shard boundaries",
		`SELECT DISTINCT instance_id FROM {db}.instances WHERE cityHash64(instance_id) % ? = 0`,
		[]any{shardSampleMod}, func(rows driver.Rows) error {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			sample = append(sample, id)
			return nil
		})
	if err != nil {
		return nil, err
	}
	n := min(int(threads), r.shardOpts.maxShards)
	if r.shardOpts.fixed > 0 {
		n = r.shardOpts.fixed
	}
	if n < 2 || len(sample)*shardSampleMod < r.shardOpts.minRows {
		return nil, nil
	}
	slices.Sort(sample)
	bounds := make([]string, 0, n-1)
	for i := 1; i < n; i++ {
		b := sample[i*len(sample)/n]
		if len(bounds) == 0 || b > bounds[len(bounds)-1] {
			bounds = append(bounds, b)
		}
	}
	return bounds, nil
}

// parseMaxThreads reads system.settings' max_threads: a number on 18.16
// ("8"), "auto(N)" on current servers when it is left to the server, and
// on some versions a quoted "'auto(N)'".
func parseMaxThreads(v string) (uint64, error) {
	s := strings.Trim(strings.TrimSpace(v), "'")
	if inner, ok := strings.CutPrefix(s, "auto("); ok {
		s, ok = strings.CutSuffix(inner, ")")
		if !ok {
			return 0, fmt.Errorf("max_threads %q: want a number or auto(N)", v)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("max_threads %q: want a number or auto(N)", v)
	}
	return n, nil
}

// shard is one branch's key range: its condition on instance_id ("" =
// all) and the condition's arguments.
type shard struct {
	cond string
	args []any
}

// shardsOf turns boundaries into the shards' key conditions; no
// boundaries give one unrestricted shard.
func shardsOf(bounds []string) []shard {
	if len(bounds) == 0 {
		return []shard{{}}
	}
	out := make([]shard, 0, len(bounds)+1)
	out = append(out, shard{"instance_id < ?", []any{bounds[0]}})
	for i := 1; i < len(bounds); i++ {
		out = append(out, shard{"instance_id >= ? AND instance_id < ?", []any{bounds[i-1], bounds[i]}})
	}
	return append(out, shard{"instance_id >= ?", []any{bounds[len(bounds)-1]}})
}

// shardArgs marks, in the arguments of a branch, where the shard's own
// arguments go (placeholders bind in the order they appear in the SQL).
type shardArgs struct{}

// unionShards instantiates branch once per shard and joins the copies with
// UNION ALL. In branch, "{shard}" (right after "FINAL") becomes "WHERE
// <the shard's condition>" (nothing for an unrestricted shard), or
// "{shardcond}" becomes the bare condition ("1" for none) to combine with
// other key conditions. args are the branch's arguments in SQL order, with
// shardArgs{} at the position of the marker; it returns the SQL and every
// copy's arguments.
func unionShards(shards []shard, branch string, args []any) (string, []any) {
	var (
		b   strings.Builder
		all []any
	)
	for i, s := range shards {
		if i > 0 {
			b.WriteString("\nUNION ALL\n")
		}
		where, cond := "", "1"
		if s.cond != "" {
			where, cond = "WHERE "+s.cond, s.cond
		}
		q := strings.Replace(branch, "{shard}", where, 1)
		b.WriteString(strings.Replace(q, "{shardcond}", cond, 1))
		for _, a := range args {
			if _, ok := a.(shardArgs); ok {
				all = append(all, s.args...)
			} else {
				all = append(all, a)
			}
		}
	}
	return b.String(), all
}
