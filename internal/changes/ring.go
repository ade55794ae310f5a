package changes

// ring holds the newest entries, up to its capacity.
type ring struct {
	buf   []entry
	start int // index of the oldest
	n     int
}

func newRing(capacity int) ring { return ring{buf: make([]entry, capacity)} }

// push appends e; when full, the oldest entry is evicted and returned.
func (r *ring) push(e entry) (old entry, evicted bool) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = e
		r.n++
		return entry{}, false
	}
	old = r.buf[r.start]
	r.buf[r.start] = e
	r.start = (r.start + 1) % len(r.buf)
	return old, true
}

// since returns the entries after seq, oldest first.
func (r *ring) since(seq uint64) []entry {
	var out []entry
	for i := range r.n {
		if e := r.buf[(r.start+i)%len(r.buf)]; e.seq > seq {
			out = append(out, e)
		}
	}
	return out
}

func (r *ring) clear() {
	clear(r.buf)
	r.start, r.n = 0, 0
}
