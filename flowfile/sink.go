package flowfile

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/flowcap/flowcap/reassembly"
)

// file is the sink's state of one stream, kept in Stream.Handle.
type file struct {
	key   reassembly.Key
	first int64 // capture time of the stream's first packet: the file's mtime
	// vlan and the flags share a word (the struct stays in its size class:
	// 65,536 open directions hold as many files).
	vlan   int32
	want   bool // a Write came: the file must exist, even empty (-b)
	closed bool
	frozen bool // takes no more data (Config.MaxDisk, below)

	name string // "" until the file is created
	fd   int    // -1 when not open
	size int64  // bytes on disk: the end of the highest write
	ext  int64  // the file is at least this long (zeros past size)

	// The write buffer (buffer.go): bufLen bytes for offsets bufOff on,
	// in pages of the Writer's arena.
	pages  []uint32
	bufOff int64
	bufLen int

	pcap *pcapFile // -K: the stream's frames; nil until the first

	// Config.MaxDisk: the file may grow to acct bytes, counted against the
	// quota when data for them was accepted; skipped bytes were refused.
	// A frozen file takes no more data (a move to insert data at its front
	// did not fit: later offsets would not match the file's).
	acct    int64
	skipped int64
	// The same for the stream's pcap (-K), whose records are taken whole.
	pcapAcct int64

	links      [numLists]links // on the sink's lists (list.go)
	lastAppend int64           // the sink's count of buffered bytes when f's buffer last grew
}

// sink writes the flow files of one shard. One goroutine uses it.
type sink struct {
	w   *Writer
	own int      // descriptors open
	fds fileList // the files open, the most recently used first

	direct  int        // a write this big is not buffered
	free    []uint32   // free pages of the arena (buffer.go)
	buckets []fileList // buckets[k]: the files holding k pages
	top     int        // no bucket above it holds a file

	// The files holding pages, by when their buffers last grew; a buffer
	// that did not grow while the sink took staleAfter bytes is stale.
	grown                fileList
	appended, staleAfter int64

	iov     []unix.Iovec // for pwritev
	scratch []byte       // for moving and comparing file data
}

func newSink(w *Writer) *sink {
	pages := (w.cfg.BufferSize + w.arena.pageSize - 1) / w.arena.pageSize
	share := int64(w.arena.pages) * int64(w.arena.pageSize) / int64(w.cfg.Shards)
	return &sink{w: w, direct: max(w.cfg.BufferSize/4, 1), buckets: make([]fileList, pages+1), staleAfter: staleShares * share}
}

func (s *sink) state(st *reassembly.Stream) *file {
	if f, ok := st.Handle.(*file); ok {
		return f
	}
	f := &file{key: st.Key, vlan: st.VLAN, first: st.First, fd: -1}
	st.Handle = f
	return f
}

// Write stores p at off: into the stream's buffer when it extends or
// overlaps it, else the buffer is written out first. Bytes at offsets
// MaxBytes and past are dropped, as tcpflow -b does.
func (s *sink) Write(st *reassembly.Stream, off int64, p []byte) error {
	f := s.state(st)
	f.want = true
	if m := s.w.cfg.MaxBytes; m > 0 {
		if off >= m {
			return nil
		}
		if off+int64(len(p)) > m {
			p = p[:m-off]
		}
	}
	if s.w.cfg.MaxDisk > 0 {
		p = s.quota(f, off, p)
	}
	return s.writeAt(f, off, p)
}

// writeAt stores p at off of f: in its buffer when p extends or overlaps
// it (up to Config.BufferSize), else in a new buffer once the old one is
// written out. A large p goes straight to the file, after the buffer it
// continues in the same write.
func (s *sink) writeAt(f *file, off int64, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if f.bufLen > 0 {
		if off >= f.bufOff && off <= f.bufEnd() {
			if n := int(max(off+int64(len(p)), f.bufEnd()) - f.bufOff); n <= s.w.cfg.BufferSize {
				if ok, err := s.reservePages(f, n); ok || err != nil {
					if ok {
						s.copyIn(f, off, p)
					}
					return err
				}
			}
			if off == f.bufEnd() {
				return s.writeOut(f, p)
			}
		}
		if err := s.flush(f); err != nil {
			return err
		}
	}
	if len(p) < s.direct {
		ok, err := s.reservePages(f, len(p))
		if ok {
			f.bufOff = off
			s.copyIn(f, off, p)
		}
		if ok || err != nil {
			return err
		}
	}
	return s.pwrite(f, p, off)
}

