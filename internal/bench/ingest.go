package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/duroscope/duroscope/internal/projector"
)

// consumerKind is one of the timed consumers of the ingest benchmark.
type consumerKind struct {
	mode     string
	consumer string
	// timeBox > 0 stops the run after this long and rates what was acked
	// (the per-message watermill baseline would take far longer than the
	// others to drain the stream).
	timeBox time.Duration
}

// ingestRun is the outcome of one timed drain.
type ingestRun struct {
	Mode     string            `json:"mode"`
	Run      int               `json:"run"`
	Events   uint64            `json:"events"`
	Seconds  float64           `json:"seconds"`
	Rate     float64           `json:"events_per_s"`
	PeakRSS  int64             `json:"peak_rss_bytes"`
	CPU      cpuUse            `json:"cpu"`
	Counters map[string]uint64 `json:"counters,omitempty"`
	Complete bool              `json:"complete"` // drained the whole stream
	// ReportsSeconds (projector only): from the start until the report
	// cells were recounted too (nothing left on the recount stream); the
	// drain itself (Seconds) ends at the last ack, which does not wait for
	// recounts.
	ReportsSeconds float64 `json:"reports_up_to_date_s,omitempty"`
}

// timeDrain starts a consumer child on a fresh database and a fresh durable
// consumer and times it until it has acked everything up to lastSeq (or its
// time box ends). The clock starts when the child's consumer appears on the
// server (process start, connections and schema are not timed) and stops at
// the first poll that sees the ack floor at lastSeq.
// With keepDB the database is left for the caller (who drops it).
func (b *bench) timeDrain(ctx context.Context, k consumerKind, run int, stream string, lastSeq uint64, profile, keepDB bool) (res ingestRun, db string, err error) {
	res = ingestRun{Mode: k.mode, Run: run}
	db, err = b.env.newDatabase(ctx, k.mode)
	if err != nil {
		return res, "", err
	}
	defer func() {
		if !keepDB || err != nil {
			b.env.dropDatabase(context.WithoutCancel(ctx), db)
		}
	}()
	if k.mode == modeRawCopy {
		if err := b.env.ch.Exec(ctx, fmt.Sprintf(rawTableDDL, db)); err != nil {
			return res, db, fmt.Errorf("create raw table: %w", err)
		}
	}
	if err := b.env.deleteConsumer(ctx, stream, k.consumer); err != nil {
		return res, db, err
	}
	// Start on a server that is not still merging the previous run's parts
	// (the per-message watermill baseline leaves thousands behind).
	b.settleServer(ctx)
	cc := b.childConfig(k.mode, stream, db)
	tag := fmt.Sprintf("%s-%s-run%d", filepath.Base(stream), k.mode, run)
	if profile {
		tag += "-profiled"
		cc.cpuProfile = filepath.Join(b.cfg.out, "profiles", tag+".cpu.pprof")
		cc.memProfile = filepath.Join(b.cfg.out, "profiles", tag+".alloc.pprof")
		cc.heapAt = b.cfg.heapAt
	}
	logPath := filepath.Join(b.cfg.out, "logs", tag+".log")
	ch, err := startChild(logPath, b.childEnv(k.mode), cc.args()...)
	if err != nil {
		return res, db, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = ch.stop(30 * time.Second)
		}
	}()

	var (
		t0    time.Time
		meter *cpuMeter
	)
	deadline := time.Now().Add(b.cfg.drainTimeout)
	var selfProf func()
	for {
		if ctx.Err() != nil {
			return res, db, ctx.Err()
		}
		if done, err := ch.exited(); done {
			return res, db, fmt.Errorf("%s child exited early (%v); see %s", k.mode, err, logPath)
		}
		st, err := b.env.consumer(ctx, stream, k.consumer)
		if err != nil {
			return res, db, err
		}
		now := time.Now()
		if st.exists && t0.IsZero() {
			t0 = now
			meter = startCPUMeter(ch.pid(), b.env.chPIDs)
			if profile {
				selfProf = b.startSelfProfile(tag)
			}
		}
		if !t0.IsZero() {
			if st.ackFloor >= lastSeq {
				res.Events, res.Complete = lastSeq, true
				res.Seconds = now.Sub(t0).Seconds()
				break
			}
			if k.timeBox > 0 && now.Sub(t0) >= k.timeBox {
				res.Events = st.ackFloor
				res.Seconds = now.Sub(t0).Seconds()
				break
			}
		}
		if now.After(deadline) {
			return res, db, fmt.Errorf("%s did not drain %d messages within %v (ack floor %d); see %s",
				k.mode, lastSeq, b.cfg.drainTimeout, st.ackFloor, logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.CPU = meter.stop()
	if selfProf != nil {
		selfProf()
	}
	if k.mode == modeProjector {
		for {
			n, err := projector.ReportCellsPending(ctx, b.env.js, stream)
			if err == nil && n == 0 {
				res.ReportsSeconds = time.Since(t0).Seconds()
				break
			}
			if time.Now().After(deadline) {
				return res, db, fmt.Errorf("report cells not recounted within %v (%d pending, %v); see %s", b.cfg.drainTimeout, n, err, logPath)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, hwm, err := procStatus(ch.pid()); err == nil {
		res.PeakRSS = hwm
	}
	stopped = true
	if err := ch.stop(60 * time.Second); err != nil {
		logf("  warning: %s child: %v", k.mode, err)
	}
	res.Rate = float64(res.Events) / res.Seconds
	res.Counters = readChildStats(logPath)
	return res, db, nil
}

// readChildStats finds the counters a projector child logs at exit.
func readChildStats(logPath string) map[string]uint64 {
	f, err := os.Open(logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var out map[string]uint64
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), childStatsPrefix+" "); ok {
			_ = json.Unmarshal([]byte(rest), &out)
		}
	}
	return out
}

// ingestResult is the ingest section's outcome.
type ingestResult struct {
	Workload       workloadInfo             `json:"workload"`
	PublishRate    float64                  `json:"publish_events_per_s"`
	Runs           []ingestRun              `json:"runs"`
	Rate           map[string]summary       `json:"events_per_s"`
	PeakRSSMiB     map[string]summary       `json:"peak_rss_mib"`
	CPUPerMEvents  map[string]cpuPerMillion `json:"cpu_s_per_million_events"`
	RatioRaw       summary                  `json:"projector_over_rawcopy"`
	RatioWatermill summary                  `json:"projector_over_watermill"`
	Profiles       []string                 `json:"profiles,omitempty"`
}

type cpuPerMillion struct {
	Child, Bench, ClickHouse float64
}

type workloadInfo struct {
	TopInstances int     `json:"top_level_instances"`
	Instances    int64   `json:"instances"`
	Events       int64   `json:"events"`
	MeanBytes    float64 `json:"mean_payload_bytes"`
	Spread       string  `json:"start_spread"`
}

var ingestKinds = func(watermillBox time.Duration) []consumerKind {
	return []consumerKind{
		{mode: modeProjector, consumer: projector.ConsumerName(0, 1)},
		{mode: modeRawCopy, consumer: rawCopyConsumer},
		{mode: modeWatermill, consumer: watermillConsumer, timeBox: watermillBox},
	}
}

// runIngest pre-fills a stream and times every consumer kind on it, runs
// interleaved (projector, raw copy, watermill, projector, ...) so that a
// burst of load from the machine's other users hits all of them alike; the
// ratios are taken run by run.
func (b *bench) runIngest(ctx context.Context) (*ingestResult, error) {
	m := measureMix(genConfig(b.cfg.seed, 0, b.cfg.ingestSpread, b.nowMs, "ing-"))
	top := m.topForEvents(b.cfg.ingestEvents)
	wl := &workload{cfg: genConfig(b.cfg.seed, top, b.cfg.ingestSpread, b.nowMs, "ing-")}
	stream := b.env.newStreamName("INGEST")
	logf("ingest: publishing ~%s events (%d top-level instances) to %s", groupThousands(b.cfg.ingestEvents), top, stream)
	pst, err := prefill(ctx, b.env.js, stream, wl)
	if err != nil {
		return nil, err
	}
	logf("ingest: published %s events of %s instances at %s events/s", groupThousands(wl.Events), groupThousands(wl.Instances), fmtF(pst.Rate()))
	s, err := b.env.js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	lastSeq := info.State.LastSeq
	res := &ingestResult{
		Workload: workloadInfo{TopInstances: top, Instances: wl.Instances, Events: wl.Events,
			MeanBytes: float64(wl.Bytes) / float64(max(wl.Events, 1)), Spread: b.cfg.ingestSpread.String()},
		PublishRate: pst.Rate(),
		Rate:        map[string]summary{}, PeakRSSMiB: map[string]summary{}, CPUPerMEvents: map[string]cpuPerMillion{},
	}
	kinds := ingestKinds(b.cfg.watermillBox)
	if !b.cfg.baselines {
		kinds = kinds[:1]
	}
	if b.cfg.profile {
		logf("ingest: profiled projector run (not counted)")
		r, _, err := b.timeDrain(ctx, kinds[0], 0, stream, lastSeq, true, false)
		if err != nil {
			return nil, err
		}
		logf("  profiled run: %s events/s; profiles in %s", fmtF(r.Rate), filepath.Join(b.cfg.out, "profiles"))
	}
	rates := map[string][]float64{}
	rss := map[string][]float64{}
	cpu := map[string][]cpuUse{}
	events := map[string]uint64{}
	var ratioRaw, ratioWM []float64
	for run := 1; run <= b.cfg.runs; run++ {
		byMode := map[string]float64{}
		for _, k := range kinds {
			logf("ingest: run %d/%d %s (load average %s)", run, b.cfg.runs, k.mode, loadAvg())
			r, _, err := b.timeDrain(ctx, k, run, stream, lastSeq, false, false)
			if err != nil {
				return nil, err
			}
			extra := ""
			if r.Counters != nil && r.Counters["projected"] > 0 {
				extra = fmt.Sprintf(", %d batches, %.2f re-derivations/event", r.Counters["batches"],
					float64(r.Counters["derived"])/float64(r.Counters["projected"]))
			}
			if r.ReportsSeconds > 0 {
				extra += fmt.Sprintf(", report cells up to date at %.2fs", r.ReportsSeconds)
			}
			logf("  %s: %s events in %.2fs = %s events/s, peak RSS %s MiB, CPU child %.1fs bench+NATS %.1fs ClickHouse %.1fs%s",
				k.mode, groupThousands(int64(r.Events)), r.Seconds, fmtF(r.Rate), fmtF(float64(r.PeakRSS)/(1<<20)),
				r.CPU.Child, r.CPU.Bench, r.CPU.ClickHouse, extra)
			res.Runs = append(res.Runs, r)
			rates[k.mode] = append(rates[k.mode], r.Rate)
			rss[k.mode] = append(rss[k.mode], float64(r.PeakRSS)/(1<<20))
			cpu[k.mode] = append(cpu[k.mode], r.CPU)
			events[k.mode] += r.Events
			byMode[k.mode] = r.Rate
		}
		if v, ok := byMode[modeRawCopy]; ok {
			ratioRaw = append(ratioRaw, ratio(byMode[modeProjector], v))
		}
		if v, ok := byMode[modeWatermill]; ok {
			ratioWM = append(ratioWM, ratio(byMode[modeProjector], v))
		}
	}
	for mode, v := range rates {
		res.Rate[mode] = summarize(v)
		res.PeakRSSMiB[mode] = summarize(rss[mode])
		var t cpuUse
		for _, c := range cpu[mode] {
			t.Child += c.Child
			t.Bench += c.Bench
			t.ClickHouse += c.ClickHouse
		}
		per := 1e6 / float64(max(events[mode], 1))
		res.CPUPerMEvents[mode] = cpuPerMillion{Child: t.Child * per, Bench: t.Bench * per, ClickHouse: t.ClickHouse * per}
	}
	res.RatioRaw = summarize(ratioRaw)
	res.RatioWatermill = summarize(ratioWM)
	b.env.deleteStream(ctx, stream)
	return res, nil
}
