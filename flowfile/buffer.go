package flowfile

import (
	"fmt"
	"io"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Write buffers. A file's bytes not yet written sit in chunks taken from
// the sink's free lists or, while the Writer's budget (Config.MaxBuffer)
// allows, newly made. When the budget is spent, the sink writes out its
// largest buffer to free its chunks: with many flows each file gets few
// bytes between writes, and a write system call costs as much as copying
// several KiB, so the fewer and larger the writes the better (taking the
// least recently written buffer instead makes half as many writes again
// for 20,000 interleaved flows). Chunks rather than contiguous buffers: no
// copy when a buffer grows, memory counted to the chunk, no garbage
// whatever the flows do, and the pieces go out in one pwritev. A file's
// first chunk is small, so that many concurrent flows fit (200,000 in 100
// MiB); the next ones double up to a page, which the kernel copies fastest
// (small scattered pieces cost it twice the time).
//
// Each file with chunks is in the sink's bucket of its chunk count, so
// that the largest is found at once; of equal ones, the one that has been
// that large the longest goes first.

const (
	firstChunk = 512  // a file's first chunk; each next one is twice as large,
	pageChunk  = 4096 // up to this (both at most Config.BufferSize)
	freeChunks = 64   // free chunks of each size a sink keeps; more go back to the budget
	maxIovecs  = 1024 // IOV_MAX: pieces one pwritev takes
)

// chunkSizes sets the sink's chunk sizes for a largest buffer of max.
func (s *sink) chunkSizes(max int) {
	s.minChunk = min(firstChunk, max)
	for s.minChunk<<(s.maxClass+1) <= min(pageChunk, max) {
		s.maxClass++
	}
	s.free = make([][][]byte, s.maxClass+1)
	n := 0
	for s.capacity(n) < max {
		n++
	}
	s.buckets = make([]bucket, n+1)
}

// class returns the size class of a file's chunk k: its size is
// minChunk<<class.
func (s *sink) class(k int) int { return min(k, s.maxClass) }

// capacity returns the bytes in a file's first k chunks.
func (s *sink) capacity(k int) int {
	if k <= s.maxClass {
		return s.minChunk * (1<<k - 1)
	}
	return s.minChunk*(1<<s.maxClass-1) + (k-s.maxClass)*s.minChunk<<s.maxClass
}

// locate returns the chunk that holds position at of a buffer, and the
// position within it.
func (s *sink) locate(at int) (k, i int) {
	for k = 0; k < s.maxClass; k++ {
		if size := s.minChunk << k; at >= size {
			at -= size
		} else {
			return k, at
		}
	}
	page := s.minChunk << s.maxClass
	return s.maxClass + at/page, at % page
}

func (f *file) bufEnd() int64 { return f.bufOff + int64(f.bufLen) }

// copyIn puts p at offset off of the buffer, which has the chunks for it.
func (s *sink) copyIn(f *file, off int64, p []byte) {
	at := int(off - f.bufOff)
	f.bufLen = max(f.bufLen, at+len(p))
	k, i := s.locate(at)
	for len(p) > 0 {
		n := copy(f.chunks[k][i:], p)
		p = p[n:]
		k, i = k+1, 0
	}
}

// bufByte returns the buffered byte at offset o, within the buffer.
func (s *sink) bufByte(f *file, o int64) byte {
	k, i := s.locate(int(o - f.bufOff))
	return f.chunks[k][i]
}

// reserveChunks gives f the chunks for n buffered bytes, taken from the free
// lists, the budget, or other files' buffers (written out, largest first).
// It reports false when it cannot: the budget is spent and no other file
// holds a buffer.
func (s *sink) reserveChunks(f *file, n int) (bool, error) {
	had := len(f.chunks)
	defer func() {
		if len(f.chunks) != had {
			s.rebucket(f, had)
		}
	}()
	for s.capacity(len(f.chunks)) < n {
		c, err := s.takeChunk(f, s.class(len(f.chunks)))
		if c == nil {
			return false, err
		}
		f.chunks = append(f.chunks, c)
	}
	return true, nil
}

// takeChunk returns a chunk of size class c, nil if none can be had but
// from f's own buffer. A buffer larger than c chunks, written out, gives
// one of that size back; spare chunks of other sizes make room in the
// budget only when no buffer does, so that steady traffic makes no garbage.
func (s *sink) takeChunk(f *file, c int) ([]byte, error) {
	size := s.minChunk << c
	for {
		if l := s.free[c]; len(l) > 0 {
			b := l[len(l)-1]
			l[len(l)-1] = nil
			s.free[c] = l[:len(l)-1]
			return b, nil
		}
		if s.w.buf.Add(int64(size)) <= s.w.cfg.MaxBuffer {
			return make([]byte, size), nil
		}
		s.w.buf.Add(-int64(size))
		v := s.largest(f)
		if (v == nil || len(v.chunks) <= c) && s.dropSpare(size) {
			continue
		}
		if v == nil {
			return nil, nil
		}
		if err := s.flush(v); err != nil {
			return nil, err
		}
	}
}

// dropSpare gives free chunks of other sizes back to the budget, at least
// size bytes of them if it can; it reports whether it gave any.
func (s *sink) dropSpare(size int) bool {
	given := 0
	for c := range s.free {
		for l := s.free[c]; len(l) > 0 && given < size && s.minChunk<<c != size; l = s.free[c] {
			l[len(l)-1] = nil
			s.free[c] = l[:len(l)-1]
			s.w.buf.Add(-int64(s.minChunk << c))
			given += s.minChunk << c
		}
	}
	return given > 0
}

// largest returns the file other than f with the most chunks, nil if
// there is none.
func (s *sink) largest(f *file) *file {
	for s.top > 0 && s.buckets[s.top].oldest == nil {
		s.top--
	}
	for k := s.top; k > 0; k-- {
		for v := s.buckets[k].oldest; v != nil; v = v.bkNewer {
			if v != f {
				return v
			}
		}
	}
	return nil
}

// bucket lists the files holding as many chunks, newest first.
type bucket struct{ newest, oldest *file }

// rebucket moves f, which held had chunks, to the bucket of its count.
func (s *sink) rebucket(f *file, had int) {
	if had > 0 {
		b := &s.buckets[had]
		if f.bkNewer != nil {
			f.bkNewer.bkOlder = f.bkOlder
		} else {
			b.newest = f.bkOlder
		}
		if f.bkOlder != nil {
			f.bkOlder.bkNewer = f.bkNewer
		} else {
			b.oldest = f.bkNewer
		}
		f.bkNewer, f.bkOlder = nil, nil
	}
	if k := len(f.chunks); k > 0 {
		b := &s.buckets[k]
		f.bkOlder = b.newest
		if b.newest != nil {
			b.newest.bkNewer = f
		} else {
			b.oldest = f
		}
		b.newest = f
		s.top = max(s.top, k)
	}
}

// release gives f's chunks back and empties its buffer.
func (s *sink) release(f *file) {
	had := len(f.chunks)
	for k, b := range f.chunks {
		if c := s.class(k); len(s.free[c]) < freeChunks {
			s.free[c] = append(s.free[c], b)
		} else {
			s.w.buf.Add(-int64(len(b)))
		}
		f.chunks[k] = nil
	}
	f.chunks = f.chunks[:0]
	f.bufLen = 0
	if had > 0 {
		s.rebucket(f, had)
	}
}

// flush writes the buffer out; its chunks go back to the free list.
func (s *sink) flush(f *file) error { return s.writeOut(f, nil) }

// writeOut writes the buffer and then tail, which follows it, in one
// system call, and empties the buffer. Without a buffer tail goes at
// tailOff.
func (s *sink) writeOut(f *file, tail []byte) error {
	if f.bufLen == 0 && len(tail) == 0 {
		if len(f.chunks) > 0 {
			s.release(f)
		}
		return nil
	}
	iov := s.iov[:0]
	left := f.bufLen
	for _, c := range f.chunks {
		if left == 0 {
			break
		}
		n := min(left, len(c))
		iov = append(iov, iovec(c[:n]))
		left -= n
	}
	if len(tail) > 0 {
		iov = append(iov, iovec(tail))
	}
	s.iov = iov
	err := s.pwritev(f, iov, f.bufOff)
	s.release(f)
	return err
}

func iovec(p []byte) unix.Iovec {
	v := unix.Iovec{Base: unsafe.SliceData(p)}
	v.SetLen(len(p))
	return v
}

// pwritev writes the bytes of iov at off, all of them.
func (s *sink) pwritev(f *file, iov []unix.Iovec, off int64) error {
	if err := s.ensureOpen(f); err != nil {
		return err
	}
	for len(iov) > 0 {
		r, _, e := unix.Syscall6(unix.SYS_PWRITEV, uintptr(f.fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(min(len(iov), maxIovecs)),
			uintptr(off), uintptr(uint64(off)>>63>>1), 0)
		s.w.writes.Add(1)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return fmt.Errorf("write %s: %w", s.w.path(f.name), e)
		}
		if r == 0 {
			return fmt.Errorf("write %s: %w", s.w.path(f.name), io.ErrShortWrite)
		}
		n := int64(r)
		off += n
		f.size = max(f.size, off)
		for len(iov) > 0 && n >= int64(iov[0].Len) {
			n -= int64(iov[0].Len)
			iov = iov[1:]
		}
		if n > 0 { // a short write: the rest of this piece next time
			iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
			iov[0].SetLen(int(int64(iov[0].Len) - n))
		}
	}
	return nil
}
