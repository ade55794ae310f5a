package reliability

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/recount"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// refusingStore is the real read-model writer with a fault injected: while
// on, it refuses (projector.ErrRefused, naming the row) any history write
// that holds a poisoned event and any derived write that holds the rows of
// one chosen instance, the way a server refuses a value it cannot store.
// Every other write goes to ClickHouse.
//
// Why injected: ClickHouse 18.16 cannot be made to refuse one row of this
// schema. Its columns are plain String and integers (no constraints, no
// Nullable-to-non-Nullable casts, no DateTime parsing), so any event the
// decoder accepts is a storable row, and the only per-INSERT failures
// (memory limits, too many parts) are about the whole block and the server's
// state, not about a row. See RELIABILITY.md.
type refusingStore struct {
	*chwrite.Writer
	poison         map[events.Key]bool
	refuseInstance string
	on             atomic.Bool
	historyWrites  atomic.Int64
	derivedWrites  atomic.Int64
	refusals       atomic.Int64
}

func (s *refusingStore) WriteHistory(ctx context.Context, rows []chwrite.HistoryRow) error {
	s.historyWrites.Add(1)
	if s.on.Load() {
		for i, r := range rows {
			if s.poison[r.Event.EventKey()] {
				s.refusals.Add(1)
				return fmt.Errorf("insert into history: row %d (event %s/%d/%d): value refused by the server (injected fault): %w",
					i, r.Event.InstanceID, r.Event.ExecutionID, r.Event.EventID, projector.ErrRefused)
			}
		}
	}
	return s.Writer.WriteHistory(ctx, rows)
}

func (s *refusingStore) WriteRows(ctx context.Context, rows []projection.Rows) (recount.Cells, error) {
	s.derivedWrites.Add(1)
	if s.on.Load() {
		for i, r := range rows {
			if r.Instance.InstanceID == s.refuseInstance {
				s.refusals.Add(1)
				return recount.Cells{}, fmt.Errorf("insert into instances: row %d (instance %s): value refused by the server (injected fault): %w",
					i, r.Instance.InstanceID, projector.ErrRefused)
			}
		}
	}
	return s.Writer.WriteRows(ctx, rows)
}

