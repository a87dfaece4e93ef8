package capturetest

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// encoder turns scheduled segments into link-layer frames. It owns two
// buffers reused for every frame, so encoding does not allocate once they
// have grown; a frame handed to emit is valid until emit returns.
type encoder struct {
	s     *Scenario
	order byteOrder  // the file's: DLT_NULL writes the family in it
	rng   *rand.Rand // fragment order, padding bytes
	seg   []byte     // the TCP segment of a fragmented packet
	frame []byte
	ipID  uint16
	perm  []int
}

func newEncoder(s *Scenario, order byteOrder) *encoder {
	return &encoder{s: s, order: order, rng: rand.New(rand.NewPCG(s.Seed, 0xf4a3e)), frame: make([]byte, 0, 2048)}
}

const (
	tcpHeaderLen   = 20
	ipv4HeaderLen  = 20
	ipv6HeaderLen  = 40
	ipv4OptionsLen = 12 // record route with two slots, then end of options
	ipv6ExtLen     = 16 // hop-by-hop and destination options, 8 bytes each
	fragHeaderLen  = 8
	minIPPacket    = 46 // payload of a minimum 60-byte Ethernet frame
)

func endpoints(c *Conn, d Dir) (src, dst netip.AddrPort) {
	if d == ServerToClient {
		return c.Server, c.Client
	}
	return c.Client, c.Server
}

// mac derives a locally administered MAC address from an IP address.
func mac(a netip.Addr) [6]byte {
	b := a.As16()
	return [6]byte{0x02, 0x00, b[12], b[13], b[14], b[15]}
}

// encode builds the frames of p and calls emit for each.
func (e *encoder) encode(c *Conn, p *pkt, emit func([]byte) error) error {
	src, dst := endpoints(c, p.dir)
	v4 := src.Addr().Is4()
	e.ipID++
	optLen := 0
	if p.flags&flagSYN != 0 {
		optLen = 4 // MSS
	}
	segLen := tcpHeaderLen + optLen + int(p.n)
	if !p.frag {
		b := e.link(c, p.dir, v4)
		ipStart := len(b)
		b = e.ipHeader(b, src, dst, segLen, 0, false, false, true, e.s.TSO && p.kind == kindData)
		b = e.tcp(b, c, p, src, dst, optLen)
		e.frame = e.pad(b, len(b)-ipStart)
		return emit(e.frame)
	}

	// A fragmented segment: build the whole TCP segment once, then send it
	// in FragSize pieces, each behind its own IP header.
	e.seg = e.tcp(e.seg[:0], c, p, src, dst, optLen)
	size := e.s.FragSize
	if size <= 0 {
		size = defaultFragSize
	}
	n := (len(e.seg) + size - 1) / size
	e.perm = e.perm[:0]
	for i := range n {
		e.perm = append(e.perm, i)
	}
	if e.s.FragShuffle {
		e.rng.Shuffle(n, func(i, j int) { e.perm[i], e.perm[j] = e.perm[j], e.perm[i] })
	}
	for _, i := range e.perm {
		off := i * size
		chunk := e.seg[off:min(off+size, len(e.seg))]
		b := e.link(c, p.dir, v4)
		ipStart := len(b)
		b = e.ipHeader(b, src, dst, len(chunk), off, true, i < n-1, i == 0, false)
		b = append(b, chunk...)
		e.frame = e.pad(b, len(b)-ipStart)
		if err := emit(e.frame); err != nil {
			return err
		}
	}
	return nil
}

// link starts a frame with the connection's link-layer header.
func (e *encoder) link(c *Conn, d Dir, v4 bool) []byte {
	b := e.frame[:0]
	etype := uint16(0x86dd)
	if v4 {
		etype = 0x0800
	}
	src, dst := endpoints(c, d)
	smac, dmac := mac(src.Addr()), mac(dst.Addr())
	switch c.Link {
	case Ethernet:
		b = append(b, dmac[:]...)
		b = append(b, smac[:]...)
		for _, t := range c.VLAN {
			tpid := t.TPID
			if tpid == 0 {
				tpid = 0x8100
			}
			b = binary.BigEndian.AppendUint16(b, tpid)
			b = binary.BigEndian.AppendUint16(b, t.TCI)
		}
		b = binary.BigEndian.AppendUint16(b, etype)
	case Null:
		family := uint32(2)
		if !v4 {
			family = e.s.NullFamily6
			if family == 0 {
				family = defaultFamily6
			}
		}
		b = e.order.AppendUint32(b, family)
	case SLL:
		b = binary.BigEndian.AppendUint16(b, sllPacketType(d))
		b = append(b, 0, 1, 0, 6) // ARPHRD_ETHER, address length
		b = append(b, smac[:]...)
		b = append(b, 0, 0)
		b = binary.BigEndian.AppendUint16(b, etype)
	case SLL2:
		b = binary.BigEndian.AppendUint16(b, etype)
		b = append(b, 0, 0, 0, 0, 0, 1, 0, 1) // reserved, ifindex 1, ARPHRD_ETHER
		b = append(b, byte(sllPacketType(d)), 6)
		b = append(b, smac[:]...)
		b = append(b, 0, 0)
	}
	return b
}

