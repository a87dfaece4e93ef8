package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"strconv"
)

// pcapng block types (draft-ietf-opsawg-pcapng).
const (
	ngSectionHeader  = 0x0a0d0d0a // the same in either byte order
	ngInterface      = 1
	ngPacket         = 2 // obsolete Packet Block
	ngSimplePacket   = 3
	ngNameResolution = 4
	ngInterfaceStats = 5
	ngEnhancedPacket = 6
	ngByteOrderMagic = 0x1a2b3c4d
)

// Option codes we use.
const (
	optEndOfOpt  = 0
	optEPBFlags  = 2  // enhanced packet: flags, bits 5-8 the FCS length
	optTSResol   = 9  // interface: timestamp resolution
	optFCSLen    = 13 // interface: FCS length in bytes
	optTSOffset  = 14 // interface: seconds added to every timestamp
	maxInterface = 1 << 16
)

// ngReader reads pcapng: any number of sections, each in its own byte
// order, each with interfaces of their own link type and timestamp
// resolution; packets of every interface come out, each with its link type.
//
// It is ours rather than gopacket's pcapgo.NgReader because that one trusts
// the block length (a captured length larger than its block reads on into
// the next blocks; a length below 12 underflows), never checks the trailing
// length that tells a damaged block, allocates for the options of every
// interface and statistics block, ignores if_fcslen, reports damage without
// saying where, and builds a time.Time per packet. This one reads each block
// whole and parses it in place.
type ngReader struct {
	*input
	big     bool // byte order of the current section
	ifaces  []ngIface
	packets int // packets returned so far
}

// ngIface is what a packet needs from its Interface Description Block.
type ngIface struct {
	linkType    LinkType
	snapLen     uint32
	fcsLen      int    // if_fcslen
	unitsPerSec uint64 // if_tsresol: 10^6 unless said otherwise
	offsetNs    int64  // if_tsoffset
}

