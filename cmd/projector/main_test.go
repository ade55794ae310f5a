package main

import (
	"strings"
	"testing"
	"time"

	"github.com/duroscope/duroscope/internal/config"
)

func envOf(m map[string]string) config.Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParse(t *testing.T) {
	s, err := parse(nil, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.NATSURL != "" || s.Stream != "DUROXIDE_HISTORY" || s.DataDir != ".data" || s.HTTPAddr != "127.0.0.1:8081" ||
		s.Partition != config.Whole || s.BatchSize != 20000 || s.FlushInterval != 200*time.Millisecond ||
		s.AckWait != 30*time.Second || s.CacheBytes != 128<<20 || s.RecountInterval != time.Second || s.MemoryLimitMiB != 420 ||
		s.DriftInterval != 10*time.Second || s.DriftSample != 100 || s.DriftGrace != 2*time.Minute ||
		s.Retention != 0 || s.ReportRetention != 0 {
		t.Errorf("defaults: %+v", s)
	}
	env := map[string]string{"DUROSCOPE_PARTITION": "1/4", "DUROSCOPE_BATCH_SIZE": "500", "DUROSCOPE_FLUSH_INTERVAL": "50ms",
		"DUROSCOPE_ACK_WAIT": "1m", "DUROSCOPE_CACHE_MIB": "64", "DUROSCOPE_RECOUNT_INTERVAL": "2s", "DUROSCOPE_MEMORY_LIMIT_MIB": "0",
		"DUROSCOPE_DATA_DIR": "/d", "DUROSCOPE_PROJECTOR_HTTP_ADDR": "", "DUROSCOPE_DRIFT_INTERVAL": "0", "DUROSCOPE_DRIFT_SAMPLE": "7",
		"DUROSCOPE_DRIFT_GRACE": "30s", "DUROSCOPE_RETENTION": "90d", "DUROSCOPE_REPORT_RETENTION": "400d"}
	s, err = parse(nil, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if s.Partition != (config.Partition{Index: 1, Count: 4}) || s.BatchSize != 500 || s.FlushInterval != 50*time.Millisecond ||
		s.AckWait != time.Minute || s.CacheBytes != 64<<20 || s.RecountInterval != 2*time.Second || s.MemoryLimitMiB != 0 ||
		s.DataDir != "/d" || s.HTTPAddr != "" || s.DriftInterval != 0 || s.DriftSample != 7 || s.DriftGrace != 30*time.Second ||
		s.Retention != 90*24*time.Hour || s.ReportRetention != 400*24*time.Hour {
		t.Errorf("from env: %+v", s)
	}
	s, err = parse([]string{"-partition", "3/4", "-batch-size", "7", "-http-addr", ""}, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if s.Partition != (config.Partition{Index: 3, Count: 4}) || s.BatchSize != 7 || s.HTTPAddr != "" {
		t.Errorf("flags over env: %+v", s)
	}
	for _, c := range []struct {
		args []string
		env  map[string]string
		has  string
	}{
		{nil, map[string]string{"DUROSCOPE_BATCH_SIZE": "20000abc"}, "DUROSCOPE_BATCH_SIZE (flag -batch-size): want an integer from 1 to 1000000"},
		{nil, map[string]string{"DUROSCOPE_PARTITION": "1/4junk"}, "DUROSCOPE_PARTITION (flag -partition): want i/n"},
		{nil, map[string]string{"DUROSCOPE_CACHE_MIB": "abc"}, "DUROSCOPE_CACHE_MIB"},
		{nil, map[string]string{"DUROSCOPE_RECOUNT_INTERVAL": "0s"}, "DUROSCOPE_RECOUNT_INTERVAL"},
		{nil, map[string]string{"DUROSCOPE_RETENTION": "90 days"}, "DUROSCOPE_RETENTION (flag -retention): want a retention such as 90d"},
		{nil, map[string]string{"DUROSCOPE_REPORT_RETENTION": "-1d"}, "DUROSCOPE_REPORT_RETENTION"},
		{nil, map[string]string{"DUROSCOPE_ACK_WAIT": "500ms"}, "at least 1s"},
		{nil, map[string]string{"DUROSCOPE_DRIFT_INTERVAL": "-1s"}, "DUROSCOPE_DRIFT_INTERVAL (flag -drift-interval): want a Go duration >= 0"},
		{nil, map[string]string{"DUROSCOPE_DRIFT_SAMPLE": "0"}, "DUROSCOPE_DRIFT_SAMPLE"},
		{nil, map[string]string{"DUROSCOPE_DRIFT_GRACE": "0s"}, "DUROSCOPE_DRIFT_GRACE"},
		{nil, map[string]string{"DUROSCOPE_MEMORY_LIMIT_MIB": "100"}, "DUROSCOPE_MEMORY_LIMIT_MIB: 100 leaves no room"},
		{[]string{"-memory-limit-mib", "100"}, nil, "-memory-limit-mib: 100 leaves no room"},
		{[]string{"-partition", "4/4"}, nil, "-partition"},
		{[]string{"-batch-size", "0"}, nil, "-batch-size"},
		{nil, map[string]string{"DUROSCOPE_NATS_URL": "localhost:4222"}, "DUROSCOPE_NATS_URL"},
		{nil, map[string]string{"DUROSCOPE_CLICKHOUSE_DATABASE": "a-b"}, "DUROSCOPE_CLICKHOUSE_DATABASE: want letters"},
		{[]string{"0/4"}, nil, `unexpected argument "0/4"`},
	} {
		if _, err := parse(c.args, envOf(c.env)); err == nil || !strings.Contains(err.Error(), c.has) {
			t.Errorf("parse(%q, %v) = %v; want an error saying %s", c.args, c.env, err, c.has)
		}
	}
}
