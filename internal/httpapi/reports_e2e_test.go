package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duroscope/duroscope/internal/testenv"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chread"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// reportsDB creates a private database with the schema, dropped at the end.
func reportsDB(t *testing.T) (driver.Conn, string) {
	t.Helper()
	d := testenv.NewDatabase(t, "httpapi_rep")
	return d.Conn, d.Name
}

// readerServer serves the API over a Reader of db.
func readerServer(t *testing.T, conn driver.Conn, db string) *httptest.Server {
	t.Helper()
	r, err := chread.NewReader(conn, chread.ReaderConfig{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Config{ReadModel: r, Logger: zerolog.New(io.Discard)}))
	t.Cleanup(srv.Close)
	return srv
}

// recordDigest hashes a sequence of CSV records in order.
type recordDigest struct {
	h hash.Hash
	n int
}

func newRecordDigest() *recordDigest { return &recordDigest{h: sha256.New()} }

func (d *recordDigest) add(rec []string) {
	for _, f := range rec {
		fmt.Fprintf(d.h, "%d:%s", len(f), f)
	}
	d.h.Write([]byte{'\n'})
	d.n++
}

func (d *recordDigest) sum() string { return fmt.Sprintf("%d rows %x", d.n, d.h.Sum(nil)) }

// exportRows builds n instances with large outputs (so that an export that
// held its rows would need far more memory than the test allows).
func exportRows(n, from int) []projection.Rows {
	rows := make([]projection.Rows, 0, n)
	pad := strings.Repeat("payload,\"quoted\"\n", 90) // ~1.5 KiB with CSV quoting to exercise
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("exp-%07d", i)
		in := projection.InstanceRow{InstanceID: id, OrchestrationName: []string{"Order", "Import", "Chat"}[i%3],
			OrchestrationVersion: "1.0.0", Status: "Completed", CreatedAtMs: 1764115200000 + int64(i%50000)*1000,
			UpdatedAtMs: 1764115300000 + int64(i), ExecutionCount: 1, CurrentExecutionID: 1, EventCount: 4,
			Output: events.OptString{Value: pad + id, Valid: true}}
		switch i % 7 {
		case 0:
			in.Status = "Failed"
			in.Output = events.OptString{}
			in.Error = &events.ErrorDetails{Category: "application", Kind: "OrchestrationFailed", Message: "boom, \"" + id + "\""}
		case 1:
			in.Status = "Running"
			in.Output = events.OptString{}
			in.ParentInstance = events.OptString{Value: "parent-" + id, Valid: true}
			in.ParentID = events.OptUint{Value: uint64(i), Valid: true}
			in.CustomStatus = events.OptString{Value: "step\n2", Valid: true}
		}
		rows = append(rows, projection.Rows{Version: 4, Instance: in, Executions: []projection.ExecutionRow{{
			InstanceID: id, ExecutionID: 1, OrchestrationName: in.OrchestrationName, Status: in.Status,
			StartedAtMs: in.CreatedAtMs, LastEventAtMs: in.UpdatedAtMs, EventCount: 4}}})
	}
	return rows
}

