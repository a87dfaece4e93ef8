package main

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowcap/flowcap/capture"
)

// openInput opens a capture for flowcap read so that a signal interrupts
// a read that waits for data: a pipe, a FIFO, stdin fed by a slow or
// stalled writer. Once ctx is done such a read fails with
// os.ErrDeadlineExceeded (readInterrupted says so) and flowcap finishes with
// what it has. Reads of regular files never wait; nothing changes for
// them.
func openInput(ctx context.Context, name string) (capture.Source, error) {
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err // "open x: no such file or directory"
		}
		src, err := capture.NewSource(f, name)
		if err != nil {
			f.Close()
			return nil, err
		}
		return watch(ctx, src, f), nil
	}
	f, restore := pollableStdin()
	if f == nil {
		return capture.Open(name)
	}
	// The source must not close f (it closes what it is given, but stdin):
	// hide its Close; f is closed with the source.
	src, err := capture.NewSource(struct{ io.Reader }{f}, name)
	if err != nil {
		f.Close()
		restore()
		return nil, err
	}
	s := watch(ctx, src, f)
	s.done = func() { f.Close(); restore() }
	return s, nil
}

// readInterrupted reports whether a read failed because ctx was done.
func readInterrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded)
}

// watchedSource is a source whose reads end when its context is done.
type watchedSource struct {
	capture.Source
	stop func() bool
	done func() // after Close; nil if nothing to do
}

// Block passes on the blocks of a source that has them (capture.Holder),
// so that the reader hands packets over without copying them; nil if it
// has none.
func (s *watchedSource) Block() *capture.Block {
	if h, ok := s.Source.(capture.Holder); ok {
		return h.Block()
	}
	return nil
}

func watch(ctx context.Context, src capture.Source, f *os.File) *watchedSource {
	// SetReadDeadline fails on what the poller cannot wait for (regular
	// files): their reads never block.
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	return &watchedSource{Source: src, stop: stop}
}

func (s *watchedSource) Close() error {
	s.stop()
	err := s.Source.Close()
	if s.done != nil {
		s.done()
	}
	return err
}

// pollableStdin returns a copy of descriptor 0 that the runtime's poller
// can wait on (so that a deadline interrupts its reads) when stdin is a
// pipe, a FIFO or a socket, and how to put stdin back in blocking mode;
// nil for anything else (a regular file, a terminal). O_NONBLOCK belongs to
// the open file, which the writer's side does not share.
func pollableStdin() (*os.File, func()) {
	var st unix.Stat_t
	if err := unix.Fstat(0, &st); err != nil {
		return nil, nil
	}
	if m := st.Mode & unix.S_IFMT; m != unix.S_IFIFO && m != unix.S_IFSOCK {
		return nil, nil
	}
	fd, err := unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, nil
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		unix.Close(fd)
		return nil, nil
	}
	wasNonblock := flags&unix.O_NONBLOCK != 0
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, nil
	}
	restore := func() {
		if !wasNonblock {
			unix.SetNonblock(0, false)
		}
	}
	return os.NewFile(uintptr(fd), "stdin"), restore
}

// Progress passes on the source's capture.Progresser, for the progress bar.
func (s *watchedSource) Progress() (done, total int64) {
	if p, ok := s.Source.(capture.Progresser); ok {
		return p.Progress()
	}
	return 0, -1
}
