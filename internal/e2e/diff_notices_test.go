package e2e

// Differential test with source notices (docs/deletions.md): a generated
// workload with deletions of finished and running instances (cascading to
// sub-orchestrations), ids reused after their deletion, events re-delivered
// after their deletion and prunes of continued-as-new instances, published
// shuffled and duplicated, must give every endpoint the oracle's answer.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/client"
	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/gen"
)

// noticeWorkload is a generated workload with notices, in time order.
func noticeWorkload(seed int64, instances int) []gen.Message {
	var out []gen.Message
	hists := gen.Histories(gen.Config{
		Seed: seed, Instances: instances, StartMs: diffStartMs, SpreadMs: 3_600_000,
		RunningFraction: 0.2, UnknownTypeFraction: 0.03, CancelFraction: 0.05,
		IDPrefix: fmt.Sprintf("n%d-", seed),
	})
	for m := range gen.WithNotices(hists, gen.NoticeOptions{Seed: seed, DeleteFraction: 0.3, ReuseFraction: 0.4,
		RedeliverFraction: 0.5, PruneFraction: 0.6}) {
		out = append(out, m)
	}
	return out
}

// shuffleDupMessages reorders msgs within windows and inserts copies of a
// fraction of them (notices included) at random places: a notice may then
// arrive before the events it deletes, and an event long after its deletion.
func shuffleDupMessages(msgs []gen.Message, seed uint64, window int, dupFraction float64) []gen.Message {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := append([]gen.Message(nil), msgs...)
	for lo := 0; lo < len(out); lo += window {
		hi := min(lo+window, len(out))
		rng.Shuffle(hi-lo, func(i, j int) { out[lo+i], out[lo+j] = out[lo+j], out[lo+i] })
	}
	n := int(float64(len(msgs)) * dupFraction)
	for range n {
		m := msgs[rng.IntN(len(msgs))]
		m.Copy++
		pos := rng.IntN(len(out) + 1)
		out = append(out, gen.Message{})
		copy(out[pos+1:], out[pos:])
		out[pos] = m
	}
	return out
}

func TestDiffNoticesServiceEqualsOracle(t *testing.T) {
	const seed = 404
	start := time.Now()
	msgs := noticeWorkload(seed, 600)
	pub := shuffleDupMessages(msgs, seed, 400, 0.1)
	var maxTS int64
	deleted := map[string]bool{}
	var nDel, nPrune int
	for _, m := range msgs {
		maxTS = max(maxTS, int64(m.TimestampMs()))
		if m.Notice != nil {
			if m.Notice.Type == events.TypeInstanceDeleted {
				deleted[m.Notice.InstanceID] = true
				nDel++
			} else {
				nPrune++
			}
		}
	}
	nowMs := maxTS + 7*60_000 + 123
	env := diffSetupMessages(t, "diffnotice", pub, diffSnapshots(seed), nowMs)
	t.Logf("%d messages (%d published; %d deletions, %d prunes), projected in %v",
		len(msgs), len(pub), nDel, nPrune, time.Since(start).Round(time.Millisecond))
	r := newDiffReport(t)
	defer r.summary()
	runDiffSteps(t, env, r, diffStep{"instances", diffInstanceEndpoints},
		diffStep{"deleted", func(t *testing.T, env *diffEnv, r *diffReport) { diffDeleted(t, env, r, deleted) }})
}

// diffDeleted: every deleted id is either gone (404 everywhere, NotFound in
// bulk) or, when reused, answered as its new incarnation; pruned
// executions are absent from /executions and /history.
func diffDeleted(t *testing.T, env *diffEnv, r *diffReport, deleted map[string]bool) {
	ctx := context.Background()
	var ids []string
	gone, reused := 0, 0
	work := make(chan string)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				diffDeletedOne(ctx, env, r, id)
			}
		}()
	}
	for id := range deleted {
		ids = append(ids, id)
		if _, ok := env.oracle.Instance(id); ok {
			reused++
		} else {
			gone++
		}
		work <- id
	}
	close(work)
	wg.Wait()
	t.Logf("%d deleted ids: %d gone, %d reused", len(deleted), gone, reused)
	if gone == 0 || reused == 0 {
		t.Fatal("the workload lacks deleted or reused ids")
	}
	for lo := 0; lo < len(ids); lo += 10000 {
		part := ids[lo:min(lo+10000, len(ids))]
		got, err := env.cl.BulkStatus(ctx, part)
		if err != nil {
			r.fail("POST /v1/bulk/status (deleted)", "%v", err)
			continue
		}
		r.equal("POST /v1/bulk/status (deleted)", fmt.Sprintf("%d deleted ids", len(part)),
			api.BulkStatusResponse{Statuses: got}, env.oracle.BulkStatus(part))
	}
}

// diffDeletedOne compares one deleted id: its new incarnation when reused,
// else 404 from every per-instance endpoint.
func diffDeletedOne(ctx context.Context, env *diffEnv, r *diffReport, id string) {
	if _, ok := env.oracle.Instance(id); ok {
		diffOneInstance(ctx, env, r, id)
		return
	}
	_, err := env.cl.Instance(ctx, id)
	want404(r, "GET /v1/instances/{id} (deleted)", id, err)
	_, err = env.cl.Details(ctx, id)
	want404(r, "GET /v1/instances/{id}/details (deleted)", id, err)
	_, err = env.cl.Executions(ctx, id)
	want404(r, "GET /v1/instances/{id}/executions (deleted)", id, err)
	_, err = env.cl.History(ctx, id, client.HistoryParams{})
	want404(r, "GET /v1/instances/{id}/history (deleted)", id, err)
}
