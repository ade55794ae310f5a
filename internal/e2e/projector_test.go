package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
)

const workloadInstances = 5000

// reference projects evs, in the order given, with one in-process projector
// and returns the table digest.
func reference(t *testing.T, name string, evs []events.Event) testenv.TableDigest {
	t.Helper()
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, name)
	publish(t, n.JS, evs)
	stop := startProjector(t, n, db, nil)
	projtest.WaitCaughtUp(t, n.JS, 3*time.Minute)
	stop()
	d, err := db.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestShuffledDuplicatedWorkloadEqualsInOrder(t *testing.T) {
	evs := workload(11, workloadInstances)
	want := reference(t, "inorder", evs)
	if !strings.HasPrefix(want["instances"], fmt.Sprint(workloadInstances)) && !strings.Contains(want["instances"], "rows") {
		t.Fatalf("unexpected digest %v", want)
	}
	got := reference(t, "shuffled", shuffleDup(evs, 7, 500, 0.2))
	if diff := want.Diff(got); len(diff) > 0 {
		t.Fatalf("shuffled+duplicated run differs from in-order run:\n%s", strings.Join(diff, "\n"))
	}
	t.Logf("%d events, tables: %v", len(evs), want)
}

// TestRedeliveryAfterWriteChangesNothing re-publishes the whole stream after
// it was projected (as a crash between insert and ack would re-deliver it)
// and checks no table changes.
func TestRedeliveryAfterWriteChangesNothing(t *testing.T) {
	evs := workload(12, 1000)
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "redeliver")
	publish(t, n.JS, evs)
	stop := startProjector(t, n, db, nil)
	projtest.WaitCaughtUp(t, n.JS, 2*time.Minute)
	stop()
	before, err := db.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A fresh projector process has an empty cache: it must read the
	// histories back and rewrite identical rows.
	dups := shuffleDup(evs, 3, 200, 0)
	republish(t, n.JS, dups[:len(dups)/2])
	stop = startProjector(t, n, db, nil)
	projtest.WaitCaughtUp(t, n.JS, 2*time.Minute)
	stop()
	after, err := db.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := before.Diff(after); len(diff) > 0 {
		t.Fatalf("re-delivery changed the read model:\n%s", strings.Join(diff, "\n"))
	}
}

// projectorBinary builds cmd/projector once per test binary.
func projectorBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "projector")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/projector")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build projector: %v", err)
	}
	return bin
}

var binDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "duroscope-e2e-bin")
	if err != nil {
		panic(err)
	}
	binDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// startProcess starts a projector process and returns it.
func startProcess(t *testing.T, bin string, n *testenv.NATS, db *testenv.Database, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--http-addr="}, extra...)...)
	cmd.Env = append(os.Environ(),
		"DUROSCOPE_NATS_URL="+n.URL,
		"DUROSCOPE_CLICKHOUSE_ADDR="+db.Addr,
		"DUROSCOPE_CLICKHOUSE_DATABASE="+db.Name,
		"DUROSCOPE_ACK_WAIT=2s",
		"DUROSCOPE_BATCH_SIZE=2000",
		"DUROSCOPE_FLUSH_INTERVAL=20ms",
		"DUROSCOPE_LOG_LEVEL=warn",
	)
	logf, err := os.Create(filepath.Join(t.TempDir(), "projector.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("projector log:\n%s", b)
		}
	})
	return cmd
}

func ackFloor(t *testing.T, js jetstream.JetStream, consumer string) uint64 {
	t.Helper()
	c, err := js.Consumer(context.Background(), events.DefaultStream, consumer)
	if err != nil {
		return 0
	}
	ci, err := c.Info(context.Background())
	if err != nil {
		return 0
	}
	return ci.AckFloor.Stream
}

func TestKilledProjectorRestartedGivesIdenticalResults(t *testing.T) {
	evs := workload(13, workloadInstances)
	want := reference(t, "killref", evs)

	bin := projectorBinary(t)
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "killed")
	publish(t, n.JS, evs)
	rng := rand.New(rand.NewPCG(1, 2))
	total := uint64(len(evs))
	kills := 0
	for kills < 5 {
		cmd := startProcess(t, bin, n, db)
		// Kill at a random point of progress, mid-batch as often as not.
		target := ackFloor(t, n.JS, projector.ConsumerPrefix) + uint64(rng.IntN(int(total/8)+1))
		deadline := time.Now().Add(60 * time.Second)
		for ackFloor(t, n.JS, projector.ConsumerPrefix) < target && time.Now().Before(deadline) {
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		kills++
		if ackFloor(t, n.JS, projector.ConsumerPrefix) >= total {
			break
		}
	}
	cmd := startProcess(t, bin, n, db)
	projtest.WaitCaughtUp(t, n.JS, 3*time.Minute)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	got, err := db.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := want.Diff(got); len(diff) > 0 {
		t.Fatalf("after %d kills the read model differs from an uninterrupted run:\n%s", kills, strings.Join(diff, "\n"))
	}
	t.Logf("%d SIGKILLs during %d events; tables identical", kills, len(evs))
}

