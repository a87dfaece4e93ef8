package reassembly

import "sort"

// span is the half-open byte range [lo, hi) of a stream.
type span struct{ lo, hi int64 }

// spans is a set of stream offsets: sorted, disjoint, non-adjacent ranges.
// An in-order stream is one span, extended in place.
type spans struct {
	s     []span
	total int64 // bytes in the set
}

// add puts [lo, hi) in the set and returns how many of its bytes were
// already there.
func (r *spans) add(lo, hi int64) (overlap int64) {
	if lo >= hi {
		return 0
	}
	n := len(r.s)
	if n == 0 || r.s[n-1].hi < lo {
		r.s = append(r.s, span{lo, hi})
		r.total += hi - lo
		return 0
	}
	if last := &r.s[n-1]; last.hi == lo { // the in-order case
		last.hi = hi
		r.total += hi - lo
		return 0
	}
	// First span that touches or follows lo, and first span after hi.
	i := sort.Search(n, func(k int) bool { return r.s[k].hi >= lo })
	j := i
	nlo, nhi := lo, hi
	for j < n && r.s[j].lo <= hi {
		overlap += min(hi, r.s[j].hi) - max(lo, r.s[j].lo)
		nlo = min(nlo, r.s[j].lo)
		nhi = max(nhi, r.s[j].hi)
		r.total -= r.s[j].hi - r.s[j].lo
		j++
	}
	r.total += nhi - nlo
	switch {
	case i == j:
		r.s = append(r.s, span{})
		copy(r.s[i+1:], r.s[i:])
		r.s[i] = span{nlo, nhi}
	default:
		r.s[i] = span{nlo, nhi}
		r.s = append(r.s[:i+1], r.s[j:]...)
	}
	return overlap
}

// covered appends to dst the parts of [lo, hi) in the set.
func (r *spans) covered(dst []span, lo, hi int64) []span {
	i := sort.Search(len(r.s), func(k int) bool { return r.s[k].hi > lo })
	for ; i < len(r.s) && r.s[i].lo < hi; i++ {
		dst = append(dst, span{max(lo, r.s[i].lo), min(hi, r.s[i].hi)})
	}
	return dst
}

// gaps appends to dst the parts of [lo, hi) not in the set.
func (r *spans) gaps(dst []span, lo, hi int64) []span {
	i := sort.Search(len(r.s), func(k int) bool { return r.s[k].hi > lo })
	for ; i < len(r.s) && r.s[i].lo < hi && lo < hi; i++ {
		if r.s[i].lo > lo {
			dst = append(dst, span{lo, r.s[i].lo})
		}
		lo = r.s[i].hi
	}
	if lo < hi {
		dst = append(dst, span{lo, hi})
	}
	return dst
}

// shift moves every range n bytes later.
func (r *spans) shift(n int64) {
	for i := range r.s {
		r.s[i].lo += n
		r.s[i].hi += n
	}
}

// fillLowestGap joins the first two ranges, giving up the gap between
// them, and returns its size.
func (r *spans) fillLowestGap() int64 {
	if len(r.s) < 2 {
		return 0
	}
	gap := r.s[1].lo - r.s[0].hi
	r.s[0].hi = r.s[1].hi
	r.s = append(r.s[:1], r.s[2:]...)
	r.total += gap
	return gap
}
