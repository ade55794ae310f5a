package query

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestUnavailable(t *testing.T) {
	cause := fmt.Errorf("list instances: %w", context.DeadlineExceeded)
	err := fmt.Errorf("reader: %w", Unavailable(cause))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v: lost a class or the cause", err)
	}
	if err.Error() != "reader: list instances: context deadline exceeded" {
		t.Fatalf("text %q: want the cause's", err.Error())
	}
	if Unavailable(nil) != nil {
		t.Fatal("Unavailable(nil) != nil")
	}
	if twice := Unavailable(Unavailable(cause)); twice.Error() != cause.Error() || !errors.Is(twice, ErrUnavailable) {
		t.Fatalf("marked twice: %v", twice)
	}
	if errors.Is(errors.New("code: 47, message: Unknown identifier: x"), ErrUnavailable) {
		t.Fatal("an unmarked error is unavailable")
	}
}
