package connector

import (
	"math/bits"
	"slices"
)

// maxAnchors bounds the anchor ladder (one per power-of-two distance from
// the newest, so 64 cover any rowid range).
const maxAnchors = 64

// ladder keeps anchors of published rows at roughly doubling distances
// below the newest: when the newest no longer holds (its row was deleted,
// so its rowid may be reused, or the table was renumbered), the connector
// re-reads from the newest one that does, re-publishing little.
type ladder struct {
	a []Anchor // ascending Pos
}

// push records a newer anchor and thins the older ones to one per
// power-of-two distance from it, keeping the oldest of each band: so the
// oldest anchor always survives, and the bands fill again as anchors age.
func (l *ladder) push(x Anchor) {
	if n := len(l.a); n > 0 && l.a[n-1].Pos >= x.Pos {
		l.a = l.a[:0] // positions went back: only the new one is known to hold
	}
	l.a = append(l.a, x)
	out := make([]Anchor, 0, min(len(l.a), maxAnchors+1))
	lastBucket := -1
	for _, a := range l.a { // oldest first
		b := bits.Len64(x.Pos - a.Pos)
		if b == lastBucket {
			continue
		}
		lastBucket = b
		out = append(out, a)
	}
	if len(out) > maxAnchors {
		out = out[len(out)-maxAnchors:]
	}
	l.a = out
}

// cut drops the anchors above pos (they were found not to hold).
func (l *ladder) cut(pos uint64) {
	i, _ := slices.BinarySearchFunc(l.a, pos+1, func(a Anchor, p uint64) int {
		switch {
		case a.Pos < p:
			return -1
		case a.Pos > p:
			return 1
		}
		return 0
	})
	l.a = l.a[:i]
}

func (l *ladder) list() []Anchor { return slices.Clone(l.a) }

// head is the newest anchor's position (0 when none).
func (l *ladder) head() uint64 {
	if len(l.a) == 0 {
		return 0
	}
	return l.a[len(l.a)-1].Pos
}
