package flowfile

import (
	"errors"
	"fmt"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/flowcap/flowcap/reassembly"
)

// Per-stream pcap files (flowcap -K, as tcpflow -K, but beside the flow
// files rather than instead of them, and with the capture's link type
// rather than a fixed one).
//
// A stream's pcap is NAME.pcap when its flow file is NAME: at the stream's
// first frame its flow file is created at once, under the first count
// (c1, c2...) for which both names are free. A stream that carries no
// payload keeps its pcap; its empty flow file is removed when it closes.
// The pcap goes through the sink's machinery like a flow file: buffered,
// within the memory and descriptor budgets, closed and reopened as
// needed. Frames of another link type than the stream's first (a pcapng
// mixing interfaces) are left out of it and counted.

// pcapSnaplen is the snapshot length written in the pcap headers: as
// large as any frame flowcap keeps.
const pcapSnaplen = 262144

// pcapFile is the pcap of one stream.
type pcapFile struct {
	f  file // name, descriptor, buffer, as a flow file's
	w  *pcapgo.Writer
	lt uint32
	n  int64 // bytes written so far: the next record's offset
	s  *sink
}

// Write appends to the file, for pcapgo.Writer.
func (p *pcapFile) Write(b []byte) (int, error) {
	if err := p.s.writeAt(&p.f, p.n, b); err != nil {
		return 0, err
	}
	p.n += int64(len(b))
	return len(b), nil
}

// createPcap creates name.pcap for f; taken when that name exists.
func (s *sink) createPcap(f *file, name string) (taken bool, err error) {
	pname := name + ".pcap"
	fd, err := unix.Openat(s.w.dirfd, pname, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o666)
	if err == unix.EEXIST {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("create %s: %w", s.w.path(pname), err)
	}
	unix.Close(fd) // reopened when its buffer is written out
	f.pcap = &pcapFile{f: file{key: f.key, vlan: f.vlan, first: f.first, fd: -1, name: pname}, s: s}
	return false, nil
}

// Frame appends seg's frame to the stream's pcap (reassembly.FrameSink).
func (s *sink) Frame(st *reassembly.Stream, frame []byte, linkType uint32, t int64, wireLen uint32) error {
	if !s.w.cfg.Pcap {
		return nil
	}
	f := s.state(st)
	if f.closed {
		return nil
	}
	if s.w.cfg.MaxDisk > 0 {
		// A record is written whole or not at all, the file header with
		// the first; past the quota no file is created.
		n := int64(16 + len(frame))
		if f.pcap == nil || f.pcap.w == nil {
			n += 24
		}
		if (f.name == "" && s.w.full.Load()) || s.reserve(&f.pcapAcct, f.pcapAcct+n, f.pcapAcct+n) < f.pcapAcct+n {
			s.w.pcapLeft.Add(1)
			return nil
		}
	}
	if f.name == "" {
		if err := s.ensureOpen(f); err != nil { // names both files
			return err
		}
	}
	p := f.pcap
	if p == nil {
		return nil // the flow file was named before -K could pair it (cannot happen from a shard)
	}
	if p.w == nil {
		p.lt = linkType
		p.w = pcapgo.NewWriterNanos(p)
		if err := p.w.WriteFileHeader(pcapSnaplen, layers.LinkType(linkType)); err != nil {
			return err
		}
	}
	if linkType != p.lt {
		s.w.pcapLeft.Add(1)
		return nil
	}
	ci := gopacket.CaptureInfo{
		Timestamp:     time.Unix(0, t),
		CaptureLength: len(frame),
		Length:        max(int(wireLen), len(frame)),
	}
	s.w.pcapFrames.Add(1)
	return p.w.WritePacket(ci, frame)
}

// closePcap writes the stream's pcap out and closes it, its times those
// of the first packet, as the flow file's.
func (s *sink) closePcap(f *file) error {
	p := &f.pcap.f
	err := s.flush(p)
	if p.fd >= 0 {
		if cerr := s.closeFD(p); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	ts := unix.NsecToTimespec(p.first)
	if err := unix.UtimesNanoAt(s.w.dirfd, p.name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", s.w.path(p.name), err)
	}
	return nil
}

// dropUnwanted removes the empty flow file of a stream that carried no
// payload, made only to name its pcap.
func (s *sink) dropUnwanted(f *file) error {
	var err error
	if f.fd >= 0 {
		err = s.closeFD(f)
	}
	if uerr := unix.Unlinkat(s.w.dirfd, f.name, 0); uerr != nil && !errors.Is(uerr, unix.ENOENT) {
		err = errors.Join(err, fmt.Errorf("remove %s: %w", s.w.path(f.name), uerr))
	}
	s.w.files.Add(^uint64(0))
	return err
}

// PcapName returns the name of s's pcap file (-K), "" if it has none.
// Valid during and after the sink's Close of s.
func PcapName(s *reassembly.Stream) string {
	if f, ok := s.Handle.(*file); ok && f.pcap != nil {
		return f.pcap.f.name
	}
	return ""
}