// sllPacketType: the client's packets are outgoing, the server's to us.
func sllPacketType(d Dir) uint16 {
	if d == ClientToServer {
		return 4
	}
	return 0
}

// ipHeader appends the IP header(s) of a packet carrying n bytes of the
// TCP segment from fragOff. fragmented says the segment is sent as
// fragments (an IPv6 fragment header even if one piece holds it all: an
// atomic fragment); more, that more fragments follow. first says the piece
// is the first fragment or the whole segment: IPv4 options are not copied
// to later fragments. tso writes an IPv4 total length of 0.
func (e *encoder) ipHeader(b []byte, src, dst netip.AddrPort, n, fragOff int, fragmented, more, first, tso bool) []byte {
	if src.Addr().Is4() {
		hl := ipv4HeaderLen
		if e.s.IPv4Options && first {
			hl += ipv4OptionsLen
		}
		start := len(b)
		b = append(b, byte(0x40|hl/4), 0)
		total := uint16(hl + n)
		if tso {
			total = 0
		}
		b = binary.BigEndian.AppendUint16(b, total)
		b = binary.BigEndian.AppendUint16(b, e.ipID)
		fl := uint16(fragOff / 8)
		switch {
		case more:
			fl |= 0x2000
		case !fragmented:
			fl |= 0x4000 // don't fragment
		}
		b = binary.BigEndian.AppendUint16(b, fl)
		b = append(b, 64, 6, 0, 0)
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
		if hl > ipv4HeaderLen {
			b = append(b, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0)
		}
		binary.BigEndian.PutUint16(b[start+10:], ^fold(sum(b[start:], 0)))
		return b
	}
	ext := 0
	if e.s.IPv6ExtHeaders {
		ext = ipv6ExtLen
	}
	if fragmented {
		ext += fragHeaderLen
	}
	next := byte(6)
	switch {
	case e.s.IPv6ExtHeaders:
		next = 0
	case fragmented:
		next = 44
	}
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(ext+n))
	b = append(b, next, 64)
	s16, d16 := src.Addr().As16(), dst.Addr().As16()
	b = append(b, s16[:]...)
	b = append(b, d16[:]...)
	if e.s.IPv6ExtHeaders {
		after := byte(6)
		if fragmented {
			after = 44
		}
		b = append(b, 60, 0, 1, 4, 0, 0, 0, 0)    // hop-by-hop: PadN, then destination options
		b = append(b, after, 0, 1, 4, 0, 0, 0, 0) // destination options: PadN
	}
	if fragmented {
		fl := uint16(fragOff)
		if more {
			fl |= 1
		}
		b = append(b, 6, 0)
		b = binary.BigEndian.AppendUint16(b, fl)
		b = binary.BigEndian.AppendUint32(b, uint32(e.ipID)|0x10000)
	}
	return b
}

// tcp appends the TCP header and payload of p with its checksum.
func (e *encoder) tcp(b []byte, c *Conn, p *pkt, src, dst netip.AddrPort, optLen int) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint32(b, p.seq)
	b = binary.BigEndian.AppendUint32(b, p.ack)
	b = append(b, byte((tcpHeaderLen+optLen)/4)<<4, p.flags, 0xff, 0xff, 0, 0, 0, 0)
	if optLen > 0 {
		mss := e.s.MSS
		if mss <= 0 || mss > 0xffff {
			mss = defaultMSS
		}
		b = append(b, 2, 4)
		b = binary.BigEndian.AppendUint16(b, uint16(mss))
	}
	if p.n > 0 {
		pl := len(b)
		b = grow(b, int(p.n))
		if p.alt != nil {
			copy(b[pl:], p.alt)
		} else {
			c.data(int(p.dir)).Fill(b[pl:], p.off)
		}
	}
	// Pseudo-header: addresses, protocol, TCP length.
	var s uint64
	if src.Addr().Is4() {
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		s = sum(s4[:], sum(d4[:], 0))
	} else {
		s16, d16 := src.Addr().As16(), dst.Addr().As16()
		s = sum(s16[:], sum(d16[:], 0))
	}
	s += 6 + uint64(len(b)-start)
	binary.BigEndian.PutUint16(b[start+16:], ^fold(sum(b[start:], s)))
	return b
}

// pad appends non-zero garbage after an IP packet shorter than the
// minimum Ethernet payload, when the scenario asks for padding.
func (e *encoder) pad(b []byte, ipLen int) []byte {
	if !e.s.Pad || ipLen >= minIPPacket {
		return b
	}
	for range minIPPacket - ipLen {
		b = append(b, byte(e.rng.UintN(255))+1)
	}
	return b
}

// grow extends b by n bytes, reusing its capacity when it can.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// sum adds b to an Internet checksum accumulator, 32 bits at a time: the
// ones' complement sum of 16-bit words is that of 32-bit words, folded.
// Every caller starts b at an even offset of the checksummed data.
func sum(b []byte, s uint64) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		s += v>>32 + v&0xffffffff
		b = b[8:]
	}
	if len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

func fold(s uint64) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
