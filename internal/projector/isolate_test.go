package projector

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestIsolateFindsExactlyTheRefusedRows drives isolate with a write that
// refuses any range holding a poisoned row (as a store refusing one value
// fails the whole INSERT) and checks that exactly the poisoned rows come
// back refused, every other row is written exactly once, and the number of
// writes stays O(k log n).
func TestIsolateFindsExactlyTheRefusedRows(t *testing.T) {
	for _, c := range []struct {
		name   string
		n      int
		poison []int
	}{
		{"none", 100, nil},
		{"single row batch", 1, []int{0}},
		{"first", 64, []int{0}},
		{"last", 64, []int{63}},
		{"adjacent", 100, []int{41, 42}},
		{"spread", 1000, []int{3, 500, 501, 999, 777}},
		{"all", 8, []int{0, 1, 2, 3, 4, 5, 6, 7}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := map[int]bool{}
			for _, i := range c.poison {
				bad[i] = true
			}
			p := &Projector{cfg: Config{AckWait: time.Minute}, log: zerolog.Nop()}
			written := map[int]int{}
			calls := 0
			refused, err := p.isolate(context.Background(), &batch{}, "test", c.n, func(lo, hi int) error {
				calls++
				for i := lo; i < hi; i++ {
					if bad[i] {
						return fmt.Errorf("row %d: %w", i, ErrRefused)
					}
				}
				for i := lo; i < hi; i++ {
					written[i]++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(refused) != len(bad) {
				t.Errorf("refused %v, want %v", refused, c.poison)
			}
			for i := range bad {
				if refused[i] == "" {
					t.Errorf("row %d not refused (refused: %v)", i, refused)
				}
			}
			for i := 0; i < c.n; i++ {
				if want := map[bool]int{true: 0, false: 1}[bad[i]]; written[i] != want {
					t.Errorf("row %d written %d times, want %d", i, written[i], want)
				}
			}
			// Each poisoned row costs at most two writes per level.
			limit := 1
			for k := c.n; k > 1; k /= 2 {
				limit += 2 * max(1, len(bad))
			}
			if calls > limit {
				t.Errorf("%d writes for %d rows with %d refused; want at most %d", calls, c.n, len(bad), limit)
			}
		})
	}
}

// TestIsolateRetriesUnavailability checks that an error that is not a
// refusal is retried (the store was down), not bisected.
func TestIsolateRetriesUnavailability(t *testing.T) {
	p := &Projector{cfg: Config{AckWait: time.Minute}, log: zerolog.Nop()}
	calls := 0
	refused, err := p.isolate(context.Background(), &batch{}, "test", 10, func(lo, hi int) error {
		calls++
		if calls < 3 {
			return errors.New("dial tcp 127.0.0.1:9000: connection refused")
		}
		if lo != 0 || hi != 10 {
			t.Errorf("an unavailable store was bisected: wrote [%d, %d)", lo, hi)
		}
		return nil
	})
	if err != nil || len(refused) != 0 || calls != 3 {
		t.Errorf("refused %v, err %v, %d calls; want the whole batch written on the 3rd try", refused, err, calls)
	}
	// Cancelled while the store is down: the error says so, nothing is refused.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.isolate(ctx, &batch{}, "test", 5, func(lo, hi int) error { return errors.New("down") }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled isolate: %v", err)
	}
}
