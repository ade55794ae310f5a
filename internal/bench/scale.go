package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/bench/plot"
	"github.com/duroscope/duroscope/internal/projector"
)

// scalePoint is the scaling curve at one instance count.
type scalePoint struct {
	Target      int64        `json:"target_instances"`
	Instances   int64        `json:"instances"`
	Events      int64        `json:"events"`
	PublishRate float64      `json:"publish_events_per_s"`
	Ingest      ingestRun    `json:"ingest"`
	Queries     *queryResult `json:"queries"`
}

// runScale measures, at each --scale instance count, the projector's ingest
// rate (draining a stream pre-filled with that many instances) and every
// endpoint's latency over the read model the projector built, then plots
// both against the instance count.
func (b *bench) runScale(ctx context.Context) ([]scalePoint, error) {
	var pts []scalePoint
	m := measureMix(genConfig(b.cfg.seed+11, 0, 24*time.Hour, b.nowMs, ""))
	for i, n := range b.cfg.scale {
		wl := &workload{cfg: genConfig(b.cfg.seed+11, m.topForInstances(n), 24*time.Hour, b.nowMs, "")}
		stream := b.env.newStreamName(fmt.Sprintf("SCALE%d", i))
		logf("scale %s: publishing ~%s instances to %s", groupThousands(n), groupThousands(n), stream)
		pst, err := prefill(ctx, b.env.js, stream, wl)
		if err != nil {
			return nil, err
		}
		s, err := b.env.js.Stream(ctx, stream)
		if err != nil {
			return nil, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return nil, err
		}
		logf("scale %s: %s events published at %s/s; projector draining (load average %s)",
			groupThousands(n), groupThousands(wl.Events), fmtF(pst.Rate()), loadAvg())
		r, db, err := b.timeDrain(ctx, consumerKind{mode: modeProjector, consumer: projector.ConsumerName(0, 1)},
			1, stream, info.State.LastSeq, false, true)
		if err != nil {
			return nil, err
		}
		logf("  projector: %s events/s, peak RSS %s MiB", fmtF(r.Rate), fmtF(float64(r.PeakRSS)/(1<<20)))
		// The stream is no longer needed; free its disk before the queries
		// (even with --keep: a million instances take gigabytes).
		_ = b.env.js.DeleteStream(ctx, stream)
		_ = b.env.js.DeleteStream(ctx, events.DLQStream(stream))
		sample, err := b.sampleIDs(ctx, db, 5000)
		if err != nil {
			return nil, err
		}
		q, err := b.runQueries(ctx, n, &preloaded{db: db, sample: sample, events: wl.Events, instCnt: wl.Instances, loadedBy: "projector (through JetStream)"})
		b.env.dropDatabase(context.WithoutCancel(ctx), db)
		if err != nil {
			return nil, err
		}
		pts = append(pts, scalePoint{Target: n, Instances: wl.Instances, Events: wl.Events, PublishRate: pst.Rate(), Ingest: r, Queries: q})
	}
	if err := b.plotScale(pts); err != nil {
		return nil, err
	}
	return pts, nil
}

// sampleIDs picks about k instance ids spread over the table.
func (b *bench) sampleIDs(ctx context.Context, db string, k int) ([]string, error) {
	var total uint64
	if err := b.env.ch.QueryRow(ctx, "SELECT toUInt64(count()) FROM "+db+".instances").Scan(&total); err != nil {
		return nil, err
	}
	mod := max(1, total/uint64(k))
	rows, err := b.env.ch.Query(ctx, fmt.Sprintf(
		"SELECT DISTINCT instance_id FROM %s.instances WHERE cityHash64(instance_id) %% %d = 0 LIMIT %d", db, mod, k))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no instances in %s", db)
	}
	return out, rows.Err()
}

// plotScale writes scaling.png: ingest rate and every endpoint's p99
// against the instance count.
func (b *bench) plotScale(pts []scalePoint) error {
	if len(pts) == 0 {
		return nil
	}
	rate := plot.Series{Name: "projector"}
	byName := map[string]*plot.Series{}
	var order []string
	for _, p := range pts {
		rate.X = append(rate.X, float64(p.Instances))
		rate.Y = append(rate.Y, p.Ingest.Rate)
		for _, e := range p.Queries.Endpoints {
			s := byName[e.Name]
			if s == nil {
				s = &plot.Series{Name: e.Name}
				byName[e.Name] = s
				order = append(order, e.Name)
			}
			s.X = append(s.X, float64(p.Instances))
			s.Y = append(s.Y, e.P99ms)
		}
	}
	var lat []plot.Series
	for _, n := range order {
		lat = append(lat, *byName[n])
	}
	f, err := os.Create(filepath.Join(b.cfg.out, "scaling.png"))
	if err != nil {
		return err
	}
	defer f.Close()
	return plot.RenderPNG(f, 1100, 560,
		plot.Chart{Title: "Projector ingest rate vs instances", XLabel: "instances", YLabel: "events/s", LogX: true, Series: []plot.Series{rate}},
		plot.Chart{Title: "Query p99 latency vs instances", XLabel: "instances", YLabel: "p99 ms", LogX: true, LogY: true, Series: lat},
	)
}

// existingDB describes a read model the bench did not build (--query-db).
func (b *bench) existingDB(ctx context.Context, db string) (*preloaded, error) {
	p := &preloaded{db: db, loadedBy: "an existing database (--query-db)"}
	if err := b.env.ch.QueryRow(ctx, "SELECT toInt64(uniqExact(instance_id)) FROM "+db+".instances").Scan(&p.instCnt); err != nil {
		return nil, err
	}
	if err := b.env.ch.QueryRow(ctx, "SELECT toInt64(count()) FROM "+db+".history_v3").Scan(&p.events); err != nil {
		return nil, err
	}
	var err error
	p.sample, err = b.sampleIDs(ctx, db, 5000)
	return p, err
}