// runRedrive runs cmd/redrive to completion and returns its output.
func runRedrive(t *testing.T, natsURL string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary(t, "redrive"), append([]string{"--idle-timeout", "3s"}, args...)...)
	cmd.Env = append(cmd.Environ(), "DUROSCOPE_NATS_URL="+natsURL, "DUROSCOPE_LOG_LEVEL=warn")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("redrive %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// TestRefusedEventsIsolatedThenRedriven: the read model refuses a few
// events and one instance's derived rows while a workload (with some
// malformed messages) is projected. The projector splits the refused writes
// down to the refused events, dead-letters exactly those with the reason
// and writes everything else (answers equal the oracle over the accepted
// events). Then, with the fault gone, cmd/redrive: a dry run changes
// nothing; re-driving the refused ones gets them projected (answers equal
// the oracle over the whole workload); re-driving the rest sends the
// still-malformed ones back to the dead-letter stream.
func TestRefusedEventsIsolatedThenRedriven(t *testing.T) {
	evs := workload(35, 1000)
	rng := rand.New(rand.NewPCG(35, 36))
	// Poison 15 events of distinct instances, and refuse the derived rows
	// of one other instance with several events.
	poison := map[events.Key]bool{}
	poisonInst := map[string]bool{}
	for len(poison) < 15 {
		e := &evs[rng.IntN(len(evs))]
		if !poisonInst[e.InstanceID] {
			poisonInst[e.InstanceID] = true
			poison[e.EventKey()] = true
		}
	}
	var refuseInstance string
	perInstance := map[string]int{}
	for i := range evs {
		perInstance[evs[i].InstanceID]++
	}
	for i := range evs {
		if id := evs[i].InstanceID; perInstance[id] >= 8 && !poisonInst[id] {
			refuseInstance = id
			break
		}
	}
	var accepted []events.Event
	refusedEvents := 0
	for i := range evs {
		if poison[evs[i].EventKey()] || evs[i].InstanceID == refuseInstance {
			refusedEvents++
			continue
		}
		accepted = append(accepted, evs[i])
	}
	malformed := malformedCorpus(35, evs, 26, 0)

	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "relrefuse")
	store := &refusingStore{Writer: chwrite.NewWriter(db.Conn, chwrite.WriterConfig{Database: db.Name}),
		poison: poison, refuseInstance: refuseInstance}
	store.on.Store(true)
	startProjector(t, n, store, nil)
	third := len(evs) / 3
	publishEvents(t, n.JS, evs[:third])
	var badMsgs []*nats.Msg
	for _, b := range malformed {
		badMsgs = append(badMsgs, &nats.Msg{Subject: b.subject, Data: b.data})
	}
	publishMsgs(t, n.JS, badMsgs)
	publishEvents(t, n.JS, evs[third:])
	projtest.WaitCaughtUp(t, n.JS, 3*time.Minute)

	dls := deadLetters(t, n.JS)
	refusedDL := 0
	for _, m := range dls {
		if strings.Contains(m.Header.Get("Duroscope-Error"), "refused by the read model") {
			refusedDL++
			if !strings.Contains(m.Header.Get("Duroscope-Error"), "injected fault") {
				t.Errorf("dead letter %d: reason %q lacks the store's reason", m.Sequence, m.Header.Get("Duroscope-Error"))
			}
			e, err := events.Decode(m.Data)
			if err != nil || !(poison[e.EventKey()] || e.InstanceID == refuseInstance) {
				t.Errorf("dead letter %d was not refused by the store: %v %.100s", m.Sequence, err, m.Data)
			}
		}
	}
	if refusedDL != refusedEvents || len(dls) != refusedEvents+len(malformed) {
		t.Errorf("dead letters: %d refused (want %d), %d in all (want %d)", refusedDL, refusedEvents, len(dls), refusedEvents+len(malformed))
	}
	nowMs := queryNowMs(evs)
	api := apiServer(t, db.Addr, db.Name, nowMs)
	checkedBefore := checkOracle(t, api, oracle.New(accepted), nowMs, 150)
	historyWrites, derivedWrites, refusals := store.historyWrites.Load(), store.derivedWrites.Load(), store.refusals.Load()

	// The fault is repaired: re-drive.
	store.on.Store(false)
	dry := runRedrive(t, n.URL, "--dry-run")
	if c := strings.Count(dry, "would re-drive"); c != len(dls) || len(deadLetters(t, n.JS)) != len(dls) {
		t.Errorf("dry run listed %d of %d dead letters and left %d: %s", c, len(dls), len(deadLetters(t, n.JS)), tail(dry, 500))
	}
	out1 := runRedrive(t, n.URL, "--reason-contains", "refused by the read model")
	projtest.WaitCaughtUp(t, n.JS, 2*time.Minute)
	left := deadLetters(t, n.JS)
	if len(left) != len(malformed) {
		t.Errorf("after re-driving the refused events %d dead letters are left, want the %d malformed ones: %s", len(left), len(malformed), out1)
	}
	checkedAfter := checkOracle(t, api, oracle.New(evs), nowMs, 150)

	// Re-driving the malformed ones: they come back, from new sequences.
	oldSeqs := map[string]uint64{}
	for _, m := range left {
		seq, _ := strconv.ParseUint(m.Header.Get("Duroscope-Original-Sequence"), 10, 64)
		oldSeqs[string(m.Data)] = seq
	}
	lastBefore := streamLastSeq(t, n.JS)
	out2 := runRedrive(t, n.URL)
	projtest.WaitCaughtUp(t, n.JS, 2*time.Minute)
	back := deadLetters(t, n.JS)
	if dlq, err := n.JS.Stream(context.Background(), events.DLQStream(events.DefaultStream)); err == nil {
		if info, err := dlq.Info(context.Background()); err == nil && info.State.Consumers != 0 {
			t.Errorf("redrive left %d consumers on the dead-letter stream", info.State.Consumers)
		}
	}
	if len(back) != len(malformed) {
		t.Errorf("after re-driving the malformed messages the dead-letter stream holds %d, want %d: %s", len(back), len(malformed), out2)
	}
	for _, m := range back {
		seq, _ := strconv.ParseUint(m.Header.Get("Duroscope-Original-Sequence"), 10, 64)
		if _, ok := oldSeqs[string(m.Data)]; !ok || seq <= lastBefore {
			t.Errorf("dead letter %d: not a re-driven copy of a malformed message (original sequence %d, re-drive started after %d)", m.Sequence, seq, lastBefore)
		}
		if m.Header.Get("Duroscope-Error") == "" {
			t.Errorf("dead letter %d has no reason", m.Sequence)
		}
	}
	summaryLine(t, "refused-rows-bisect-and-redrive", "events", len(evs), "malformed", len(malformed),
		"refused_events", refusedEvents, "of_which_derived_rows_refused", perInstance[refuseInstance],
		"dead_lettered_refused", refusedDL, "store_refusals", refusals, "history_writes", historyWrites,
		"derived_writes", derivedWrites, "answers_checked_before_redrive", checkedBefore,
		"answers_checked_after_redrive", checkedAfter, "redrive_refused", lastLine(out1),
		"redrive_all", lastLine(out2), "dead_letters_after", len(back))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strconv.Quote(s)
}