// Shift moves the stream's data n bytes later, zeros in front.
func (s *sink) Shift(st *reassembly.Stream, n int64) error {
	f, ok := st.Handle.(*file)
	if !ok {
		return nil
	}
	m := s.w.cfg.MaxBytes
	if s.w.cfg.MaxDisk > 0 && f.acct > 0 && !f.frozen {
		end := f.acct + n
		if m > 0 {
			end = min(end, max(m, f.acct))
		}
		if s.reserve(&f.acct, end, end) < end {
			f.frozen = true // keeps what it has; the rest of the stream is skipped
			return nil
		}
	}
	if f.frozen {
		return nil
	}
	s.w.shifts.Add(1)
	if f.size == 0 {
		// Nothing on disk yet: moving the buffer is enough. Bytes moved
		// past -b are dropped, but the file still reaches the cap (as it
		// does when the move happens on disk).
		if f.bufLen > 0 {
			f.bufOff += n
			if m > 0 && f.bufEnd() > m {
				f.bufLen = int(max(0, m-f.bufOff))
				f.ext = max(f.ext, m)
			}
		}
		return nil
	}
	if err := s.flush(f); err != nil {
		return err
	}
	if err := s.ensureOpen(f); err != nil {
		return err
	}
	buf := s.scratchBuf()
	for end := f.size; end > 0; {
		k := min(end, int64(len(buf)))
		if err := s.pread(f, buf[:k], end-k); err != nil {
			return err
		}
		if err := s.pwrite(f, buf[:k], end-k+n); err != nil {
			return err
		}
		end -= k
	}
	clear(buf)
	for z := int64(0); z < min(n, f.size); {
		k := min(min(n, f.size)-z, int64(len(buf)))
		if err := s.pwrite(f, buf[:k], z); err != nil {
			return err
		}
		z += k
	}
	if m > 0 && f.size > m {
		if err := unix.Ftruncate(f.fd, m); err != nil {
			return fmt.Errorf("truncate %s: %w", s.w.path(f.name), err)
		}
		f.size = m
	}
	return nil
}

