package projection

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/duroscope/duroscope/events"
)

// benchHistory returns a generated history of about size events.
func benchHistory(size int) []events.Event {
	r := rand.New(rand.NewPCG(uint64(size), 42))
	best := genHistory(r, "bench", size)
	for range 20 { // pick the closest of a few draws, for comparable sizes
		h := genHistory(r, "bench", size)
		if abs(len(h)-size) < abs(len(best)-size) {
			best = h
		}
	}
	return best
}

func abs(v int) int { return max(v, -v) }

// BenchmarkDerive measures Derive on histories of ~10, ~50 and ~500 events,
// delivered in order (the projector's usual case: history read back sorted)
// and shuffled with re-deliveries (the sort path). ns/event is the figure to
// hold against the projector's end-to-end target.
func BenchmarkDerive(b *testing.B) {
	for _, size := range []int{10, 50, 500} {
		h := benchHistory(size)
		shuffled := shuffledWithDuplicates(rand.New(rand.NewPCG(9, 9)), h)
		for _, c := range []struct {
			name string
			in   []events.Event
		}{{"inorder", h}, {"shuffled", shuffled}} {
			b.Run(fmt.Sprintf("events=%d/%s", len(h), c.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Derive(c.in); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(c.in)), "ns/event")
			})
		}
	}
}

// BenchmarkDeriveAll measures a mixed batch of 200 instances of ~25 events.
func BenchmarkDeriveAll(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	var batch []events.Event
	for i := range 200 {
		batch = append(batch, genHistory(r, fmt.Sprintf("i-%d", i), 25)...)
	}
	r.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DeriveAll(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
}
