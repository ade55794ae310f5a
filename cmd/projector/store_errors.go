package main

import (
	"errors"

	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/readmodel/chconn"
)

// rejectedByClickHouse is the projector's Config.Rejected: the store's own
// refusals, and the data ClickHouse (or the driver, while encoding it)
// refused (chconn.IsRefused knows which error codes those are).
func rejectedByClickHouse(err error) bool {
	return errors.Is(err, projector.ErrRejected) || chconn.IsRefused(err)
}
