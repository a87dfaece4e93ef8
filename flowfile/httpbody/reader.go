package httpbody

import (
	"bytes"
	"errors"
	"io"
)

// errHole: the next byte lies in a hole of the flow (zeros in the file
// that no segment carried).
var errHole = errors.New("hole in the flow")

// flowReader reads a flow file forward from an offset, through a buffer of
// its own, and stops at the holes and at the end: whatever a hole covers
// is not data. Offsets only grow.
type flowReader struct {
	r     io.ReaderAt
	size  int64      // bytes in the file
	holes [][2]int64 // sorted [start, end) ranges
	h     int        // first hole that ends after pos

	buf    []byte // bytes of the file from bufOff on
	bufOff int64
	pos    int64
	err    error // a read error of r: sticky
}

const readBuffer = 64 << 10

func newFlowReader(f Flow) *flowReader {
	return &flowReader{r: f.R, size: f.Size, holes: f.Holes, buf: make([]byte, 0, readBuffer)}
}

// limit returns how many bytes lie between pos and the next hole or the
// end: 0 with errHole when pos is in a hole, 0 with io.EOF at the end.
func (fr *flowReader) limit() (int64, error) {
	for fr.h < len(fr.holes) && fr.holes[fr.h][1] <= fr.pos {
		fr.h++
	}
	end := fr.size
	if fr.h < len(fr.holes) {
		if fr.holes[fr.h][0] <= fr.pos {
			return 0, errHole
		}
		end = min(end, fr.holes[fr.h][0])
	}
	if fr.pos >= end {
		return 0, io.EOF
	}
	return end - fr.pos, nil
}

// peek returns up to n (at most readBuffer) bytes from pos without moving
// on. Fewer come only with the reason: a hole, the end, a read error.
func (fr *flowReader) peek(n int) ([]byte, error) {
	n = min(n, readBuffer)
	lim, err := fr.limit()
	if err != nil {
		return nil, err
	}
	if int64(n) > lim {
		n = int(lim)
		err = errHole
		if fr.h >= len(fr.holes) || fr.holes[fr.h][0] >= fr.size {
			err = io.EOF
		}
	}
	if fr.pos < fr.bufOff || fr.pos > fr.bufOff+int64(len(fr.buf)) {
		fr.buf, fr.bufOff = fr.buf[:0], fr.pos
	}
	start := int(fr.pos - fr.bufOff)
	if len(fr.buf)-start < n {
		// Move what is left to the front and read the rest.
		k := copy(fr.buf[:cap(fr.buf)], fr.buf[start:])
		fr.buf, fr.bufOff, start = fr.buf[:k], fr.pos, 0
		for len(fr.buf) < n && fr.err == nil {
			m, rerr := fr.r.ReadAt(fr.buf[len(fr.buf):cap(fr.buf)], fr.bufOff+int64(len(fr.buf)))
			fr.buf = fr.buf[:len(fr.buf)+m]
			if rerr != nil && !(errors.Is(rerr, io.EOF) && len(fr.buf) >= n) {
				if errors.Is(rerr, io.EOF) {
					rerr = io.ErrUnexpectedEOF // shorter than it said
				}
				fr.err = rerr
			}
		}
		if len(fr.buf) < n {
			return fr.buf[start:], fr.err
		}
	}
	return fr.buf[start : start+n], err
}

// advance moves pos n bytes on (past bytes peeked, or skipping).
func (fr *flowReader) advance(n int64) { fr.pos += n }

// Read reads from pos on, as io.Reader.
func (fr *flowReader) Read(p []byte) (int, error) {
	b, err := fr.peek(len(p))
	n := copy(p, b)
	fr.advance(int64(n))
	if n > 0 {
		return n, nil
	}
	return 0, err
}

// readLine returns the next line without its "\n" or "\r\n", at most max
// bytes long. The line is valid until the next call.
func (fr *flowReader) readLine(max int) ([]byte, error) {
	b, err := fr.peek(max + 2)
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		if err == nil {
			return nil, errTooLong
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	fr.advance(int64(i) + 1)
	return bytes.TrimSuffix(b[:i], []byte{'\r'}), nil
}
