package main

import (
	"errors"
	"net/url"
	"strings"

	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/readmodel/chconn"
)

// rejectedByClickHouse is the projector's Config.Rejected: the store's own
// refusals, and the data ClickHouse (or the driver, while encoding it)
// refused (chconn.IsRefused knows which error codes those are).
func rejectedByClickHouse(err error) bool {
	return errors.Is(err, projector.ErrRejected) || chconn.IsRefused(err)
}

// redactURL hides credentials in NATS URLs (a comma-separated list) before
// they reach a log or an error message.
func redactURL(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable URL)"
			continue
		}
		if u.User != nil {
			u.User = url.User("REDACTED")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
