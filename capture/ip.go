package capture

import (
	"net/netip"

	"github.com/flowcap/flowcap/reassembly"
)

// IPv6 extension headers walked on the way to TCP.
const (
	ip6HopByHop = 0
	ip6Routing  = 43
	ip6Fragment = 44
	ip6AH       = 51
	ip6DestOpts = 60
	ip6Mobility = 135
	ip6HIP      = 139
	ip6Shim6    = 140
)

// ipv4 decodes an IPv4 header. The TCP segment's length comes from the
// total length field, never from the captured length, so Ethernet padding
// never becomes data; a total length of 0 (a TSO/GSO capture, where the NIC
// fills it in) falls back to the captured length. Protocols other than TCP,
// tunnels included (GRE, IP-in-IP, VXLAN in UDP), are NotTCP: like tcpflow,
// flowcap does not look inside tunnels.
func (d *Decoder) ipv4(p []byte, info Info, seg *reassembly.Segment) Result {
	if len(p) < 20 {
		return ShortFrame
	}
	if p[0]>>4 != 4 {
		return BadIPHeader
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(be16(p[2:]))
	if ihl < 20 || total != 0 && total < ihl {
		return BadIPHeader
	}
	if len(p) < ihl {
		return ShortFrame
	}
	if total == 0 {
		total = len(p)
	}
	src, dst := netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20]))
	proto := p[9]
	if proto != protoTCP {
		return NotTCP
	}
	if frag := be16(p[6:]); frag&0x3fff != 0 { // more fragments, or an offset
		key := fragKey{src: src, dst: dst, id: uint32(be16(p[4:])), proto: proto}
		dg, res := d.defrag.add(key, info, int(frag&0x1fff)*8, total-ihl, frag&0x2000 != 0, p[ihl:min(total, len(p))], proto)
		if dg == nil {
			return res
		}
		return d.completed(dg, d.tcp(dg.payload(), dg.total, src, dst, seg), seg)
	}
	return d.tcp(p[ihl:], total-ihl, src, dst, seg)
}

// ipv6 decodes an IPv6 header and its extension headers. The TCP segment's
// length comes from the payload length field minus the extension headers;
// 0 (a jumbogram, or a GSO capture) falls back to the captured length.
func (d *Decoder) ipv6(p []byte, info Info, seg *reassembly.Segment) Result {
	if len(p) < 40 {
		return ShortFrame
	}
	if p[0]>>4 != 6 {
		return BadIPHeader
	}
	n := int(be16(p[4:]))
	body := p[40:]
	if n == 0 {
		n = len(body)
	}
	src, dst := netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
	return d.ipv6Next(p[6], body, n, src, dst, info, seg, false)
}

// ipv6Next walks from header type next to TCP. body holds the captured
// bytes (perhaps fewer or more than n), n is the length the headers claim.
func (d *Decoder) ipv6Next(next uint8, body []byte, n int, src, dst netip.Addr, info Info, seg *reassembly.Segment, reassembled bool) Result {
	for {
		switch next {
		case protoTCP:
			return d.tcp(body, n, src, dst, seg)

		case ip6HopByHop, ip6Routing, ip6DestOpts, ip6AH, ip6Mobility, ip6HIP, ip6Shim6:
			if n < 8 {
				return BadIPHeader
			}
			if len(body) < 2 {
				return ShortFrame
			}
			hl := (int(body[1]) + 1) * 8 // in 8-byte units, not counting the first 8
			if next == ip6AH {
				hl = (int(body[1]) + 2) * 4 // in 4-byte units, not counting the first 8
			}
			if hl > n {
				return BadIPHeader
			}
			if len(body) < hl {
				return ShortFrame
			}
			next, body, n = body[0], body[hl:], n-hl

		case ip6Fragment:
			if n < 8 {
				return BadIPHeader
			}
			if len(body) < 8 {
				return ShortFrame
			}
			field := be16(body[2:])
			off, more, first := int(field&^7), field&1 != 0, body[0]
			if off == 0 && !more { // an atomic fragment (RFC 6946): the whole datagram
				next, body, n = first, body[8:], n-8
				continue
			}
			if reassembled {
				return BadFragment // a fragment header inside a reassembled datagram
			}
			if first != protoTCP && !ip6Extension(first) {
				return NotTCP
			}
			key := fragKey{src: src, dst: dst, id: be32(body[4:])}
			dg, res := d.defrag.add(key, info, off, n-8, more, body[8:min(n, len(body))], first)
			if dg == nil {
				return res
			}
			return d.completed(dg, d.ipv6Next(dg.next, dg.payload(), dg.total, src, dst, info, seg, true), seg)

		default: // UDP, ICMPv6, ESP, no next header, tunnels...
			return NotTCP
		}
	}
}

func ip6Extension(h uint8) bool {
	switch h {
	case ip6HopByHop, ip6Routing, ip6Fragment, ip6DestOpts, ip6AH, ip6Mobility, ip6HIP, ip6Shim6:
		return true
	}
	return false
}

// completed finishes the segment of a reassembled datagram: its lengths
// are those of all its fragments' frames together.
func (d *Decoder) completed(dg *datagram, r Result, seg *reassembly.Segment) Result {
	seg.WireLen, seg.CapLen = dg.wire, dg.cap
	if r == OK && dg.truncated {
		d.truncated++
	}
	return r
}

// tcp decodes a TCP header. p holds the captured bytes from the header on
// (perhaps fewer than n, or more: link-layer padding), n is the segment's
// length as the IP header gives it.
func (d *Decoder) tcp(p []byte, n int, src, dst netip.Addr, seg *reassembly.Segment) Result {
	if n < 20 {
		return BadTCPHeader
	}
	if len(p) < 20 {
		return ShortFrame
	}
	thl := int(p[12]>>4) * 4
	if thl < 20 || thl > n {
		return BadTCPHeader
	}
	if len(p) < thl {
		return ShortFrame
	}
	seg.Key = reassembly.Key{
		Src: netip.AddrPortFrom(src, be16(p[0:])),
		Dst: netip.AddrPortFrom(dst, be16(p[2:])),
	}
	seg.Seq = reassembly.Seq(be32(p[4:]))
	seg.Ack = reassembly.Seq(be32(p[8:]))
	seg.Flags = reassembly.Flags(p[13])
	if n > len(p) { // the capture cut the payload short (snaplen)
		n = len(p)
		d.truncated++
	}
	seg.Payload = p[thl:n]
	return OK
}
