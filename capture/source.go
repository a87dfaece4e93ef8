package capture

import (
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Info describes one captured packet.
type Info struct {
	Time      int64    // capture time, nanoseconds since the Unix epoch
	CapLen    int      // bytes captured, as the record says (an FCS included)
	WireLen   int      // bytes on the wire
	LinkType  LinkType // per packet: a pcapng file may mix link types
	Interface int      // pcapng interface (per section) or live ifindex; 0 for pcap
}

// Source yields the packets of one input, in order.
type Source interface {
	// Next returns the next packet. data is valid until the next call.
	// It returns io.EOF at the end of the input, and a *FormatError (ErrTruncated
	// or ErrCorrupt) when the input is damaged: every packet before the damage has
	// been returned by then, and every later call returns the same error.
	Next() (data []byte, info Info, err error)
	// Name is the input's name as the user gave it ("-" for stdin).
	Name() string
	Close() error
}

// Errors callers test with errors.Is. Opening reports ErrNotCapture and
// ErrEmpty; Next reports ErrTruncated and ErrCorrupt inside a *FormatError.
var (
	// ErrNotCapture: the input is neither pcap nor pcapng (nor gzip of either).
	ErrNotCapture = errors.New("not a pcap or pcapng file")
	// ErrEmpty: the input has no bytes at all.
	ErrEmpty = errors.New("empty file")
	// ErrTruncated: the input ends inside a record, as a capture cut short
	// (disk full, capture killed, file still being written) does. Everything
	// before that record was read; a caller may warn and carry on.
	ErrTruncated = errors.New("truncated")
	// ErrCorrupt: a record cannot be right (a length beyond any sane limit, a
	// pcapng block that contradicts itself). Reading stops there: nothing after
	// it can be trusted to be where the damaged record says.
	ErrCorrupt = errors.New("corrupt")
)

// A FormatError reports where an input is damaged. It reads as one line:
//
//	trace.pcap: packet 13 at offset 4096: truncated: the input ends 40 bytes into a 60-byte record
type FormatError struct {
	Name   string // the input, "stdin" for "-"
	Record string // what was being read: "file header", "packet 13", "block 7 (interface description)"
	Offset int64  // where that record starts in the input (after decompression)
	Err    error  // ErrTruncated or ErrCorrupt, wrapped with the detail
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: %s at offset %d: %v", e.Name, e.Record, e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// Is makes a truncated input io.ErrUnexpectedEOF as well, the error Go's
// readers of cut streams give.
func (e *FormatError) Is(target error) bool {
	return target == io.ErrUnexpectedEOF && errors.Is(e.Err, ErrTruncated)
}

// Limits on what a record may claim, so that a corrupt length costs an error
// and not gigabytes of memory.
const (
	// maxSnapLen is libpcap's MAXIMUM_SNAPLEN: no packet from tcpdump or
	// dumpcap is longer, and libpcap refuses longer records.
	maxSnapLen = 262144
	// maxRecord bounds what a file may claim beyond maxSnapLen (through a
	// larger snaplen or pcapng block), for writers that keep whole TSO/GRO
	// super-packets. Buffers grow only as the bytes actually arrive.
	maxRecord = 16 << 20
)

// Open opens a capture file by name ("-" is stdin). The format (pcap or
// pcapng, either of them gzip-compressed) is detected from the first bytes,
// never from the name, and without seeking, so pipes work.
func Open(path string) (Source, error) {
	if path == "-" {
		s, err := NewSource(os.Stdin, "-")
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err // "open x: no such file or directory"
	}
	s, err := NewSource(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// NewSource reads a capture from r; name is what errors and Name report.
// If r is an io.Closer, Close closes it (but never os.Stdin).
func NewSource(r io.Reader, name string) (Source, error) {
	display := name
	if name == "-" {
		display = "stdin"
	}
	in := &input{name: name, display: display, underlying: r, size: sizeOf(r)}
	in.read.r = r
	b := newBufReader(&in.read)
	magic, err := b.peek(4)
	if len(magic) == 0 && err == io.EOF {
		return nil, fmt.Errorf("%s: %w", display, ErrEmpty)
	}
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, zerr := gzip.NewReader(b)
		switch {
		case zerr == io.EOF || zerr == io.ErrUnexpectedEOF:
			return nil, fmt.Errorf("%s: %w: the input ends in the gzip header", display, ErrTruncated)
		case zerr != nil:
			return nil, in.readErr(zerr) // "x: gzip: invalid header"
		}
		in.gzip = zr
		b = newBufReader(zr)
		magic, err = b.peek(4)
		if len(magic) == 0 && err == io.EOF {
			return nil, fmt.Errorf("%s: %w (after gzip decompression)", display, ErrEmpty)
		}
	}
	if err != nil && err != io.EOF {
		if len(magic) < 4 {
			return nil, in.short("file header", 0, len(magic), 4, err)
		}
		// The magic is there; the reader sees the error when it gets to it.
	}
	in.b = b
	var s Source
	switch {
	case len(magic) == 4 && binary.LittleEndian.Uint32(magic) == ngSectionHeader:
		s, err = newNgReader(in)
	case len(magic) == 4 && pcapMagic(magic) != nil:
		s, err = newPcapReader(in)
	default:
		return nil, fmt.Errorf("%s: %w (%s)", display, ErrNotCapture, describeMagic(magic))
	}
	if err != nil {
		return nil, err // not a typed nil in a Source
	}
	return s, nil
}

// describeMagic says what the first bytes of a non-capture look like, naming
// the compressions users meet so the fix is obvious.
func describeMagic(m []byte) string {
	switch {
	case len(m) < 4:
		return fmt.Sprintf("only %d bytes", len(m))
	case m[0] == 0xfd && m[1] == '7' && m[2] == 'z' && m[3] == 'X':
		return "xz-compressed: decompress it first"
	case m[0] == 'B' && m[1] == 'Z' && m[2] == 'h':
		return "bzip2-compressed: decompress it first"
	case m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd:
		return "zstd-compressed: decompress it first"
	case m[0] == 'P' && m[1] == 'K' && m[2] == 3 && m[3] == 4:
		return "a zip archive: extract it first"
	}
	return fmt.Sprintf("magic 0x%08x", binary.BigEndian.Uint32(m))
}

// input is what both readers share: the buffered stream and its names.
type input struct {
	name, display string
	underlying    io.Reader
	read          counter // reads underlying, counting for Progress
	size          int64   // of underlying, -1 if unknown
	gzip          *gzip.Reader
	b             *bufReader
	err           error // sticky: once set, Next returns it forever
}

func (in *input) Name() string { return in.name }

// Block makes the file and stream sources Holders.
func (in *input) Block() *Block { return in.b.cur }

func (in *input) Close() error {
	if in.gzip != nil {
		in.gzip.Close()
	}
	if c, ok := in.underlying.(io.Closer); ok && in.underlying != os.Stdin {
		return c.Close()
	}
	return nil
}

// fail records a damaged record; every later Next returns the same error.
func (in *input) fail(record string, off int64, err error) error {
	in.err = &FormatError{Name: in.display, Record: record, Offset: off, Err: err}
	return in.err
}

// readErr turns an error of the underlying reader into one line with the
// input's name. A truncated gzip stream is a truncated input.
func (in *input) readErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err // "read x: is a directory" names the input already
	}
	return fmt.Errorf("%s: %w", in.display, err)
}

// short reports that the input ended (or failed) n bytes into a want-byte
// record at off.
func (in *input) short(record string, off int64, n, want int, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		unit := "bytes"
		if n == 1 {
			unit = "byte"
		}
		return in.fail(record, off, fmt.Errorf("%w: the input ends %d %s into a %d-byte record", ErrTruncated, n, unit, want))
	}
	var pe *os.PathError
	if in.gzip != nil && !errors.As(err, &pe) { // "gzip: invalid checksum", "flate: corrupt input..."
		return in.fail(record, off, fmt.Errorf("%w: %v", ErrCorrupt, err))
	}
	in.err = in.readErr(err)
	return in.err
}

