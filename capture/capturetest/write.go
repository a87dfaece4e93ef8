package capturetest

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Format is a capture file format.
type Format struct {
	NG        bool // pcapng (one section; an interface per link type) instead of pcap
	Nanos     bool // nanosecond timestamps instead of microseconds
	BigEndian bool
}

// Formats lists every format the package writes.
var Formats = []Format{
	{}, {Nanos: true}, {BigEndian: true}, {Nanos: true, BigEndian: true},
	{NG: true}, {NG: true, Nanos: true}, {NG: true, BigEndian: true}, {NG: true, Nanos: true, BigEndian: true},
}

// String names the format as the testdata README does: pcap-le-us,
// pcapng-be-ns...
func (f Format) String() string {
	s := "pcap"
	if f.NG {
		s = "pcapng"
	}
	if f.BigEndian {
		s += "-be"
	} else {
		s += "-le"
	}
	if f.Nanos {
		return s + "-ns"
	}
	return s + "-us"
}

func (f Format) order() byteOrder {
	if f.BigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// ErrMixedLinks is returned when a pcap file would need more than one
// link type (pcapng can have one per interface).
var ErrMixedLinks = errors.New("capturetest: a pcap file has one link type")

// Snaplen is the snapshot length written in file headers.
const Snaplen = 262144

// Write writes the capture of the scenario to w.
func (s *Scenario) Write(w io.Writer, f Format) (Stats, error) {
	var st Stats
	if err := s.validate(); err != nil {
		return st, err
	}
	links := s.links()
	if !f.NG && len(links) > 1 {
		return st, fmt.Errorf("%w: %v", ErrMixedLinks, links)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	fw := &fileWriter{w: bw, f: f, order: f.order()}
	if err := fw.header(links); err != nil {
		return st, err
	}
	start, step := s.clock()
	enc := newEncoder(s, fw.order)
	var link Link
	emit := func(frame []byte) error {
		t := start + st.Packets*step
		st.Packets++
		st.Bytes += int64(len(frame))
		return fw.packet(t, link, frame)
	}
	var files fileSet
	err := s.schedule(&st, func(c *Conn, p *pkt) error {
		files.add(s, c, p)
		link = c.Link
		return enc.encode(c, p, emit)
	})
	if err != nil {
		return st, err
	}
	st.Files = files.n
	return st, bw.Flush()
}

// WriteFile writes the capture to a file, gzip-compressed if the name ends
// in ".gz".
func (s *Scenario) WriteFile(name string, f Format) (Stats, error) {
	file, err := os.Create(name)
	if err != nil {
		return Stats{}, err
	}
	var w io.Writer = file
	var zw *gzip.Writer
	if strings.HasSuffix(name, ".gz") {
		zw, _ = gzip.NewWriterLevel(file, gzip.BestSpeed)
		w = zw
	}
	st, err := s.Write(w, f)
	if zw != nil {
		err = errors.Join(err, zw.Close())
	}
	if err = errors.Join(err, file.Close()); err != nil {
		return st, fmt.Errorf("write %s: %w", name, err)
	}
	return st, nil
}

// fileSet counts the directions that carried data.
type fileSet struct {
	seen map[[2]int32]bool
	n    int
}

func (fs *fileSet) add(s *Scenario, c *Conn, p *pkt) {
	if p.kind != kindData {
		return
	}
	if fs.seen == nil {
		fs.seen = make(map[[2]int32]bool)
	}
	k := [2]int32{p.conn, int32(p.dir)}
	if !fs.seen[k] {
		fs.seen[k] = true
		fs.n++
	}
}

// links returns the link types in use, in the order connections first use
// them: pcapng interface i has links[i].
func (s *Scenario) links() []Link {
	var ls []Link
	for i := range s.Conns {
		if !containsLink(ls, s.Conns[i].Link) {
			ls = append(ls, s.Conns[i].Link)
		}
	}
	if len(ls) == 0 {
		ls = []Link{Ethernet}
	}
	return ls
}

func containsLink(ls []Link, l Link) bool {
	for _, x := range ls {
		if x == l {
			return true
		}
	}
	return false
}

// clock returns the time of the first packet and the step, in ns.
func (s *Scenario) clock() (start, step int64) {
	t, d := s.Start, s.Step
	if t.IsZero() {
		t = defaultStart
	}
	if d == 0 {
		d = defaultStep
	}
	return t.UnixNano(), int64(d)
}

// PacketTime returns the capture time of frame i (from 0) as written in a
// format with nanosecond timestamps; microsecond formats truncate it.
func (s *Scenario) PacketTime(i int64) time.Time {
	start, step := s.clock()
	return time.Unix(0, start+i*step).UTC()
}

// fileWriter writes pcap or pcapng records through a buffered writer.
type fileWriter struct {
	w      *bufio.Writer
	f      Format
	order  byteOrder
	ifaces [SLL2 + 1]uint32 // pcapng interface of each link type
	hdr    [28]byte
}

func (fw *fileWriter) header(links []Link) error {
	o := fw.order
	if !fw.f.NG {
		magic := uint32(0xa1b2c3d4)
		if fw.f.Nanos {
			magic = 0xa1b23c4d
		}
		b := o.AppendUint32(fw.hdr[:0], magic)
		b = o.AppendUint16(b, 2)
		b = o.AppendUint16(b, 4)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // thiszone, sigfigs
		b = o.AppendUint32(b, Snaplen)
		b = o.AppendUint32(b, uint32(links[0].DLT()))
		_, err := fw.w.Write(b)
		return err
	}
	// Section header block: no options, section length unknown.
	b := o.AppendUint32(nil, 0x0a0d0d0a)
	b = o.AppendUint32(b, 28)
	b = o.AppendUint32(b, 0x1a2b3c4d)
	b = o.AppendUint16(b, 1)
	b = o.AppendUint16(b, 0)
	b = o.AppendUint64(b, ^uint64(0))
	b = o.AppendUint32(b, 28)
	for i, l := range links {
		fw.ifaces[l] = uint32(i)
		n := uint32(20)
		if fw.f.Nanos {
			n += 12 // if_tsresol, opt_endofopt
		}
		b = o.AppendUint32(b, 1)
		b = o.AppendUint32(b, n)
		b = o.AppendUint16(b, l.DLT())
		b = o.AppendUint16(b, 0)
		b = o.AppendUint32(b, Snaplen)
		if fw.f.Nanos {
			b = o.AppendUint16(b, 9) // if_tsresol: 10^-9
			b = o.AppendUint16(b, 1)
			b = append(b, 9, 0, 0, 0)
			b = o.AppendUint32(b, 0) // opt_endofopt
		}
		b = o.AppendUint32(b, n)
	}
	_, err := fw.w.Write(b)
	return err
}

var zeros [4]byte

func (fw *fileWriter) packet(t int64, l Link, frame []byte) error {
	o := fw.order
	ts := uint64(t)
	if !fw.f.Nanos {
		ts /= 1000
	}
	n := uint32(len(frame))
	if !fw.f.NG {
		sec, frac := ts/1e9, ts%1e9
		if !fw.f.Nanos {
			sec, frac = ts/1e6, ts%1e6
		}
		b := o.AppendUint32(fw.hdr[:0], uint32(sec))
		b = o.AppendUint32(b, uint32(frac))
		b = o.AppendUint32(b, n)
		b = o.AppendUint32(b, n)
		fw.w.Write(b)
		_, err := fw.w.Write(frame)
		return err
	}
	padded := (n + 3) &^ 3
	total := 32 + padded
	b := o.AppendUint32(fw.hdr[:0], 6)
	b = o.AppendUint32(b, total)
	b = o.AppendUint32(b, fw.ifaces[l])
	b = o.AppendUint32(b, uint32(ts>>32))
	b = o.AppendUint32(b, uint32(ts))
	b = o.AppendUint32(b, n)
	b = o.AppendUint32(b, n)
	fw.w.Write(b)
	fw.w.Write(frame)
	fw.w.Write(zeros[:padded-n])
	_, err := fw.w.Write(o.AppendUint32(fw.hdr[:0], total))
	return err
}

// byteOrder reads and appends: binary.LittleEndian and BigEndian are both.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}
