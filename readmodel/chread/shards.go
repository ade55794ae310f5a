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

	"github.com/ClickHouse/clickhouse-go/v2"
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
	err := r.query(ctx, queryOpts{}, "server threads", "shard_threads.sql", nil, nil,
		func(rows driver.Rows) error { return rows.Scan(&setting) })
	if err != nil {
		return nil, err
	}
	threads, err := parseMaxThreads(setting)
	if err != nil {
		return nil, err
	}
	var sample []string
	err = r.query(ctx, queryOpts{}, "shard boundaries", "shard_sample.sql", dbData{r.db},
		[]any{clickhouse.Named("modulus", shardSampleMod)}, func(rows driver.Rows) error {
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

// shard is one branch's key range, as the shard_cond fragment
// (sql/fragments.sql) reads it: the names of the parameters of its lower and
// upper bound, "" = unbounded.
type shard struct{ Lo, Hi string }

// shardsOf turns boundaries into shards and the arguments of their bounds;
// no boundaries give one unrestricted shard.
func shardsOf(bounds []string) ([]shard, []any) {
	if len(bounds) == 0 {
		return []shard{{}}, nil
	}
	name := func(i int) string { return fmt.Sprintf("shard_bound_%d", i) }
	args := make([]any, len(bounds))
	for i, b := range bounds {
		args[i] = clickhouse.Named(name(i), b)
	}
	out := make([]shard, 0, len(bounds)+1)
	out = append(out, shard{Hi: name(0)})
	for i := 1; i < len(bounds); i++ {
		out = append(out, shard{Lo: name(i - 1), Hi: name(i)})
	}
	return append(out, shard{Lo: name(len(bounds) - 1)}), args
}

// scanData is the template data of a scan statement split into shards.
type scanData struct {
	DB     string
	Shards []shard
	// Retain keeps only the instances updated at or after @retain_from
	// (the retention, retention.go).
	Retain bool
}

// scan returns the template data of a scan now (its shards, the
// retention) and the arguments of the shards' bounds and the retention.
func (r *Reader) scan(ctx context.Context) (scanData, []any) {
	from, retain := r.retainFrom()
	return r.scanRetained(ctx, from, retain)
}

// scanRetained is scan with the retention given (retainFrom), for an
// answer made of several statements that must all cut at one instant.
func (r *Reader) scanRetained(ctx context.Context, from int64, retain bool) (scanData, []any) {
	shards, args := r.scanShards(ctx)
	if retain {
		args = append(args, clickhouse.Named("retain_from", from))
	}
	return scanData{DB: r.db, Shards: shards, Retain: retain}, args
}

// scanShards returns the shards a scan is split into now, and the arguments
// of their bounds. A server that reads FINAL in parallel (the
// parallel-final path) gets one unrestricted shard.
func (r *Reader) scanShards(ctx context.Context) ([]shard, []any) {
	if r.featuresOf(ctx).ParallelFinal {
		return shardsOf(nil)
	}
	return shardsOf(r.shardBounds(ctx))
}