// TestExportStreamsWithFlatMemory exports 100k instances (~160 MB of CSV)
// and checks (1) the records parsed back equal, in order, what paging
// through the list endpoint returns, in CSV and in NDJSON, and (2) the
// process's live heap never grows by more than 48 MB during the export,
// which holding the answer (or a large part of it) would exceed several
// times.
func TestExportStreamsWithFlatMemory(t *testing.T) {
	conn, db := reportsDB(t)
	ctx := context.Background()
	w := chwrite.NewWriter(conn, chwrite.WriterConfig{Database: db})
	const total, batch = 100000, 10000
	for from := 0; from < total; from += batch {
		if err := w.WriteDerived(ctx, exportRows(batch, from)); err != nil {
			t.Fatal(err)
		}
	}
	srv := readerServer(t, conn, db)

	// The reference: every page of the list endpoint, in order.
	ref := newRecordDigest()
	next := ""
	for {
		resp, err := http.Get(srv.URL + "/v1/instances?limit=1000" + next)
		if err != nil {
			t.Fatal(err)
		}
		var l api.InstanceList
		err = json.NewDecoder(resp.Body).Decode(&l)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("list page: %d %v", resp.StatusCode, err)
		}
		for _, s := range l.Instances {
			ref.add(instanceCSVRecord(s))
		}
		if l.NextPageToken == nil {
			break
		}
		next = "&page_token=" + url.QueryEscape(*l.NextPageToken)
	}
	if ref.n != total {
		t.Fatalf("the list returned %d instances, want %d", ref.n, total)
	}

	// The CSV export, with the live heap sampled while it streams: the
	// runtime's "/gc/heap/live:bytes" is the heap marked live by the last
	// GC, so garbage awaiting collection (which depends on GC pacing) does
	// not count, while rows held by the export would.
	runtime.GC()
	live := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(live)
	base := live[0].Value.Uint64()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				rtmetrics.Read(sample)
				if v := sample[0].Value.Uint64(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	resp, err := http.Get(srv.URL + "/v1/instances?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("export: %d %v", resp.StatusCode, resp.Header)
	}
	counted := &countingReader{r: resp.Body}
	cr := csv.NewReader(counted)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil || !reflect.DeepEqual(head, instanceCSVHeader) {
		t.Fatalf("csv header %q: %v", head, err)
	}
	got := newRecordDigest()
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("csv record %d: %v", got.n, err)
		}
		got.add(rec)
	}
	resp.Body.Close()
	close(stop)
	wg.Wait()
	if got.sum() != ref.sum() {
		t.Fatalf("CSV export differs from the list endpoint: %s vs %s", got.sum(), ref.sum())
	}
	growth := int64(peak.Load()) - int64(base)
	t.Logf("exported %d rows, %d MB of CSV; live heap peaked %d MB above the %d MB baseline",
		got.n, counted.n>>20, growth>>20, base>>20)
	if counted.n < 100<<20 {
		t.Fatalf("the export is only %d bytes: too small to show that memory stays flat", counted.n)
	}
	if growth > 48<<20 {
		t.Fatalf("heap grew by %d MB during the export: the rows are not streamed", growth>>20)
	}

	// NDJSON: the same instances, one InstanceSummary per line.
	resp, err = http.Get(srv.URL + "/v1/instances?format=ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	nd := newRecordDigest()
	dec := json.NewDecoder(resp.Body)
	for dec.More() {
		var s api.InstanceSummary
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("ndjson line %d: %v", nd.n, err)
		}
		nd.add(instanceCSVRecord(s))
	}
	if nd.sum() != ref.sum() {
		t.Fatalf("NDJSON export differs from the list endpoint: %s vs %s", nd.sum(), ref.sum())
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestReportsOverHTTP projects a gen workload and checks the report
// endpoints end to end: JSON equal to the replay oracle, the CSV and NDJSON
// exports equal to the JSON rows.
func TestReportsOverHTTP(t *testing.T) {
	conn, db := reportsDB(t)
	ctx := context.Background()
	var evs []events.Event
	for h := range gen.Histories(gen.Config{Seed: 5, Instances: 300, SpreadMs: 2 * 86400000, RunningFraction: 0.1}) {
		evs = append(evs, h...)
	}
	w := chwrite.NewWriter(conn, chwrite.WriterConfig{Database: db})
	rows, err := projection.DeriveAll(evs)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteDerived(ctx, rows); err != nil {
		t.Fatal(err)
	}
	srv := readerServer(t, conn, db)
	o := oracle.New(evs)
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return resp, b
	}
	from, to := int64(gen.DefaultStartMs), int64(gen.DefaultStartMs)+3*86400000
	for _, q := range []oracle.ReportQuery{
		{Bucket: "hour", FromMs: from, ToMs: to, GroupBy: "orchestration"},
		{Bucket: "day", FromMs: from, ToMs: to, GroupBy: "status"},
		{Bucket: "minute", FromMs: from, ToMs: from + 6*3600000, GroupBy: "activity"},
		{Bucket: "week", FromMs: from, ToMs: to, GroupBy: "version", Statuses: []string{"Completed"}},
	} {
		path := fmt.Sprintf("/v1/reports/timeseries?bucket=%s&from=%d&to=%d&group_by=%s", q.Bucket, q.FromMs, q.ToMs, q.GroupBy)
		if len(q.Statuses) > 0 {
			path += "&status=" + strings.Join(q.Statuses, ",")
		}
		_, b := get(path)
		var ts api.Timeseries
		if err := json.Unmarshal(b, &ts); err != nil {
			t.Fatal(err)
		}
		if want := o.Timeseries(q); !reflect.DeepEqual(ts, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", path, ts, want)
		}
		if len(ts.Rows) == 0 {
			t.Errorf("%s: no rows; the workload does not exercise it", path)
		}
		resp, b := get(path + "&format=csv")
		recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(ts.Rows)+1 || resp.Header.Get("X-Report-Percentiles") != ts.Percentiles ||
			resp.Header.Get("X-Report-From") != ts.From.Format() {
			t.Fatalf("%s csv: %d records for %d rows, headers %v", path, len(recs), len(ts.Rows), resp.Header)
		}
		for i, r := range ts.Rows {
			if !reflect.DeepEqual(recs[i+1], reportCSVRecord(r)) {
				t.Errorf("%s csv row %d: %q, want %q", path, i, recs[i+1], reportCSVRecord(r))
			}
		}
		_, b = get(path + "&format=ndjson")
		var nd []api.ReportRow
		dec := json.NewDecoder(strings.NewReader(string(b)))
		for dec.More() {
			var r api.ReportRow
			if err := dec.Decode(&r); err != nil {
				t.Fatal(err)
			}
			nd = append(nd, r)
		}
		if !reflect.DeepEqual(nd, ts.Rows) {
			t.Errorf("%s ndjson differs from json", path)
		}
	}
	_, b := get(fmt.Sprintf("/v1/reports/errors?from=%d&to=%d&limit=3", from, to))
	var er api.ErrorsReport
	if err := json.Unmarshal(b, &er); err != nil {
		t.Fatal(err)
	}
	if want := o.ErrorsReport(oracle.ErrorsQuery{FromMs: from, ToMs: to, Limit: 3}); !reflect.DeepEqual(er, want) {
		t.Errorf("errors report:\n got %+v\nwant %+v", er, want)
	}
	if len(er.Orchestrations) == 0 || len(er.Activities) == 0 {
		t.Errorf("errors report without failures: the workload does not exercise it")
	}
}