func newNgReader(in *input) (*ngReader, error) {
	r := &ngReader{input: in}
	// The magic said the first block is a section header: read it now, so
	// that a damaged one fails Open.
	_, body, err := r.block() // not io.EOF: there are bytes
	if err == nil {
		err = r.sectionHeader(body, 0)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *ngReader) u16(b []byte) uint16 {
	if r.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *ngReader) u32(b []byte) uint32 {
	if r.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *ngReader) u64(b []byte) uint64 {
	if r.big {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// Next returns the next packet of any interface; data points into the read
// buffer.
func (r *ngReader) Next() ([]byte, Info, error) {
	for r.err == nil {
		off := r.b.off
		typ, body, err := r.block()
		if err != nil {
			return nil, Info{}, err
		}
		switch typ {
		case ngSectionHeader:
			err = r.sectionHeader(body, off)
		case ngInterface:
			err = r.iface(body, off)
		case ngEnhancedPacket, ngPacket, ngSimplePacket:
			return r.packet(typ, body, off)
		}
		if err != nil {
			return nil, Info{}, err
		}
	}
	return nil, Info{}, r.err
}

// block reads one whole block and returns its type and body (without the
// type and the two lengths).
func (r *ngReader) block() (typ uint32, body []byte, err error) {
	off := r.b.off
	h, err := r.b.peek(12)
	if len(h) < 8 {
		if len(h) == 0 && err == io.EOF {
			r.err = io.EOF
			return 0, nil, io.EOF
		}
		return 0, nil, r.short(r.record(0), off, len(h), 12, err)
	}
	typ = r.u32(h)
	if typ == ngSectionHeader {
		if len(h) < 12 {
			return 0, nil, r.short(r.record(typ), off, len(h), 28, err)
		}
		switch uint32(ngByteOrderMagic) {
		case binary.BigEndian.Uint32(h[8:]):
			r.big = true
		case binary.LittleEndian.Uint32(h[8:]):
			r.big = false
		default:
			return 0, nil, r.fail(r.record(typ), off, fmt.Errorf("%w: bad byte-order magic 0x%08x", ErrCorrupt, binary.BigEndian.Uint32(h[8:])))
		}
	}
	n := r.u32(h[4:])
	switch {
	case n < 12 || n%4 != 0:
		return 0, nil, r.fail(r.record(typ), off, fmt.Errorf("%w: block length %d (must be a multiple of 4, at least 12)", ErrCorrupt, n))
	case n > maxRecord:
		return 0, nil, r.fail(r.record(typ), off, fmt.Errorf("%w: block length %d exceeds the maximum %d", ErrCorrupt, n, maxRecord))
	}
	b, err := r.b.next(int(n))
	if len(b) < int(n) {
		return 0, nil, r.short(r.record(typ), off, len(b), int(n), err)
	}
	if t := r.u32(b[n-4:]); t != n {
		return 0, nil, r.fail(r.record(typ), off, fmt.Errorf("%w: block length %d at its start, %d at its end", ErrCorrupt, n, t))
	}
	return typ, b[8 : n-4], nil
}

// record names a block for errors.
func (r *ngReader) record(typ uint32) string {
	switch typ {
	case ngSectionHeader:
		return "section header block"
	case ngInterface:
		return "interface description block"
	case ngEnhancedPacket, ngPacket, ngSimplePacket:
		return "packet " + strconv.Itoa(r.packets+1)
	}
	return "block"
}

func (r *ngReader) sectionHeader(body []byte, off int64) error {
	if len(body) < 16 {
		return r.fail(r.record(ngSectionHeader), off, fmt.Errorf("%w: section header block of %d bytes", ErrCorrupt, len(body)+12))
	}
	if major, minor := r.u16(body[4:]), r.u16(body[6:]); major != 1 {
		return r.fail(r.record(ngSectionHeader), off, fmt.Errorf("%w: unsupported pcapng version %d.%d", ErrCorrupt, major, minor))
	}
	r.ifaces = r.ifaces[:0] // interface numbers start again in each section
	return nil
}

func (r *ngReader) iface(body []byte, off int64) error {
	if len(body) < 8 {
		return r.fail(r.record(ngInterface), off, fmt.Errorf("%w: interface description block of %d bytes", ErrCorrupt, len(body)+12))
	}
	if len(r.ifaces) >= maxInterface {
		return r.fail(r.record(ngInterface), off, fmt.Errorf("%w: more than %d interfaces in one section", ErrCorrupt, maxInterface))
	}
	ifc := ngIface{
		linkType:    LinkType(r.u16(body)),
		snapLen:     r.u32(body[4:]),
		unitsPerSec: 1e6,
	}
	opts := ngOptions{r, body[8:]}
	for code, val, ok := opts.next(); ok; code, val, ok = opts.next() {
		switch {
		case code == optTSResol && len(val) >= 1:
			v := uint64(val[0] & 0x7f)
			if val[0]&0x80 != 0 {
				if v > 63 {
					return r.fail(r.record(ngInterface), off, fmt.Errorf("%w: timestamp resolution 2^-%d", ErrCorrupt, v))
				}
				ifc.unitsPerSec = 1 << v
			} else {
				if v > 19 {
					return r.fail(r.record(ngInterface), off, fmt.Errorf("%w: timestamp resolution 10^-%d", ErrCorrupt, v))
				}
				ifc.unitsPerSec = 1
				for range v {
					ifc.unitsPerSec *= 10
				}
			}
		case code == optTSOffset && len(val) >= 8:
			ifc.offsetNs = int64(r.u64(val)) * 1e9
		case code == optFCSLen && len(val) >= 1:
			ifc.fcsLen = int(val[0])
		}
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

// ngOptions walks the options of a block; it stops at the end option or
// at the first one that does not fit.
type ngOptions struct {
	r *ngReader
	b []byte
}

func (o *ngOptions) next() (code uint16, val []byte, ok bool) {
	if len(o.b) < 4 {
		return 0, nil, false
	}
	code, n := o.r.u16(o.b), int(o.r.u16(o.b[2:]))
	if code == optEndOfOpt || 4+n > len(o.b) {
		return 0, nil, false
	}
	val = o.b[4 : 4+n]
	o.b = o.b[min(len(o.b), 4+(n+3)&^3):]
	return code, val, true
}

func (r *ngReader) packet(typ uint32, body []byte, off int64) ([]byte, Info, error) {
	var (
		id, capLen, wireLen uint32
		ts                  uint64
		data, opts          []byte
		hdr                 int
	)
	switch typ {
	case ngEnhancedPacket, ngPacket:
		hdr = 20
		if len(body) < hdr {
			return nil, Info{}, r.fail(r.record(typ), off, fmt.Errorf("%w: packet block of %d bytes", ErrCorrupt, len(body)+12))
		}
		if typ == ngEnhancedPacket {
			id = r.u32(body)
		} else {
			id = uint32(r.u16(body))
		}
		ts = uint64(r.u32(body[4:]))<<32 | uint64(r.u32(body[8:]))
		capLen, wireLen = r.u32(body[12:]), r.u32(body[16:])
		if uint64(capLen) > uint64(len(body)-hdr) {
			return nil, Info{}, r.fail(r.record(typ), off, fmt.Errorf("%w: captured length %d exceeds its block", ErrCorrupt, capLen))
		}
		data = body[hdr : hdr+int(capLen)]
		if typ == ngEnhancedPacket {
			opts = body[min(len(body), hdr+(int(capLen)+3)&^3):]
		}
	case ngSimplePacket:
		hdr = 4
		if len(body) < hdr {
			return nil, Info{}, r.fail(r.record(typ), off, fmt.Errorf("%w: packet block of %d bytes", ErrCorrupt, len(body)+12))
		}
		wireLen = r.u32(body)
		capLen = min(wireLen, uint32(len(body)-hdr))
		if len(r.ifaces) > 0 && r.ifaces[0].snapLen > 0 {
			capLen = min(capLen, r.ifaces[0].snapLen)
		}
		data = body[hdr : hdr+int(capLen)]
	}
	if int(id) >= len(r.ifaces) || id >= maxInterface {
		return nil, Info{}, r.fail(r.record(typ), off, fmt.Errorf("%w: interface %d, but the section has %d", ErrCorrupt, id, len(r.ifaces)))
	}
	ifc := &r.ifaces[id]
	fcs := ifc.fcsLen
	if len(opts) > 0 {
		o := ngOptions{r, opts}
		for code, val, ok := o.next(); ok; code, val, ok = o.next() {
			if code == optEPBFlags && len(val) >= 4 {
				if n := int(r.u32(val)>>5) & 0xf; n > 0 {
					fcs = n
				}
			}
		}
	}
	r.packets++
	info := Info{
		CapLen:    int(capLen),
		WireLen:   int(wireLen),
		LinkType:  ifc.linkType,
		Interface: int(id),
	}
	if typ != ngSimplePacket { // a simple packet has no timestamp
		info.Time = ifc.nanos(ts)
	}
	return stripFCS(data, info, fcs), info, nil
}

// nanos converts a timestamp in the interface's units to nanoseconds since
// the epoch, exactly, whatever the resolution.
func (ifc *ngIface) nanos(ts uint64) int64 {
	switch ifc.unitsPerSec {
	case 1e6:
		return int64(ts)*1e3 + ifc.offsetNs
	case 1e9:
		return int64(ts) + ifc.offsetNs
	}
	u := ifc.unitsPerSec
	sec, rem := ts/u, ts%u
	hi, lo := bits.Mul64(rem, 1e9)
	frac, _ := bits.Div64(hi, lo, u) // hi < u: rem < u and 1e9 < 2^64
	return int64(sec)*1e9 + int64(frac) + ifc.offsetNs
}
