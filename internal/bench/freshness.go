package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/httpapi"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/readmodel/chread"
)

// freshnessResult is the freshness section's outcome.
type freshnessResult struct {
	TargetRate    float64   `json:"target_events_per_s"`
	AchievedRate  float64   `json:"achieved_events_per_s"`
	Seconds       float64   `json:"seconds"`
	Markers       int       `json:"markers"`
	Missed        int       `json:"markers_not_visible_in_60s"`
	P50ms         float64   `json:"p50_ms"`
	P99ms         float64   `json:"p99_ms"`
	Maxms         float64   `json:"max_ms"`
	PollMs        float64   `json:"poll_interval_ms"`
	LagAtEnd      uint64    `json:"lag_events_at_end"`
	RSSMiB        []float64 `json:"projector_rss_mib_every_5s"`
	PeakRSSMiB    float64   `json:"projector_peak_rss_mib"`
	LatenciesMs   []float64 `json:"latencies_ms"`
	ProjectorLoad cpuUse    `json:"cpu"`
}

const freshnessPoll = 20 * time.Millisecond

// serveAPI serves the query API of db on a loopback port, as cmd/query
// would, until the returned stop is called.
func (b *bench) serveAPI(db string) (base string, stop func(), err error) {
	reader, err := chread.NewReader(b.env.ch, chread.ReaderConfig{Database: db, ScanShards: b.cfg.scanShards})
	if err != nil {
		return "", nil, err
	}
	h := httpapi.New(httpapi.Config{
		ReadModel: reader, Now: time.Now, Logger: zerolog.Nop(),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// runFreshness publishes a steady load with gen and, every
// --freshness-marker-every, one marker instance (an OrchestrationStarted of
// a fresh id); each marker's latency runs from just before its publish until
// GET /v1/instances/{id} first answers 200 (polled every 20ms).
func (b *bench) runFreshness(ctx context.Context) (*freshnessResult, error) {
	cfg := b.cfg
	res := &freshnessResult{TargetRate: cfg.freshRate, PollMs: float64(freshnessPoll) / float64(time.Millisecond)}
	stream := b.env.newStreamName("FRESH")
	if err := projector.EnsureStreams(ctx, b.env.js, stream, 0); err != nil {
		return nil, err
	}
	defer b.env.deleteStream(context.WithoutCancel(ctx), stream)
	db, err := b.env.newDatabase(ctx, "fresh")
	if err != nil {
		return nil, err
	}
	defer b.env.dropDatabase(context.WithoutCancel(ctx), db)
	logPath := filepath.Join(cfg.out, "logs", "freshness-projector.log")
	ch, err := startChild(logPath, b.childEnv(modeProjector), b.childConfig(modeProjector, stream, db).args()...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = ch.stop(60 * time.Second) }()
	cons := projector.ConsumerName(0, 1)
	for deadline := time.Now().Add(time.Minute); ; {
		st, err := b.env.consumer(ctx, stream, cons)
		if err != nil {
			return nil, err
		}
		if st.exists {
			break
		}
		if done, err := ch.exited(); done || time.Now().After(deadline) {
			return nil, fmt.Errorf("projector did not start (%v); see %s", err, logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
	base, stopAPI, err := b.serveAPI(db)
	if err != nil {
		return nil, err
	}
	defer stopAPI()

	// Enough generated events for the whole test at the target rate.
	m := measureMix(genConfig(cfg.seed+7, 0, time.Hour, b.nowMs, "fresh-"))
	need := int64(cfg.freshRate*(cfg.freshDuration+10*time.Second).Seconds()) + 1000
	wl := genConfig(cfg.seed+7, m.topForEvents(need), time.Hour, b.nowMs, "fresh-")
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var (
		loadStats gen.Stats
		loadErr   error
		loadDone  = make(chan struct{})
	)
	logf("freshness: %s events/s for %v, a marker every %v (load average %s)", fmtF(cfg.freshRate), cfg.freshDuration, cfg.freshEvery, loadAvg())
	meter := startCPUMeter(ch.pid(), b.env.chPIDs)
	go func() {
		defer close(loadDone)
		loadStats, loadErr = gen.Publish(lctx, b.env.js, gen.Interleave(gen.Histories(wl), 0),
			gen.PublishOptions{Rate: cfg.freshRate, MaxInFlight: 8000})
	}()
	// Let the load reach its pace before the first marker.
	time.Sleep(2 * time.Second)

	var (
		mu      sync.Mutex
		lat     latencies
		missed  int
		pollers sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	tick := time.NewTicker(cfg.freshEvery)
	rssTick := time.NewTicker(5 * time.Second)
	end := time.After(cfg.freshDuration)
	start := time.Now()
	n := 0
loop:
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-end:
			break loop
		case <-rssTick.C:
			if rss, _, err := procStatus(ch.pid()); err == nil {
				res.RSSMiB = append(res.RSSMiB, float64(rss)/(1<<20))
			}
		case <-tick.C:
			n++
			id := fmt.Sprintf("fresh-marker-%s-%06d", b.env.runID, n)
			now := time.Now()
			msg := nats.NewMsg(events.Subject(id))
			msg.Data = markerEvent(id, now.UnixMilli())
			msg.Header.Set(nats.MsgIdHdr, events.MsgID(id, 1, 1))
			// A publish that times out (the machine stalls) is retried; the
			// Nats-Msg-Id makes the stream keep one copy, and the latency
			// still counts from the first attempt.
			var perr error
			for attempt := 0; attempt < 3; attempt++ {
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, perr = b.env.js.PublishMsg(pctx, msg)
				cancel()
				if perr == nil || ctx.Err() != nil {
					break
				}
			}
			if perr != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				logf("  warning: marker %s not published: %v", id, perr)
				mu.Lock()
				missed++
				mu.Unlock()
				continue
			}
			pollers.Add(1)
			go func() {
				defer pollers.Done()
				d, ok := pollVisible(ctx, client, base, id, now)
				mu.Lock()
				defer mu.Unlock()
				if ok {
					lat.add(d)
				} else {
					missed++
				}
			}()
		}
	}
	tick.Stop()
	rssTick.Stop()
	res.Seconds = time.Since(start).Seconds()
	stopLoad()
	<-loadDone
	if loadErr != nil && !errors.Is(loadErr, context.Canceled) {
		return nil, fmt.Errorf("load publisher: %w", loadErr)
	}
	pollers.Wait()
	res.ProjectorLoad = meter.stop()
	// Publish stats cover from its start (2s before the first marker).
	res.AchievedRate = loadStats.Rate()
	if s, err := b.env.js.Stream(ctx, stream); err == nil {
		if info, err := s.Info(ctx); err == nil {
			if st, err := b.env.consumer(ctx, stream, cons); err == nil && info.State.LastSeq > st.ackFloor {
				res.LagAtEnd = info.State.LastSeq - st.ackFloor
			}
		}
	}
	if _, hwm, err := procStatus(ch.pid()); err == nil {
		res.PeakRSSMiB = float64(hwm) / (1 << 20)
	}
	res.Markers, res.Missed = n, missed
	res.LatenciesMs = lat.ms
	res.P50ms, res.P99ms, res.Maxms = lat.p(50), lat.p(99), lat.p(100)
	logf("  achieved %s events/s; %d markers: p50 %s ms, p99 %s ms, max %s ms, %d not visible; projector peak RSS %s MiB",
		fmtF(res.AchievedRate), n, fmtF(res.P50ms), fmtF(res.P99ms), fmtF(res.Maxms), missed, fmtF(res.PeakRSSMiB))
	return res, nil
}

// pollVisible polls GET /v1/instances/{id} until it answers 200 and returns
// the time since published (false after a minute).
func pollVisible(ctx context.Context, client *http.Client, base, id string, published time.Time) (time.Duration, bool) {
	u := base + "/v1/instances/" + url.PathEscape(id)
	deadline := published.Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(published), true
			}
		}
		time.Sleep(freshnessPoll)
	}
	return 0, false
}

// markerEvent is a minimal valid OrchestrationStarted (EVENTS.md).
func markerEvent(id string, tsMs int64) []byte {
	e := events.Event{
		EventID: 1, InstanceID: id, ExecutionID: 1, TimestampMs: uint64(tsMs), DuroxideVersion: "0.1.26",
		Type: events.TypeOrchestrationStarted, Known: true, Name: "FreshnessMarker", Version: "1.0.0", Input: "{}",
	}
	return events.Marshal(&e)
}
