package projector

import (
	"hash/maphash"
	"math"
)

// knownSet answers "may this instance already have rows in ClickHouse?".
// A false answer is certain (the instance is new, no read-back needed); a true
// answer may be a false positive, which only costs one LoadHistories read.
// It is a scalable Bloom filter: when a filter reaches its capacity a new one,
// twice as large, is added, so the false-positive rate stays bounded however
// many instances the stream holds.
type knownSet struct {
	seed    maphash.Seed
	filters []*bloom
	fpRate  float64
}

type bloom struct {
	bits     []uint64
	k        uint32
	m        uint64
	n, limit int
}

func newKnownSet(capacity int, fpRate float64) *knownSet {
	if capacity < 1024 {
		capacity = 1024
	}
	s := &knownSet{seed: maphash.MakeSeed(), fpRate: fpRate}
	s.filters = []*bloom{newBloom(capacity, fpRate)}
	return s
}

func newBloom(capacity int, fpRate float64) *bloom {
	m := uint64(math.Ceil(-float64(capacity) * math.Log(fpRate) / (math.Ln2 * math.Ln2)))
	m = (m + 63) &^ 63
	k := uint32(math.Round(float64(m) / float64(capacity) * math.Ln2))
	if k < 1 {
		k = 1
	}
	return &bloom{bits: make([]uint64, m/64), k: k, m: m, limit: capacity}
}

func (s *knownSet) hashes(id string) (uint64, uint64) {
	h1 := maphash.String(s.seed, id)
	h2 := (h1 >> 33) | (h1 << 31)
	return h1, h2 | 1
}

func (b *bloom) has(h1, h2 uint64) bool {
	for i := uint32(0); i < b.k; i++ {
		p := (h1 + uint64(i)*h2) % b.m
		if b.bits[p/64]&(1<<(p%64)) == 0 {
			return false
		}
	}
	return true
}

func (b *bloom) add(h1, h2 uint64) {
	for i := uint32(0); i < b.k; i++ {
		p := (h1 + uint64(i)*h2) % b.m
		b.bits[p/64] |= 1 << (p % 64)
	}
	b.n++
}

// MayContain reports whether id may have been added.
func (s *knownSet) MayContain(id string) bool {
	h1, h2 := s.hashes(id)
	for _, f := range s.filters {
		if f.has(h1, h2) {
			return true
		}
	}
	return false
}

// Add records id.
func (s *knownSet) Add(id string) {
	h1, h2 := s.hashes(id)
	for _, f := range s.filters {
		if f.has(h1, h2) {
			return
		}
	}
	last := s.filters[len(s.filters)-1]
	if last.n >= last.limit {
		// Halve the rate per new filter so the sum over filters stays bounded.
		last = newBloom(last.limit*2, s.fpRate/float64(int(1)<<len(s.filters)))
		s.filters = append(s.filters, last)
	}
	last.add(h1, h2)
}

// Bytes is the memory the filters hold.
func (s *knownSet) Bytes() int {
	n := 0
	for _, f := range s.filters {
		n += len(f.bits) * 8
	}
	return n
}
