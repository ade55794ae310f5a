package bench

import (
	"fmt"
	"math"
	"strings"
)

// report renders the results as text (also written to report.txt).
func (b *bench) report() string {
	var w strings.Builder
	r := &b.res
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	p("")
	p("== Duroscope benchmark ==")
	p("machine: %d cores (%s), memory %s, kernel %s", r.Machine.NumCPU, r.Machine.CPU, r.Machine.MemTotal, r.Machine.Kernel)
	p("versions: %s, ClickHouse %s, nats-server %s", r.Machine.Go, r.Machine.ClickHouse, r.Machine.NATSServer)
	p("load average: %s", fmtLoad(r.LoadAvg))
	p("figures: median (min, max) over runs; the machine is shared, so ratios taken within one run matter most")

	if in := r.Ingest; in != nil {
		p("")
		p("-- ingest: drain a pre-filled stream --")
		p("workload: %s events, %s instances (%d top-level), mean payload %.0f B, starts spread over %s; published at %s events/s",
			groupThousands(in.Workload.Events), groupThousands(in.Workload.Instances), in.Workload.TopInstances,
			in.Workload.MeanBytes, in.Workload.Spread, fmtF(in.PublishRate))
		for _, mode := range []string{modeProjector, modeRawCopy, modeWatermill} {
			s, ok := in.Rate[mode]
			if !ok {
				continue
			}
			c := in.CPUPerMEvents[mode]
			p("%-10s events/s %s; peak RSS MiB %s; CPU s per 1M events: consumer %.1f, bench+NATS %.1f, ClickHouse %.1f",
				mode, s, in.PeakRSSMiB[mode], c.Child, c.Bench, c.ClickHouse)
		}
		if in.RatioRaw.N > 0 {
			p("ratio projector / raw copy:  %s   (target >= 0.8)", in.RatioRaw)
		}
		if in.RatioWatermill.N > 0 {
			p("ratio projector / watermill: %s   (target >= 3)", in.RatioWatermill)
		}
		if s, ok := in.Rate[modeProjector]; ok {
			p("target projector >= 150,000 events/s: %s (median %s)", verdict(s.Median >= 150000), fmtF(s.Median))
			p("target projector RSS < 512 MiB: %s (max %s MiB)", verdict(in.PeakRSSMiB[modeProjector].Max < 512), fmtF(in.PeakRSSMiB[modeProjector].Max))
		}
	}
	if f := r.Freshness; f != nil {
		p("")
		p("-- freshness: publish -> visible in GET /v1/instances/{id} --")
		p("load %s events/s (target %s) for %.0fs; %d markers, %d not visible within 60s; polled every %.0f ms",
			fmtF(f.AchievedRate), fmtF(f.TargetRate), f.Seconds, f.Markers, f.Missed, f.PollMs)
		p("latency ms: p50 %s, p99 %s, max %s; lag at end %d events", fmtF(f.P50ms), fmtF(f.P99ms), fmtF(f.Maxms), f.LagAtEnd)
		p("projector RSS MiB every 5s: %s (peak %s)", fmtList(f.RSSMiB), fmtF(f.PeakRSSMiB))
		p("target p99 < 1s at 20k events/s: %s", verdict(f.P99ms < 1000 && f.Missed == 0 && f.AchievedRate >= 0.95*f.TargetRate))
	}
	if q := r.Queries; q != nil {
		p("")
		p("-- queries at %s instances (%s events), loaded by %s --", groupThousands(q.Instances), groupThousands(q.Events), q.Loaded)
		b.queryTable(&w, q)
	}
	for _, pt := range r.Scale {
		p("")
		p("-- scale: %s instances, %s events --", groupThousands(pt.Instances), groupThousands(pt.Events))
		p("projector ingest %s events/s (published at %s/s), peak RSS %s MiB", fmtF(pt.Ingest.Rate), fmtF(pt.PublishRate), fmtF(float64(pt.Ingest.PeakRSS)/(1<<20)))
		b.queryTable(&w, pt.Queries)
	}
	if len(r.Scale) > 0 {
		p("plot: %s/scaling.png", b.cfg.out)
	}
	return w.String()
}

func (b *bench) queryTable(w *strings.Builder, q *queryResult) {
	fmt.Fprintf(w, "%-24s %9s %9s %9s %5s  %s\n", "endpoint", "p50 ms", "p99 ms", "max ms", "n", "replay baseline")
	for _, e := range q.Endpoints {
		rep := ""
		if e.ReplayMs != nil {
			rep = fmt.Sprintf("%s ms = %sx the API p50; answer %s", e.ReplayMs, fmtF(e.ReplayRatio), e.Verified)
		}
		fmt.Fprintf(w, "%-24s %9s %9s %9s %5d  %s\n", e.Name, fmtF(e.P50ms), fmtF(e.P99ms), fmtF(e.Maxms), e.Requests, rep)
	}
	if rp := q.Replay; rp != nil {
		fmt.Fprintf(w, "replay: read+decode %s ms, oracle replay %s ms per pass (%d id range(s))\n", rp.ReadMs, rp.BuildMs, rp.Chunks)
	}
	fmt.Fprintf(w, "active parts: %v\n", q.Parts)
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}

func fmtList(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.0f", math.Round(x))
	}
	return strings.Join(s, " ")
}

func fmtLoad(m map[string]string) string {
	var parts []string
	for _, k := range []string{"start", "after_ingest", "after_freshness", "after_queries", "after_scale", "end"} {
		if v, ok := m[k]; ok {
			parts = append(parts, k+" "+v)
		}
	}
	return strings.Join(parts, "; ")
}