// pcapMagic returns the byte order of a pcap file header, or nil.
func pcapMagic(m []byte) binary.ByteOrder {
	switch binary.LittleEndian.Uint32(m) {
	case pcapMicro, pcapNano, pcapKuznetzov:
		return binary.LittleEndian
	}
	switch binary.BigEndian.Uint32(m) {
	case pcapMicro, pcapNano, pcapKuznetzov:
		return binary.BigEndian
	}
	return nil
}

// bufReader is a read buffer that hands out slices of itself: a record read
// whole stays where it is (no copy per packet), and the buffer grows only as
// bytes arrive, so a record that claims 16 MiB in a 100-byte input costs
// nothing. A slice is valid until the next call, or for as long as its
// block (cur) is retained: the buffer then moves to another block rather
// than overwrite it.
type bufReader struct {
	r    io.Reader
	cur  *Block // buf's memory; nil before the first read
	buf  []byte
	pos  int   // unread bytes are buf[pos:end]
	end  int   //
	off  int64 // input offset of buf[pos]
	err  error // sticky error from r
	size int   // initial buffer size
	pool *blockPool
}

// BlockSize is the size of the blocks a file or stream source reads into
// (see Block); a record larger than that gets a block of its own.
const BlockSize = 256 << 10

const bufSize = BlockSize

