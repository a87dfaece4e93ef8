package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
)

// The magic numbers of a classic pcap file, as read in its own byte order.
const (
	pcapMicro     = 0xa1b2c3d4 // microsecond timestamps
	pcapNano      = 0xa1b23c4d // nanosecond timestamps
	pcapKuznetzov = 0xa1b2cd34 // Alexey Kuznetzov's patched libpcap: 24-byte record headers
)

// The pcap file header's link type field carries more than the type
// (draft-ietf-opsawg-pcap, libpcap's LT_* macros): bits 0-15 the type, bit 26
// says an FCS of (bits 28-31)×2 bytes trails every frame.
const (
	fcsPresent = 0x04000000
	fcsShift   = 28
)

// pcapReader reads the classic libpcap format.
//
// It is ours rather than gopacket's pcapgo.Reader because that one keeps
// the FCS bits in the link type (a frame with an FCS then decodes as an
// unknown type), takes a record as long as any snaplen the header claims
// (0x7fffffff), rejects versions 2.0-2.3 that libpcap reads, says nothing
// of where a damaged record is, and builds a time.Time per packet. This one
// is as small and hands out records in place from its read buffer.
//
// A record longer than the file's snaplen is kept whole (libpcap cuts it to
// the snaplen, but its bytes are real: some writers do not truncate); only
// one beyond maxSnapLen and the snaplen both is corrupt.
type pcapReader struct {
	*input
	big       bool // byte order of the file
	nano      bool // timestamps in nanoseconds, not microseconds
	hdrLen    int  // record header: 16, or 24 in Kuznetzov's format
	swapLens  int  // capture and wire length order: lensInOrder, lensSwapped, lensMaybeSwapped
	maxCapLen uint32
	linkType  LinkType
	fcsLen    int // bytes of FCS that trail each frame
	packets   int // records returned so far
}

const (
	lensInOrder      = iota
	lensSwapped      // versions before 2.3 wrote the wire length first
	lensMaybeSwapped // some 2.3 files did, some did not
)

func newPcapReader(in *input) (*pcapReader, error) {
	h, err := in.b.next(24)
	if len(h) < 24 {
		return nil, in.short("file header", 0, len(h), 24, err)
	}
	r := &pcapReader{input: in, hdrLen: 16}
	r.big = pcapMagic(h) == binary.BigEndian
	switch r.u32(h[0:]) {
	case pcapNano:
		r.nano = true
	case pcapKuznetzov:
		r.hdrLen = 24
	}
	major, minor := r.u16(h[4:]), r.u16(h[6:])
	switch {
	case major == 2 && minor <= 2, major == 543 && minor == 0: // 543.0: DG/UX tcpdump
		r.swapLens = lensSwapped
	case major == 2 && minor == 3:
		r.swapLens = lensMaybeSwapped
	case major == 2 && minor == 4:
	default:
		return nil, fmt.Errorf("%s: unsupported pcap version %d.%d", in.display, major, minor)
	}
	snapLen := r.u32(h[16:])
	r.maxCapLen = max(maxSnapLen, min(snapLen, maxRecord))
	lt := r.u32(h[20:])
	r.linkType = LinkType(lt & 0xffff)
	if lt&fcsPresent != 0 {
		r.fcsLen = 2 * int(lt>>fcsShift)
	}
	return r, nil
}

func (r *pcapReader) u16(b []byte) uint16 {
	if r.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *pcapReader) u32(b []byte) uint32 {
	if r.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// LinkType is the link type of every packet in the file.
func (r *pcapReader) LinkType() LinkType { return r.linkType }

// Next returns the next packet; data points into the read buffer.
func (r *pcapReader) Next() ([]byte, Info, error) {
	if r.err != nil {
		return nil, Info{}, r.err
	}
	off := r.b.off
	h, err := r.b.next(r.hdrLen)
	if len(h) < r.hdrLen {
		if len(h) == 0 && err == io.EOF {
			r.err = io.EOF
			return nil, Info{}, io.EOF
		}
		return nil, Info{}, r.short(r.record(), off, len(h), r.hdrLen, err)
	}
	sec, frac := r.u32(h[0:]), r.u32(h[4:])
	capLen, wireLen := r.u32(h[8:]), r.u32(h[12:])
	if r.swapLens == lensSwapped || r.swapLens == lensMaybeSwapped && capLen > wireLen {
		capLen, wireLen = wireLen, capLen
	}
	if capLen > r.maxCapLen {
		return nil, Info{}, r.fail(r.record(), off,
			fmt.Errorf("%w: capture length %d exceeds the maximum %d", ErrCorrupt, capLen, r.maxCapLen))
	}
	data, err := r.b.next(int(capLen))
	if len(data) < int(capLen) {
		return nil, Info{}, r.short(r.record(), off, r.hdrLen+len(data), r.hdrLen+int(capLen), err)
	}
	r.packets++
	ns := int64(frac)
	if !r.nano {
		ns *= 1000
	}
	info := Info{
		Time:     int64(sec)*1e9 + ns,
		CapLen:   int(capLen),
		WireLen:  int(wireLen),
		LinkType: r.linkType,
	}
	return stripFCS(data, info, r.fcsLen), info, nil
}

// record names the record being read, for errors.
func (r *pcapReader) record() string { return "packet " + strconv.Itoa(r.packets+1) }

// stripFCS cuts the part of a trailing FCS the capture kept: it is not part
// of the frame's contents and would otherwise look like data to a decoder
// that falls back to the captured length.
func stripFCS(data []byte, info Info, fcsLen int) []byte {
	if fcsLen <= 0 || info.WireLen < fcsLen {
		return data
	}
	if kept := info.CapLen - (info.WireLen - fcsLen); kept > 0 {
		return data[:len(data)-min(kept, len(data))]
	}
	return data
}
