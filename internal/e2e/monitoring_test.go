package e2e

// The monitoring assets (issue 14 item 7): deploy/prometheus's alert rules
// and deploy/grafana's dashboard name only metrics the binaries really
// export, checked against the /metrics output of a running projector, query
// service and connector; promtool checks the rules where it is installed
// (scripts/test.sh installs it and requires it).

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/duroscope/duroscope/internal/connector"
	"github.com/duroscope/duroscope/internal/connector/sqlite"
	"github.com/duroscope/duroscope/internal/connector/storetest"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

const (
	rulesFile     = "../../deploy/prometheus/duroscope-rules.yml"
	dashboardFile = "../../deploy/grafana/duroscope-dashboard.json"
)

// metricRe finds Duroscope metric names in PromQL.
var metricRe = regexp.MustCompile(`\bduroscope_[a-z0-9_]+`)

// conditionalMetrics are exported only by one kind of deployment, so the
// processes started here cannot show them: the metric and the source file
// that writes it.
var conditionalMetrics = map[string]string{
	"duroscope_connector_slot_wal_bytes": "../connector/postgres/cdc.go", // Postgres cdc sources only
}

func TestMonitoringAssets(t *testing.T) {
	exprs := assetExpressions(t)
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions in the rules and the dashboard", len(exprs))
	}
	checkPromtool(t)

	exported := exportedMetrics(t)
	t.Logf("%d metric names exported by the projector, the query service and the connector", len(exported))
	for where, expr := range exprs {
		for _, name := range metricRe.FindAllString(expr, -1) {
			if exported[name] {
				continue
			}
			if src, ok := conditionalMetrics[name]; ok {
				b, err := os.ReadFile(src)
				if err != nil || !regexp.MustCompile(`\b`+name+`\b`).Match(b) {
					t.Errorf("%s: %s is not written by %s (%v)", where, name, src, err)
				}
				continue
			}
			t.Errorf("%s: %s is not in any /metrics output: %s", where, name, expr)
		}
	}
}

// assetExpressions are the PromQL expressions of every alert rule and
// dashboard target, by where they stand.
func assetExpressions(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("%s: group %s has a rule without alert or expr", rulesFile, g.Name)
			}
			out["rule "+r.Alert] = r.Expr
		}
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err = os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&dash); err != nil || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("%s: %v (uid %q, %d panels)", dashboardFile, err, dash.UID, len(dash.Panels))
	}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("%s: panel id %d twice", dashboardFile, p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
		}
		for i, tg := range p.Targets {
			out["panel "+p.Title+" #"+string(rune('A'+i))] = tg.Expr
		}
	}
	return out
}

// checkPromtool runs promtool check rules when it is installed; scripts/test.sh
// installs it and sets DUROSCOPE_REQUIRE_PROMTOOL.
func checkPromtool(t *testing.T) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("DUROSCOPE_REQUIRE_PROMTOOL") != "" {
			t.Fatalf("promtool not found (%v) and DUROSCOPE_REQUIRE_PROMTOOL is set", err)
		}
		t.Logf("promtool not installed: rules checked for metric names only")
		return
	}
	out, err := exec.Command(bin, "check", "rules", rulesFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	t.Logf("promtool check rules: %s", strings.TrimSpace(string(out)))
}

// exportedMetrics runs a projector (caught up on a workload), the query
// service over its database and a connector (one pass over a SQLite store
// holding the same workload) and collects every metric name their
// /metrics show.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "monitoring")
	evs := workload(21, 200)

	store := storetest.Create(t, t.TempDir())
	rows := make([]storetest.Row, len(evs))
	for i := range evs {
		rows[i] = storetest.RowOf(&evs[i])
	}
	if err := store.Append(rows); err != nil {
		t.Fatal(err)
	}
	src, err := sqlite.Open(ctx, sqlite.Config{Path: store.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	c, err := connector.New(connector.Config{Source: src, NC: n.NC, Once: true, Logger: zerolog.New(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(ctx); err != nil {
		t.Fatalf("connector: %v", err)
	}

	p, err := projector.New(projector.Config{
		JS: n.JS, NC: n.NC, Store: chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name}),
		FlushInterval: 50 * time.Millisecond, Logger: zerolog.New(io.Discard),
	})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("projector: %v", err)
		}
	}()
	projtest.WaitCaughtUp(t, n.JS, time.Minute)

	names := map[string]bool{}
	var sb strings.Builder
	// The lag gauges are read on a cadence: wait until they are there.
	for deadline := time.Now().Add(30 * time.Second); ; {
		sb.Reset()
		p.WriteMetrics(&sb)
		if strings.Contains(sb.String(), "duroscope_projector_consumer_lag_seconds ") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	addMetricNames(names, sb.String())
	sb.Reset()
	c.WriteMetrics(&sb)
	addMetricNames(names, sb.String())

	srv := httptest.NewServer(newQueryHandler(t, n, db, time.Now))
	defer srv.Close()
	if _, err := http.Get(srv.URL + "/v1/instances?limit=1"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "duroscope_readmodel_instances{") || time.Now().After(deadline) {
			addMetricNames(names, string(b))
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return names
}

// addMetricNames adds the sample names of a Prometheus text exposition
// (histograms' _bucket, _sum and _count as they are written).
func addMetricNames(names map[string]bool, text string) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexFunc(line, func(r rune) bool { return r == '{' || r == ' ' }); i > 0 {
			names[line[:i]] = true
		}
	}
}
