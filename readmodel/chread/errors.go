package chread

import (
	"github.com/duroscope/duroscope/internal/query"
	"github.com/duroscope/duroscope/readmodel/chconn"
)

// classify sorts an error of the connection or the server into the port's
// classes (package query): query.ErrUnavailable for the store being
// unreachable, overloaded or too slow (chconn.IsUnavailable knows which
// errors those are); the error as it is (a defect) for a statement the
// server refuses on its merits or arguments the driver cannot send.
func classify(err error) error {
	if chconn.IsUnavailable(err) {
		return query.Unavailable(err)
	}
	return err
}