func newBufReader(r io.Reader) *bufReader {
	return &bufReader{r: r, size: bufSize, pool: newBlockPool(bufSize)}
}

// fill tries to have n unread bytes buffered.
func (b *bufReader) fill(n int) {
	for b.end-b.pos < n && b.err == nil {
		if b.end == len(b.buf) || len(b.buf)-b.pos < n && b.pos > 0 {
			b.makeRoom(n)
		}
		m, err := b.r.Read(b.buf[b.end:])
		b.end += m
		if err != nil {
			b.err = err
		} else if m == 0 {
			// A reader that returns nothing forever would spin: io.Reader
			// allows the odd empty read, not a hundred in a row.
			for i := 0; i < 100 && m == 0 && err == nil; i++ {
				m, err = b.r.Read(b.buf[b.end:])
				b.end += m
			}
			if m == 0 && err == nil {
				err = io.ErrNoProgress
			}
			b.err = err
		}
	}
}

// makeRoom moves the unread bytes to the front of the buffer, which grows
// (at most doubling, towards n) when they fill it. The bytes move to
// another block when someone else holds the current one.
func (b *bufReader) makeRoom(n int) {
	unread := b.end - b.pos
	size := len(b.buf)
	if unread == size {
		size = max(b.size, min(n, 2*size))
	}
	if b.cur != nil && size <= len(b.cur.buf) && b.cur.refs.Load() == 1 {
		copy(b.cur.buf, b.buf[b.pos:b.end])
	} else {
		nb := b.pool.get(size)
		copy(nb.buf, b.buf[b.pos:b.end])
		if b.cur != nil {
			b.cur.Release()
		}
		b.cur = nb
	}
	b.buf = b.cur.buf[:size]
	b.pos, b.end = 0, unread
}

// next consumes n bytes. If fewer are left it returns what there is and the
// reason (io.EOF at the end of the input).
func (b *bufReader) next(n int) ([]byte, error) {
	b.fill(n)
	m := min(n, b.end-b.pos)
	p := b.buf[b.pos : b.pos+m]
	b.pos += m
	b.off += int64(m)
	if m < n {
		return p, b.err
	}
	return p, nil
}

// peek returns up to n bytes without consuming them.
func (b *bufReader) peek(n int) ([]byte, error) {
	b.fill(n)
	m := min(n, b.end-b.pos)
	if m < n {
		return b.buf[b.pos : b.pos+m], b.err
	}
	return b.buf[b.pos : b.pos+m], nil
}

// Read lets gzip read through the buffer that sniffed the magic.
func (b *bufReader) Read(p []byte) (int, error) {
	if b.pos == b.end {
		if b.err != nil {
			return 0, b.err
		}
		if len(p) >= b.size { // large read: skip the copy
			n, err := b.r.Read(p)
			b.off += int64(n)
			if err != nil {
				b.err = err
			}
			return n, err
		}
		b.fill(1)
		if b.pos == b.end {
			return 0, b.err
		}
	}
	n := copy(p, b.buf[b.pos:b.end])
	b.pos += n
	b.off += int64(n)
	return n, nil
}

// ReadByte makes bufReader an io.ByteReader, so flate reads it directly
// instead of through another buffer.
func (b *bufReader) ReadByte() (byte, error) {
	if b.pos == b.end {
		b.fill(1)
		if b.pos == b.end {
			return 0, b.err
		}
	}
	c := b.buf[b.pos]
	b.pos++
	b.off++
	return c, nil
}
