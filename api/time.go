package api

import (
	"fmt"
	"time"
)

// TimeLayout is the contract's answer time format.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Format renders epoch ms in the contract's form.
func (t Time) Format() string {
	return time.UnixMilli(int64(t)).UTC().Format(TimeLayout)
}

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 26)
	b = append(b, '"')
	b = time.UnixMilli(int64(t)).UTC().AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts the contract's RFC 3339 form.
func (t *Time) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("time: want a quoted RFC 3339 string, got %s", b)
	}
	p, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return fmt.Errorf("time: %w", err)
	}
	*t = Time(p.UnixMilli())
	return nil
}
