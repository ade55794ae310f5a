package query

import "errors"

// ErrUnavailable classifies an error as the store being unreachable,
// overloaded or too slow: the same request may succeed later. Test with
// errors.Is; adapters mark their errors with Unavailable.
var ErrUnavailable = errors.New("read model unavailable")

// Unavailable marks err as an ErrUnavailable, keeping err in the chain (so
// errors.Is still finds its cause, e.g. context.DeadlineExceeded) and its
// text as the message. Unavailable(nil) is nil.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return &unavailableError{err: err}
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string   { return e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }
