package flowfile

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Write buffers. A file's bytes not yet written sit in pages of the
// Writer's arena: Config.MaxBuffer bytes mapped at New, outside the Go
// heap, so that the garbage collector neither scans nor counts them (with
// the buffers in its heap it ran ten times as often, for a seventh of the
// CPU). Pages rather than contiguous buffers: no copy when a buffer
// grows, memory counted to the page, nothing to collect whatever the flows
// do, and the pieces of a buffer go out in one pwritev. The pages are
// small, 1 KiB: with 4 KiB ones, which the kernel copies a little faster,
// 60 MiB held one page for each of 15,000 files, and 20,000 interleaved
// flows made twice as many writes.
//
// When the arena has no page left, the sink writes out its largest
// buffer to free its pages: with many flows each file gets few bytes
// between writes, and a write system call costs as much as copying several
// KiB, so the fewer and larger the writes the better (taking the least
// recently written buffer instead makes half as many writes again for
// 20,000 interleaved flows). Each file with pages is in the sink's bucket
// of its page count, so that the largest is found at once; of equal ones,
// the one that has been that large the longest goes first.
//
// Except for a stale buffer: one that has not grown while its sink took
// in twice its share of the arena. Its stream has gone quiet (a client
// that sent its request and now reads the answer), and left to the
// largest-first rule it keeps its pages for as long as the busy buffers
// stay larger, so that those share what is left: 10,000 interleaved
// connections, whose clients speak first, made 196,000 writes at --mem 40
// and 212,000 at --mem 56 that way, 153,000 and 115,000 when stale
// buffers go first (docs/performance.md). Files with pages are also on a
// list in the order their buffers last grew, so the stalest is at hand.

const (
	maxPageSize = 1024 // unless Config.BufferSize is smaller
	localPages  = 64   // free pages a sink keeps before giving some back
	maxIovecs   = 1024 // IOV_MAX: pieces one pwritev takes
)

// arena is the memory of the write buffers, shared by the sinks: pages
// numbered from 0, handed out once each from the top, then through the
// shared free list; each sink keeps a few free ones of its own.
type arena struct {
	mem      []byte // nil when no page fits the budget
	pageSize int
	pages    uint32        // in mem
	next     atomic.Uint32 // pages below it were handed out
	mu       sync.Mutex
	free     []uint32 // pages given back by the sinks
}

func newArena(budget int64, pageSize int) (*arena, error) {
	a := &arena{pageSize: pageSize, pages: uint32(min(budget/int64(pageSize), 1<<31))}
	if a.pages == 0 {
		return a, nil
	}
	// Anonymous memory: the kernel gives it pages as they are first
	// written, so an arena larger than what the flows need costs nothing.
	mem, err := unix.Mmap(-1, 0, int(a.pages)*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("write buffers: %w", err)
	}
	// Huge pages where the kernel allows them (transparent_hugepage
	// "madvise" or "always"): the buffers' pages are touched all over the
	// arena, and with 4 KiB pages flowcap took 5 to 7.5 % more CPU on
	// 10,000 interleaved connections, copying payload in (memmove) 10 % of
	// the profile against 5.6 % (docs/performance.md). It is only advice:
	// without it, 4 KiB pages.
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	a.mem = mem
	return a, nil
}

func (a *arena) close() error {
	if a.mem == nil {
		return nil
	}
	err := unix.Munmap(a.mem)
	a.mem = nil
	return err
}

// page returns the bytes of page p.
func (a *arena) page(p uint32) []byte {
	at := int(p) * a.pageSize
	return a.mem[at : at+a.pageSize : at+a.pageSize]
}

// take moves up to n free pages to dst, from the shared list or from
// those never used.
func (a *arena) take(dst []uint32, n int) []uint32 {
	a.mu.Lock()
	k := min(n, len(a.free))
	dst = append(dst, a.free[len(a.free)-k:]...)
	a.free = a.free[:len(a.free)-k]
	a.mu.Unlock()
	for ; k < n; k++ {
		p := a.next.Load()
		if p >= a.pages {
			break
		}
		if a.next.CompareAndSwap(p, p+1) {
			dst = append(dst, p)
		} else {
			k--
		}
	}
	return dst
}

// give puts pages back on the shared list.
func (a *arena) give(pages []uint32) {
	a.mu.Lock()
	a.free = append(a.free, pages...)
	a.mu.Unlock()
}

func (f *file) bufEnd() int64 { return f.bufOff + int64(f.bufLen) }