// Close writes the stream's file out, closes it and sets its times to
// the first packet's (as tcpflow does). The file is complete on disk.
func (s *sink) Close(st *reassembly.Stream) error {
	f, ok := st.Handle.(*file)
	if ok && f.closed {
		return nil
	}
	var err error
	if ok && f.pcap != nil {
		err = s.closePcap(f)
	}
	if !ok || !f.want {
		if ok {
			f.closed = true
			if f.name != "" { // created only to name the pcap (-K)
				err = errors.Join(err, s.dropUnwanted(f))
			}
		}
		if err != nil {
			return err
		}
		if s.w.cfg.OnClose != nil {
			s.w.cfg.OnClose(st, "", 0)
		}
		return nil
	}
	f.closed = true
	if ferr := s.flush(f); err == nil {
		err = ferr
	}
	if err == nil && f.name == "" && !(s.w.cfg.MaxDisk > 0 && s.w.full.Load()) {
		err = s.ensureOpen(f) // all of it past -b: an empty file, as tcpflow
	}
	if err == nil && f.ext > f.size {
		if err = s.ensureOpen(f); err == nil {
			if err = unix.Ftruncate(f.fd, f.ext); err == nil {
				f.size = f.ext
			}
		}
	}
	s.release(f)
	// The file's times are the first packet's, as tcpflow sets them:
	// through the descriptor if it is open, else by name.
	ts := [2]unix.Timespec{unix.NsecToTimespec(f.first), unix.NsecToTimespec(f.first)}
	if err == nil && f.name != "" {
		if f.fd >= 0 {
			err = futimens(f.fd, &ts)
		} else {
			err = unix.UtimesNanoAt(s.w.dirfd, f.name, ts[:], unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			err = fmt.Errorf("set times of %s: %w", s.w.path(f.name), err)
		}
	}
	if f.fd >= 0 {
		if cerr := s.closeFD(f); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	if f.name == "" { // every byte refused by the quota
		if s.w.cfg.OnClose != nil {
			s.w.cfg.OnClose(st, "", 0)
		}
		return nil
	}
	s.w.bytes.Add(uint64(f.size))
	if s.w.cfg.OnClose != nil {
		s.w.cfg.OnClose(st, f.name, f.size)
	}
	return nil
}

// quota trims p, bound for offset off of f, to what Config.MaxDisk still
// allows the file to grow by, and counts the rest as skipped. Bytes within
// the size already counted cost nothing.
func (s *sink) quota(f *file, off int64, p []byte) []byte {
	end := off + int64(len(p))
	if f.frozen {
		s.skip(f, int64(len(p)))
		return nil
	}
	if end <= f.acct {
		return p
	}
	// A hole before p is counted too; none is granted without data after it.
	got := s.reserve(&f.acct, end, off+1)
	keep := max(0, min(int64(len(p)), got-off))
	s.skip(f, int64(len(p))-keep)
	return p[:keep]
}

// reserve lets a file counted up to *acct bytes grow to end, counting the
// growth against MaxDisk, or as far as the quota allows if that reaches
// least. It returns the size the file may now reach, the new *acct.
func (s *sink) reserve(acct *int64, end, least int64) int64 {
	for {
		used := s.w.disk.Load()
		top := min(end, *acct+s.w.cfg.MaxDisk-used)
		if top < end {
			s.quotaReached()
		}
		if top < least || top <= *acct {
			return *acct
		}
		if s.w.disk.CompareAndSwap(used, used+top-*acct) {
			*acct = top
			return top
		}
	}
}

func (s *sink) quotaReached() { s.w.quotaReached() }

// skip counts n bytes of f refused by the quota.
func (s *sink) skip(f *file, n int64) {
	if n <= 0 {
		return
	}
	if f.skipped == 0 {
		s.w.cut.Add(1)
	}
	f.skipped += n
	s.w.skipped.Add(uint64(n))
}

// Check compares p with what is stored at off: the buffer, the file on
// disk, zeros in between.
func (s *sink) Check(st *reassembly.Stream, off int64, p []byte) (held, differ int, err error) {
	f, ok := st.Handle.(*file)
	if !ok || off < 0 {
		return 0, 0, nil
	}
	end := max(f.size, f.ext)
	if f.bufLen > 0 {
		end = max(end, f.bufEnd())
	}
	if off >= end {
		return 0, 0, nil
	}
	held = int(min(int64(len(p)), end-off))
	p = p[:held]
	var disk []byte
	if lo, hi := off, min(off+int64(held), f.size); lo < hi {
		reopened := f.fd < 0
		if err := s.ensureOpen(f); err != nil {
			return 0, 0, err
		}
		disk = s.scratchBuf()
		if hi-lo > int64(len(disk)) {
			disk = make([]byte, hi-lo)
		}
		disk = disk[:hi-lo]
		err := s.pread(f, disk, lo)
		if reopened && f.closed {
			if cerr := s.closeFD(f); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return 0, 0, err
		}
	}
	for i, c := range p {
		o := off + int64(i)
		var have byte
		switch {
		case f.bufLen > 0 && o >= f.bufOff && o < f.bufEnd():
			have = s.bufByte(f, o)
		case o < f.size:
			have = disk[i]
		}
		if have != c {
			differ++
		}
	}
	return held, differ, nil
}

func (s *sink) pwrite(f *file, p []byte, off int64) error {
	if err := s.ensureOpen(f); err != nil {
		return err
	}
	for len(p) > 0 {
		n, err := unix.Pwrite(f.fd, p, off)
		s.w.writes.Add(1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", s.w.path(f.name), err)
		}
		s.w.written.Add(uint64(n))
		p = p[n:]
		off += int64(n)
		f.size = max(f.size, off)
	}
	return nil
}

func (s *sink) pread(f *file, p []byte, off int64) error {
	for len(p) > 0 {
		n, err := unix.Pread(f.fd, p, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", s.w.path(f.name), err)
		}
		if n == 0 {
			clear(p) // past the end of the file: zeros
			return nil
		}
		p = p[n:]
		off += int64(n)
	}
	return nil
}

func (s *sink) scratchBuf() []byte {
	if s.scratch == nil {
		s.scratch = make([]byte, 64<<10)
	}
	return s.scratch
}

// ensureOpen gives f a descriptor, creating the file on first use.
func (s *sink) ensureOpen(f *file) error {
	if f.fd >= 0 {
		s.fds.touch(f, fdList)
		return nil
	}
	for {
		s.takeFD()
		var err error
		if f.name == "" {
			err = s.create(f)
		} else {
			f.fd, err = unix.Openat(s.w.dirfd, f.name, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				f.fd = -1
				err = fmt.Errorf("reopen %s: %w", s.w.path(f.name), err)
			}
		}
		if err == nil {
			s.w.opens.Add(1)
			s.fds.push(f, fdList)
			n := s.w.open.Add(1)
			if n == growFDTableAt {
				s.w.fdTable.Do(s.w.growFDTable)
			}
			for p := s.w.peak.Load(); n > p && !s.w.peak.CompareAndSwap(p, n); p = s.w.peak.Load() {
			}
			return nil
		}
		s.releaseFD()
		// Out of descriptors for all our budget says (something else in the
		// process holds some): give one of ours back and retry.
		if (errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)) && s.fds.oldest != nil {
			if cerr := s.closeFD(s.fds.oldest); cerr != nil {
				return cerr
			}
			continue
		}
		return err
	}
}

// create makes the file with O_EXCL under the first free name: the
// tcpflow name, then with c1, c2... appended. A name taken by anything,
// a file of a previous run or a planted symbolic link, is skipped: the
// sink never follows a link nor writes into a file it did not create.
func (s *sink) create(f *file) error {
	var name []byte
	for count := 0; count < 1<<20; count++ {
		name = AppendName(name[:0], f.key, f.vlan, count)
		fd, err := unix.Openat(s.w.dirfd, string(name), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o666)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", s.w.path(string(name)), err)
		}
		if s.w.cfg.Pcap {
			// -K: NAME.pcap goes with NAME, so both must be free.
			if taken, err := s.createPcap(f, string(name)); taken || err != nil {
				unix.Close(fd)
				unix.Unlinkat(s.w.dirfd, string(name), 0)
				if err != nil {
					return err
				}
				continue
			}
		}
		f.fd, f.name = fd, string(name)
		s.w.files.Add(1)
		return nil
	}
	return fmt.Errorf("create %s: %w", s.w.path(Name(f.key, f.vlan, 0)), ErrNoName)
}

