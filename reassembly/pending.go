package reassembly

import (
	"math/bits"
	"sort"
)

// chunk is out-of-order data held until the bytes before it arrive.
type chunk struct {
	off  int64
	data []byte // len = bytes held; cap from the pool's size classes
}

func (c *chunk) end() int64 { return c.off + int64(len(c.data)) }

// pending is a stream's out-of-order data: chunks sorted by offset,
// disjoint, all at or past the stream's delivered edge.
type pending struct {
	c     []chunk
	bytes int64 // capacity of the chunks' buffers, as charged to budgets
}

// pool recycles chunk buffers in power-of-two size classes so that
// steady out-of-order traffic does not allocate. One shard owns it.
type pool struct {
	free [poolClasses][][]byte
	held int64 // bytes in the free lists
}

const (
	poolMinShift = 8 // 256 B
	poolClasses  = 9 // up to 64 KiB
	poolMaxHeld  = 8 << 20
)

func sizeClass(n int) int {
	if n <= 1<<poolMinShift {
		return 0
	}
	return bits.Len(uint(n-1)) - poolMinShift
}

// get returns an empty buffer with room for n bytes.
func (p *pool) get(n int) []byte {
	c := sizeClass(n)
	if c >= poolClasses {
		return make([]byte, 0, n)
	}
	if l := p.free[c]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[c] = l[:len(l)-1]
		p.held -= int64(cap(b))
		return b
	}
	return make([]byte, 0, 1<<(c+poolMinShift))
}

func (p *pool) put(b []byte) {
	c := sizeClass(cap(b))
	if c >= poolClasses || 1<<(c+poolMinShift) != cap(b) || p.held+int64(cap(b)) > poolMaxHeld {
		return // odd size, or enough kept: left to the garbage collector
	}
	p.free[c] = append(p.free[c], b[:0])
	p.held += int64(cap(b))
}

// insert stores data at off, last copy winning over bytes already held.
// Only the parts not held need new buffers: the caller passes the gaps
// (parts of [off, off+len(data)) held by no chunk) it computed already.
// It returns the bytes of buffer capacity added.
func (q *pending) insert(p *pool, off int64, data []byte, gaps []span, overwrite bool) int64 {
	end := off + int64(len(data))
	if overwrite {
		i := sort.Search(len(q.c), func(k int) bool { return q.c[k].end() > off })
		for ; i < len(q.c) && q.c[i].off < end; i++ {
			c := &q.c[i]
			lo, hi := max(off, c.off), min(end, c.end())
			copy(c.data[lo-c.off:hi-c.off], data[lo-off:hi-off])
		}
	}
	var added int64
	for _, g := range gaps {
		b := p.get(int(g.hi - g.lo))
		b = append(b, data[g.lo-off:g.hi-off]...)
		added += int64(cap(b))
		i := sort.Search(len(q.c), func(k int) bool { return q.c[k].off > g.lo })
		q.c = append(q.c, chunk{})
		copy(q.c[i+1:], q.c[i:])
		q.c[i] = chunk{off: g.lo, data: b}
	}
	q.bytes += added
	return added
}

// compare returns how many bytes of data at off differ from the held
// bytes they overlap.
func (q *pending) compare(off int64, data []byte) int64 {
	end := off + int64(len(data))
	var n int64
	i := sort.Search(len(q.c), func(k int) bool { return q.c[k].end() > off })
	for ; i < len(q.c) && q.c[i].off < end; i++ {
		c := &q.c[i]
		lo, hi := max(off, c.off), min(end, c.end())
		a, b := c.data[lo-c.off:hi-c.off], data[lo-off:hi-off]
		for k := range a {
			if a[k] != b[k] {
				n++
			}
		}
	}
	return n
}

func (q *pending) shift(n int64) {
	for i := range q.c {
		q.c[i].off += n
	}
}
