package events

import "testing"

// BenchmarkDecode decodes the fixture lines round-robin; ns/op and allocs/op
// are per event. Compare with BenchmarkDecodeStdlib, the same work done with
// encoding/json.
func BenchmarkDecode(b *testing.B) {
	lines := fixtureLines(b)
	var total int
	for _, l := range lines {
		total += len(l.raw)
	}
	b.SetBytes(int64(total / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Decode(lines[i%len(lines)].raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStdlib is the baseline: a naive encoding/json decode of the
// same lines into a struct of pointers plus a map-based ErrorDetails pass.
func BenchmarkDecodeStdlib(b *testing.B) {
	lines := fixtureLines(b)
	var total int
	for _, l := range lines {
		total += len(l.raw)
	}
	b.SetBytes(int64(total / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := stdlibDecode(lines[i%len(lines)].raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshal encodes the decoded fixture events round-robin.
func BenchmarkMarshal(b *testing.B) {
	lines := fixtureLines(b)
	evs := make([]Event, len(lines))
	for i, l := range lines {
		e, err := Decode(l.raw)
		if err != nil {
			b.Fatal(err)
		}
		e.Raw = nil // force synthesis for unknown types too
		evs[i] = e
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = Marshal(&evs[i%len(evs)])
	}
}