// takeFD reserves a descriptor in the budget: each sink's first one is
// its own, the others come from the shared pool; when that is spent, the
// sink closes its least recently used file (tcpflow's LRU of open files).
func (s *sink) takeFD() {
	for s.own > 0 {
		if s.w.pool.Add(1) <= s.w.poolCap {
			break
		}
		s.w.pool.Add(-1)
		// Errors of close(2) on a file we only wrote with pwrite: none to
		// report that a later reopen would not.
		_ = s.closeFD(s.fds.oldest)
	}
	s.own++
}

func (s *sink) releaseFD() {
	s.own--
	if s.own > 0 {
		s.w.pool.Add(-1)
	}
}

func (s *sink) closeFD(f *file) error {
	err := unix.Close(f.fd)
	f.fd = -1
	s.fds.unlink(f, fdList)
	s.w.open.Add(-1) // before the slot is given back, so the peak stays exact
	s.releaseFD()
	if err != nil {
		return fmt.Errorf("close %s: %w", s.w.path(f.name), err)
	}
	return nil
}

// closeAll writes out and closes everything still held.
func (s *sink) closeAll() error {
	var errs []error
	for k := range s.buckets {
		for s.buckets[k].oldest != nil {
			errs = append(errs, s.flush(s.buckets[k].oldest))
		}
	}
	for s.fds.oldest != nil {
		errs = append(errs, s.closeFD(s.fds.oldest))
	}
	s.w.arena.give(s.free)
	s.free = nil
	return errors.Join(errs...)
}

// futimens sets the times of the file open as fd (utimensat with a NULL
// path, as the C library's futimens does).
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
