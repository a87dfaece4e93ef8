package flowfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/flowcap/flowcap/reassembly"
)

// Defaults for the zero Config fields.
const (
	DefaultMaxBuffer  = 64 << 20 // write buffers across all shards
	DefaultBufferSize = 64 << 10 // largest buffer of one stream
	minBufferSize     = 256
	fdReserve         = 64 // descriptors left for everything else (inputs, reports, stdio)

	// Once this many flow files are open at once, the Writer grows the
	// process's descriptor table to its whole budget (growFDTable), up to
	// maxFDTable descriptors; the kernel doubles it from there.
	growFDTableAt = 128
	maxFDTable    = 1 << 16
)

// ErrNoName means every candidate name of a flow file was taken.
var ErrNoName = errors.New("no free file name")

// Config says where and how flow files are written.
type Config struct {
	Dir      string // output directory, created if missing
	MaxBytes int64  // bytes stored per direction (tcpflow -b); 0 = no limit
	MaxOpen  int    // open descriptors across all shards; 0 = RLIMIT_NOFILE less a reserve
	Shards   int    // number of sinks (one per shard); 0 means 1

	// MaxBuffer is the memory of the write buffers, all shards together,
	// outside the Go heap; when it is spent the largest buffers are written
	// out. 0 means DefaultMaxBuffer.
	MaxBuffer int64

	// BufferSize is the largest write buffer of one stream; a write at
	// least this big goes straight to the file. 0 means DefaultBufferSize.
	BufferSize int

	// MaxDisk caps the bytes of all flow files together (their sizes,
	// holes included); 0 means no limit. Past it files stop growing and no
	// new file is created; the bytes left out are counted (Stats.Skipped,
	// Skipped). Rewriting bytes within a file's size is still done.
	MaxDisk int64

	// OnQuota, if set, is called once, when MaxDisk is first reached, from
	// the goroutine of the shard that reached it.
	OnQuota func()

	// OnClose, if set, is called once for every stream when it closes,
	// after its file (if it has one: name is "" otherwise) is complete on
	// disk with size bytes. It is called from the shards' goroutines,
	// concurrently: reports and listings hang off it.
	OnClose func(st *reassembly.Stream, name string, size int64)

	// Pcap writes each stream's frames (Segment.Frame) to NAME.pcap beside
	// its flow file NAME (flowcap -K), data-less streams included.
	Pcap bool
}

// Stats counts what was written.
type Stats struct {
	Files uint64 // flow files created
	Bytes uint64 // bytes in the flow files when closed
	// Written counts the bytes written so far, as they go to disk: data
	// written twice (moved, or rewritten by a differing retransmission)
	// counts twice.
	Written uint64
	Writes  uint64 // write system calls
	Opens   uint64 // opens, reopens of files closed for lack of descriptors included
	Shifts  uint64 // files whose data moved to insert earlier data in front

	PcapFrames uint64 // -K: frames written to the streams' pcap files
	PcapLeft   uint64 // -K: frames left out, of another link type than their stream's or past MaxDisk

	Skipped uint64 // bytes of streams not written because of MaxDisk
	Cut     uint64 // streams that lost bytes to MaxDisk

	MaxOpen  int   // the descriptor budget
	PeakOpen int64 // most descriptors open at once
}

// Writer writes flow files for all shards. Each shard uses its own Sink;
// they share only atomic counters: the descriptor and memory budgets and
// the statistics.
type Writer struct {
	cfg     Config
	dir     string
	dirfd   int
	poolCap int64        // descriptors shared by the sinks beyond one each
	pool    atomic.Int64 // of those, taken
	open    atomic.Int64
	fdTable sync.Once    // growFDTable, once
	arena   *arena       // the write buffers' memory
	disk    atomic.Int64 // bytes of flow files, as counted against MaxDisk
	full    atomic.Bool  // MaxDisk was reached
	sinks   []*sink

	files, bytes, written, writes, opens, shifts atomic.Uint64
	pcapFrames, pcapLeft                         atomic.Uint64
	skipped, cut                                 atomic.Uint64
	peak                                         atomic.Int64
}

