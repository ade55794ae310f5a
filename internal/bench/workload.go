package bench

import (
	"context"
	"fmt"
	"iter"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// workload describes one generated data set.
type workload struct {
	cfg gen.Config
	// Events and Instances are the totals (children included), known after
	// generation.
	Events, Instances int64
	Bytes             int64
}

// genConfig is the generator configuration shared by every section:
// top-level instances starting over the spread window that ends at nowMs,
// 15% still running, a few events of unknown (future) types.
func genConfig(seed int64, top int, spread time.Duration, nowMs int64, prefix string) gen.Config {
	return gen.Config{
		Seed: seed, Instances: top, Workers: 2, IDPrefix: prefix,
		StartMs: nowMs - spread.Milliseconds(), SpreadMs: spread.Milliseconds(), NowMs: nowMs,
		RunningFraction: 0.15, UnknownTypeFraction: 0.01,
	}
}

// mix measures the generator's events and instances (children included)
// per top-level instance on a sample, to size a workload by events or by
// instances.
type mix struct{ eventsPerTop, instancesPerTop float64 }

func measureMix(cfg gen.Config) mix {
	cfg.Instances = 2000
	var evs, inst int
	for h := range gen.Histories(cfg) {
		evs += len(h)
		inst++
	}
	return mix{eventsPerTop: float64(evs) / 2000, instancesPerTop: float64(inst) / 2000}
}

// topForEvents is the top-level instance count that gives about n events.
func (m mix) topForEvents(n int64) int {
	return max(1, int(math.Round(float64(n)/m.eventsPerTop)))
}

// topForInstances is the top-level count that gives about n instances.
func (m mix) topForInstances(n int64) int {
	return max(1, int(math.Round(float64(n)/m.instancesPerTop)))
}

// prefill publishes the workload to stream (created if missing) in a
// realistic order: histories interleaved by timestamp, as a live system
// publishes them.
func prefill(ctx context.Context, js jetstream.JetStream, stream string, w *workload) (gen.Stats, error) {
	if err := projector.EnsureStreams(ctx, js, stream, 0); err != nil {
		return gen.Stats{}, err
	}
	var insts, evs int64
	counted := func(h iter.Seq[[]events.Event]) iter.Seq[[]events.Event] {
		return func(yield func([]events.Event) bool) {
			for x := range h {
				insts++
				evs += int64(len(x))
				if !yield(x) {
					return
				}
			}
		}
	}
	last := time.Now()
	st, err := gen.Publish(ctx, js, gen.Interleave(counted(gen.Histories(w.cfg)), 0), gen.PublishOptions{
		MaxInFlight: 8000,
		Progress: func(s gen.Stats) {
			if time.Since(last) > 10*time.Second {
				last = time.Now()
				logf("  published %s events (%s/s)", groupThousands(s.Published), fmtF(s.Rate()))
			}
		},
	})
	if err != nil {
		return st, fmt.Errorf("publish workload to %s: %w", stream, err)
	}
	w.Events, w.Instances, w.Bytes = evs, insts, st.Bytes
	return st, nil
}

// directLoad writes the workload's read model without NATS or the
// projector: each complete history is derived once (projection.DeriveAll)
// and written with chwrite.Writer, as the projector would have left it.
// It is how the query benchmark gets millions of instances in minutes. It
// returns a sample of instance ids (about sampleSize, spread over the set).
func directLoad(ctx context.Context, w *chwrite.Writer, wl *workload, sampleSize int, estInstances int64) ([]string, error) {
	const chunkEvents = 100_000
	every := max(1, int(estInstances/int64(max(sampleSize, 1))))
	var (
		sample []string
		wg     sync.WaitGroup
		errMu  sync.Mutex
		werr   error
	)
	chunks := make(chan []events.Event, 2)
	// Two writers: while one waits on ClickHouse the other derives.
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range chunks {
				errMu.Lock()
				failed := werr != nil
				errMu.Unlock()
				if failed {
					continue
				}
				if err := writeChunk(ctx, w, chunk); err != nil {
					errMu.Lock()
					werr = err
					errMu.Unlock()
				}
			}
		}()
	}
	var chunk []events.Event
	last := time.Now()
	var n int64
	for h := range gen.Histories(wl.cfg) {
		if n%int64(every) == 0 {
			sample = append(sample, h[0].InstanceID)
		}
		n++
		wl.Instances++
		wl.Events += int64(len(h))
		for i := range h {
			wl.Bytes += int64(len(h[i].Raw))
		}
		chunk = append(chunk, h...)
		if len(chunk) >= chunkEvents {
			chunks <- chunk
			chunk = nil
			if time.Since(last) > 10*time.Second {
				last = time.Now()
				logf("  loaded %s instances, %s events", groupThousands(wl.Instances), groupThousands(wl.Events))
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(chunk) > 0 {
		chunks <- chunk
	}
	close(chunks)
	wg.Wait()
	if werr != nil {
		return nil, werr
	}
	return sample, ctx.Err()
}

func writeChunk(ctx context.Context, w *chwrite.Writer, evs []events.Event) error {
	hist := make([]chwrite.HistoryRow, len(evs))
	for i := range evs {
		hist[i] = chwrite.HistoryRow{Event: &evs[i]}
	}
	if err := w.WriteHistory(ctx, hist); err != nil {
		return err
	}
	rows, err := projection.DeriveAll(evs)
	if err != nil {
		return err
	}
	return w.WriteDerived(ctx, rows)
}
