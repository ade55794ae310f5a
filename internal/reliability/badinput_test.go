package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/oracle"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// TestMalformedCorpus mixes more than 10,000 generated malformed messages
// (13 kinds: truncated JSON, wrong types, huge ids, deep nesting, invalid
// UTF-8, negative and overflowing numbers, missing fields, zero ids, non
// objects, trailing data, over 1 MiB) and valid events of unknown types into
// a generated workload, and runs the projector process over it: the valid
// events (unknown types included) give exactly the tables of a clean run,
// every bad message is in the dead-letter stream with its reason and its
// original bytes, and the projector neither crashes nor stalls.
func TestMalformedCorpus(t *testing.T) {
	nBad, nBig := 10_400, 12
	if heavy() {
		nBad, nBig = 100_000, 50
	}
	valid := workload(34, 1500)
	unknownRaw := unknownTypeEvents(34, valid, 300)
	clean := append([]events.Event(nil), valid...)
	for _, raw := range unknownRaw {
		e, err := events.Decode(raw)
		if err != nil {
			t.Fatalf("an event of unknown type must be valid: %v: %s", err, raw)
		}
		clean = append(clean, e)
	}
	bad := malformedCorpus(34, valid, nBad, nBig)

	// The mixed stream: valid and unknown-type events in order, bad
	// messages at random positions.
	rng := rand.New(rand.NewPCG(34, 35))
	type item struct {
		msg *nats.Msg
		bad int // index in bad + 1; 0 = valid
	}
	items := make([]item, 0, len(clean)+len(bad))
	for i := range clean {
		e := &clean[i]
		m := nats.NewMsg(events.Subject(e.InstanceID))
		m.Data = e.Raw
		m.Header.Set(nats.MsgIdHdr, events.MsgID(e.InstanceID, e.ExecutionID, e.EventID))
		items = append(items, item{msg: m})
	}
	for i := range bad {
		pos := rng.IntN(len(items) + 1)
		items = append(items, item{})
		copy(items[pos+1:], items[pos:])
		items[pos] = item{msg: &nats.Msg{Subject: bad[i].subject, Data: bad[i].data}, bad: i + 1}
	}
	msgs := make([]*nats.Msg, len(items))
	for i := range items {
		msgs[i] = items[i].msg
	}

	// Clean reference: the valid events alone, projected in-process.
	refN := testenv.StartNATS(t)
	refDB := testenv.NewDatabase(t, "relcorpusref")
	publishEvents(t, refN.JS, clean)
	stopRef := startProjector(t, refN, chwrite.NewWriter(refDB.Conn, chwrite.WriterConfig{Database: refDB.Name}), nil)
	projtest.WaitCaughtUp(t, refN.JS, 3*time.Minute)
	stopRef()
	want, err := refDB.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "relcorpus")
	seqs := publishMsgs(t, n.JS, msgs)
	badBySeq := map[uint64]*badMessage{}
	for i, it := range items {
		if it.bad > 0 {
			badBySeq[seqs[i]] = &bad[it.bad-1]
		}
	}
	proj := startProc(t, "projector", binary(t, "projector"), nil, projectorEnv(n.URL, db.Addr, db.Name))
	start := time.Now()
	// No stall: the whole stream is acked in bounded time.
	projtest.WaitCaughtUp(t, n.JS, 5*time.Minute)
	took := time.Since(start)
	if proj.exited() {
		t.Fatalf("projector crashed: %v", proj.err)
	}
	proj.stop()

	got, err := db.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := want.Diff(got); len(diff) > 0 {
		t.Errorf("valid events not projected as in a clean run:\n%s", strings.Join(diff, "\n"))
	}
	unknownStored := countRows(t, db, "SELECT count() FROM (SELECT DISTINCT instance_id, execution_id, event_id FROM {db}.history_v3 WHERE known = 0)")
	wantUnknown := 0
	for i := range clean {
		if !clean[i].Known {
			wantUnknown++
		}
	}
	if unknownStored != uint64(wantUnknown) {
		t.Errorf("%d events of unknown type stored, want %d", unknownStored, wantUnknown)
	}

	// Every bad message dead-lettered once, with its bytes and its reason.
	dls := deadLetters(t, n.JS)
	seen := map[uint64]bool{}
	reasons := map[string]int{}
	for _, m := range dls {
		seq, err := strconv.ParseUint(m.Header.Get("Duroscope-Original-Sequence"), 10, 64)
		b := badBySeq[seq]
		switch {
		case err != nil || b == nil:
			t.Errorf("dead letter %d: original sequence %q is not a bad message's", m.Sequence, m.Header.Get("Duroscope-Original-Sequence"))
			continue
		case seen[seq]:
			t.Errorf("bad message %d dead-lettered twice", seq)
		case string(m.Data) != string(b.data):
			t.Errorf("dead letter of %d (%s): payload differs from the original bytes", seq, b.category)
		case m.Header.Get("Duroscope-Error") == "" || m.Header.Get("Duroscope-Original-Subject") != b.subject:
			t.Errorf("dead letter of %d (%s): headers %v", seq, b.category, m.Header)
		}
		seen[seq] = true
		reason := m.Header.Get("Duroscope-Error")
		if i := strings.Index(reason, ":"); i > 0 {
			reason = reason[:i]
		}
		reasons[reason]++
	}
	missing := 0
	byCat := map[string]int{}
	for seq, b := range badBySeq {
		byCat[b.category]++
		if !seen[seq] {
			missing++
			if missing <= 5 {
				t.Errorf("bad message %d (%s) not dead-lettered: %.200q", seq, b.category, b.data)
			}
		}
	}
	o := oracle.New(clean)
	checked := checkOracle(t, apiServer(t, db.Addr, db.Name, queryNowMs(clean)), o, queryNowMs(clean), 100)
	summaryLine(t, "malformed-corpus", "messages", len(msgs), "valid", len(clean), "of_which_unknown_type", wantUnknown,
		"malformed", len(bad), "dead_lettered", len(dls), "not_dead_lettered", missing, "unknown_type_stored", unknownStored,
		"tables_equal_clean_run", len(want.Diff(got)) == 0, "caught_up_in", took.Round(time.Millisecond),
		"answers_checked", checked, "by_category", fmtCounts(byCat), "reasons_by_field", fmtCounts(reasons))
}

func fmtCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%d", k, m[k])
	}
	return b.String()
}