// New creates the output directory if missing and prepares the sinks.
func New(cfg Config) (*Writer, error) {
	if cfg.Shards <= 0 {
		cfg.Shards = 1
	}
	if cfg.MaxBuffer <= 0 {
		cfg.MaxBuffer = DefaultMaxBuffer
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	if cfg.Dir == "" {
		cfg.Dir = "."
	}
	if cfg.MaxOpen <= 0 {
		var rl unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return nil, fmt.Errorf("getrlimit: %w", err)
		}
		cur := int(min(rl.Cur, 1<<30))
		cfg.MaxOpen = cur - min(fdReserve, cur/4)
	}
	if cfg.MaxOpen < cfg.Shards {
		return nil, fmt.Errorf("%d file descriptors for %d shards: need one per shard at least", cfg.MaxOpen, cfg.Shards)
	}
	if err := os.MkdirAll(cfg.Dir, 0o777); err != nil {
		return nil, err
	}
	fd, err := unix.Open(cfg.Dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", cfg.Dir, err)
	}
	// Say it now, not after reading the input up to the first file.
	if err := unix.Faccessat(fd, ".", unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("output directory %s: %w", cfg.Dir, err)
	}
	ar, err := newArena(cfg.MaxBuffer, min(maxPageSize, cfg.BufferSize))
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	w := &Writer{cfg: cfg, dir: cfg.Dir, dirfd: fd, poolCap: int64(cfg.MaxOpen - cfg.Shards), arena: ar}
	for range cfg.Shards {
		w.sinks = append(w.sinks, newSink(w))
	}
	return w, nil
}

// growFDTable grows the process's descriptor table at once to hold the
// descriptor budget. The kernel doubles the table as descriptors are
// taken, and in a process of several threads each doubling waits for an
// RCU grace period (synchronize_rcu in expand_fdtable: 8 to 24 ms here)
// while every other open waits for it: from 256 to 32,768 descriptors one
// doubling at a time, that stalled both shards for about 100 ms, a tenth
// of the 10,000-connection benchmark (docs/performance.md). F_DUPFD takes
// the lowest free descriptor at or above the one asked, so it never
// replaces one in use; the copy is closed at once and the table stays. It
// is only a hint: where it fails, the table grows as before. Run it once
// (Writer.fdTable).
func (w *Writer) growFDTable() {
	top := min(w.cfg.MaxOpen+fdReserve, maxFDTable) - 1
	if fd, err := unix.FcntlInt(uintptr(w.dirfd), unix.F_DUPFD_CLOEXEC, top); err == nil {
		unix.Close(fd)
	}
}

// Sink returns the sink of shard i; only that shard's goroutine may use it.
func (w *Writer) Sink(i int) reassembly.Sink { return w.sinks[i] }

// ReserveDisk takes n bytes of Config.MaxDisk for a file other than a flow
// file (a report's text) and says whether they fit; what does not fit is
// not to be written. Without MaxDisk everything fits. Any goroutine may
// call it.
func (w *Writer) ReserveDisk(n int64) bool {
	if w.cfg.MaxDisk <= 0 {
		return true
	}
	for {
		used := w.disk.Load()
		if used+n > w.cfg.MaxDisk {
			w.quotaReached()
			return false
		}
		if w.disk.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

func (w *Writer) quotaReached() {
	if w.full.CompareAndSwap(false, true) && w.cfg.OnQuota != nil {
		w.cfg.OnQuota()
	}
}

// Flush writes out every buffer of shard i's sink. Only the goroutine
// that uses that sink may call it.
func (w *Writer) Flush(i int) error { return w.sinks[i].flushAll() }

// Close writes out and closes whatever the shards left open (nothing, if
// every shard finished), then the directory. Files are complete on disk
// when it returns.
func (w *Writer) Close() error {
	var errs []error
	for _, s := range w.sinks {
		errs = append(errs, s.closeAll())
	}
	if w.dirfd >= 0 {
		errs = append(errs, unix.Close(w.dirfd), w.arena.close())
		w.dirfd = -1
	}
	return errors.Join(errs...)
}

// Stats returns the counters; safe from any goroutine.
func (w *Writer) Stats() Stats {
	return Stats{
		Files:      w.files.Load(),
		Bytes:      w.bytes.Load(),
		Written:    w.written.Load(),
		Writes:     w.writes.Load(),
		Opens:      w.opens.Load(),
		Shifts:     w.shifts.Load(),
		PcapFrames: w.pcapFrames.Load(),
		PcapLeft:   w.pcapLeft.Load(),
		Skipped:    w.skipped.Load(),
		Cut:        w.cut.Load(),
		MaxOpen:    w.cfg.MaxOpen,
		PeakOpen:   w.peak.Load(),
	}
}

// FileName returns the name, in the output directory, of s's flow file,
// or "" if it has none (no payload). Valid during and after the sink's
// Close of s.
func FileName(s *reassembly.Stream) string {
	if f, ok := s.Handle.(*file); ok && f.want {
		return f.name
	}
	return ""
}

// Skipped returns how many bytes of s's stream were not written because
// Config.MaxDisk was reached (a stream cut by the quota: reports name its
// close reason "quota"). Valid during and after the sink's Close of s.
func Skipped(s *reassembly.Stream) int64 {
	if f, ok := s.Handle.(*file); ok {
		return f.skipped
	}
	return 0
}

// path is name's path for messages.
func (w *Writer) path(name string) string { return filepath.Join(w.dir, name) }