// copyIn puts p at offset off of the buffer, which has the pages for it.
func (s *sink) copyIn(f *file, off int64, p []byte) {
	at := int(off - f.bufOff)
	f.bufLen = max(f.bufLen, at+len(p))
	s.grew(f, len(p))
	size := s.w.arena.pageSize
	k, i := at/size, at%size
	for len(p) > 0 {
		n := copy(s.w.arena.page(f.pages[k])[i:], p)
		p = p[n:]
		k, i = k+1, 0
	}
}

// bufByte returns the buffered byte at offset o, within the buffer.
func (s *sink) bufByte(f *file, o int64) byte {
	at := int(o - f.bufOff)
	size := s.w.arena.pageSize
	return s.w.arena.page(f.pages[at/size])[at%size]
}

// reservePages gives f the pages for n buffered bytes, taken from the
// sink's free pages, the arena, or other files' buffers (written out,
// largest first). It reports false when it cannot: the arena is spent and
// no other file of the sink holds a buffer.
func (s *sink) reservePages(f *file, n int) (bool, error) {
	need := (n + s.w.arena.pageSize - 1) / s.w.arena.pageSize
	had := len(f.pages)
	defer func() {
		if len(f.pages) != had {
			s.rebucket(f, had)
		}
	}()
	for len(f.pages) < need {
		if len(s.free) == 0 {
			s.free = s.w.arena.take(s.free, localPages/2)
		}
		if k := len(s.free); k > 0 {
			f.pages = append(f.pages, s.free[k-1])
			s.free = s.free[:k-1]
			continue
		}
		v := s.stale(f)
		if v == nil {
			v = s.largest(f)
		}
		if v == nil {
			return false, nil
		}
		if err := s.flush(v); err != nil {
			return false, err
		}
	}
	return true, nil
}

// largest returns the file other than f with the most pages, nil if
// there is none.
func (s *sink) largest(f *file) *file {
	for s.top > 0 && s.buckets[s.top].oldest == nil {
		s.top--
	}
	for k := s.top; k > 0; k-- {
		for v := s.buckets[k].oldest; v != nil; v = v.links[pageList].newer {
			if v != f {
				return v
			}
		}
	}
	return nil
}

// staleShares is how many of its shares of the arena a sink takes in
// before a buffer that did not grow meanwhile is stale.
const staleShares = 2

// stale returns the file other than f whose buffer has not grown for
// longest, if it is stale; else nil.
func (s *sink) stale(f *file) *file {
	v := s.grown.oldest
	if v == f && v != nil {
		v = v.links[growList].newer
	}
	if v != nil && s.appended-v.lastAppend > s.staleAfter {
		return v
	}
	return nil
}

// grew moves f, whose buffer took n bytes, to the front of the list.
func (s *sink) grew(f *file, n int) {
	s.appended += int64(n)
	f.lastAppend = s.appended
	s.grown.touch(f, growList)
}

// rebucket moves f, which held had pages, to the bucket of its count. A
// file is on the growth list while it holds pages: its bytes go in
// (copyIn) only once it has them.
func (s *sink) rebucket(f *file, had int) {
	k := len(f.pages)
	if had > 0 {
		s.buckets[had].unlink(f, pageList)
	}
	if k > 0 {
		s.buckets[k].push(f, pageList)
		s.top = max(s.top, k)
	}
	switch {
	case had == 0 && k > 0:
		s.grown.push(f, growList)
	case had > 0 && k == 0:
		s.grown.unlink(f, growList)
	}
}

// release gives f's pages back and empties its buffer.
func (s *sink) release(f *file) {
	had := len(f.pages)
	s.free = append(s.free, f.pages...)
	if len(s.free) > localPages {
		half := len(s.free) - localPages/2
		s.w.arena.give(s.free[half:])
		s.free = s.free[:half]
	}
	f.pages = f.pages[:0]
	f.bufLen = 0
	if had > 0 {
		s.rebucket(f, had)
	}
}

// flushAll writes out every buffer, largest first.
func (s *sink) flushAll() error {
	for f := s.largest(nil); f != nil; f = s.largest(nil) {
		if err := s.flush(f); err != nil {
			return err
		}
	}
	return nil
}

// flush writes the buffer out; its pages go back to the free list.
func (s *sink) flush(f *file) error { return s.writeOut(f, nil) }

// writeOut writes the buffer and then tail, which follows it, in one
// system call, and empties the buffer.
func (s *sink) writeOut(f *file, tail []byte) error {
	if f.bufLen == 0 && len(tail) == 0 {
		if len(f.pages) > 0 {
			s.release(f)
		}
		return nil
	}
	iov := s.iov[:0]
	left := f.bufLen
	for _, p := range f.pages {
		if left == 0 {
			break
		}
		n := min(left, s.w.arena.pageSize)
		iov = append(iov, iovec(s.w.arena.page(p)[:n]))
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
		s.w.written.Add(uint64(n))
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