func TestTwoProjectorProcessesGiveIdenticalResults(t *testing.T) {
	evs := workload(14, workloadInstances)
	want := reference(t, "tworef", evs)

	bin := projectorBinary(t)
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "two")
	publish(t, n.JS, shuffleDup(evs, 5, 300, 0.1))
	a := startProcess(t, bin, n, db, "--partition", "0/2")
	b := startProcess(t, bin, n, db, "--partition", "1/2")
	projtest.WaitCaughtUp(t, n.JS, 3*time.Minute, projector.ConsumerName(0, 2), projector.ConsumerName(1, 2))
	for _, c := range []*exec.Cmd{a, b} {
		_ = c.Process.Signal(syscall.SIGTERM)
		_ = c.Wait()
	}
	got, err := db.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := want.Diff(got); len(diff) > 0 {
		t.Fatalf("two partitioned projectors differ from one:\n%s", strings.Join(diff, "\n"))
	}
}

func TestMalformedMessagesAreDeadLetteredAndTheRestProjected(t *testing.T) {
	evs := workload(15, 500)
	want := reference(t, "dlqref", evs)

	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "dlq")
	bad := [][]byte{
		[]byte(`not json`),
		[]byte(`[1,2,3]`),
		[]byte(`{"event_id":1}`),
		[]byte(`{"event_id":0,"source_event_id":null,"instance_id":"x","execution_id":1,"timestamp_ms":1,"type":"OrchestrationCompleted","output":""}`),
		[]byte(`{"event_id":1.0,"source_event_id":null,"instance_id":"x","execution_id":1,"timestamp_ms":1,"type":"OrchestrationCompleted","output":""}`),
		[]byte(`{"event_id":2,"source_event_id":null,"instance_id":"","execution_id":1,"timestamp_ms":1,"type":"OrchestrationCompleted","output":""}`),
		[]byte("{\"event_id\":2,\"source_event_id\":null,\"instance_id\":\"\xff\",\"execution_id\":1,\"timestamp_ms\":1,\"type\":\"OrchestrationCompleted\",\"output\":\"\"}"),
		[]byte(`{"event_id":2,"source_event_id":null,"instance_id":"x","execution_id":1,"timestamp_ms":-5,"type":"OrchestrationCompleted","output":""}`),
		[]byte(`{"event_id":2,"source_event_id":null,"instance_id":"x","execution_id":1,"timestamp_ms":5,"type":"ActivityScheduled","input":""}`),
		[]byte(strings.Repeat("[", 100) + strings.Repeat("]", 100)),
		append(append([]byte(`{"event_id":2,"source_event_id":null,"instance_id":"x","execution_id":1,"timestamp_ms":5,"type":"OrchestrationCompleted","output":"`), []byte(strings.Repeat("a", 1<<20))...), []byte(`"}`)...),
	}
	// Interleave the bad messages with the good ones.
	half := len(evs) / 2
	publish(t, n.JS, evs[:half])
	publishRaw(t, n.JS, "duroxide.history.bad", bad)
	publish(t, n.JS, evs[half:])
	stop := startProjector(t, n, db, nil)
	projtest.WaitCaughtUp(t, n.JS, 2*time.Minute)
	stop()

	got, err := db.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := want.Diff(got); len(diff) > 0 {
		t.Fatalf("valid events not projected as without the bad ones:\n%s", strings.Join(diff, "\n"))
	}
	dlq, err := n.JS.Stream(context.Background(), events.DLQStream(events.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}
	info, err := dlq.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(len(bad)) {
		t.Fatalf("dead-letter stream holds %d messages, want %d", info.State.Msgs, len(bad))
	}
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := dlq.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		reason := m.Header.Get("Duroscope-Error")
		if reason == "" || m.Header.Get("Duroscope-Original-Subject") != "duroxide.history.bad" {
			t.Errorf("dead letter %d lacks its headers: %v", seq, m.Header)
		}
		if _, err := strconv.ParseUint(m.Header.Get("Duroscope-Original-Sequence"), 10, 64); err != nil {
			t.Errorf("dead letter %d: bad original sequence header: %v", seq, err)
		}
		if int(seq) <= len(bad) && string(m.Data) != string(bad[seq-1]) {
			t.Errorf("dead letter %d payload is not the original bytes", seq)
		}
		t.Logf("dead letter %d: %s", seq, reason)
	}
}
