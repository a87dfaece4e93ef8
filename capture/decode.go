package capture

import (
	"encoding/binary"
	"strconv"

	"github.com/flowcap/flowcap/reassembly"
)

// Result says what Decode made of a frame. OK fills the segment; every
// other value names why there is none, so a caller can count skipped frames
// by reason (String gives the name to print).
type Result uint8

const (
	OK                  Result = iota // seg holds a TCP segment (its payload perhaps cut short by the snaplen: see Stats)
	NotTCP                            // a valid frame without TCP: ARP, UDP, ICMP, tunnels (GRE, VXLAN, IP-in-IP) are not followed
	Pending                           // an IP fragment, held until its datagram is complete
	UnsupportedLinkType               // the frame's link type is not one Decode knows (see LinkType.Supported)
	ShortFrame                        // the capture ends inside a link, IP or TCP header
	BadIPHeader                       // an IP header that cannot be right (version, header or total length)
	BadTCPHeader                      // a TCP header that cannot be right (data offset below 5 or beyond the IP length)
	BadFragment                       // an IP fragment that cannot be placed (beyond 64 KiB, misaligned, contradicting its datagram)
	NumResults                        // the number of Result values, for arrays of counters
)

var resultNames = [NumResults]string{
	OK:                  "ok",
	NotTCP:              "not-tcp",
	Pending:             "fragment-pending",
	UnsupportedLinkType: "unsupported-link-type",
	ShortFrame:          "short-frame",
	BadIPHeader:         "bad-ip-header",
	BadTCPHeader:        "bad-tcp-header",
	BadFragment:         "bad-fragment",
}

func (r Result) String() string {
	if r < NumResults {
		return resultNames[r]
	}
	return "result-" + strconv.Itoa(int(r))
}

// Decoder turns link-layer frames into TCP segments. It decodes the headers
// by hand rather than with gopacket's DecodingLayerParser: the few fields
// needed sit at fixed offsets, the per-packet path then allocates nothing
// even for a malformed frame (gopacket's layers build an error value for
// each), and rules gopacket has no switch for stay in plain sight (the TCP
// payload length from the IP header, the VLAN of the outer 0x8100 tag only,
// NULL's family in either byte order).
//
// A Decoder keeps IP fragments until their datagram is complete, so one
// goroutine owns it. The zero value is ready to use.
type Decoder struct {
	defrag    defragmenter
	truncated uint64
}

// Stats counts what the decoder did beyond what each Result says.
type Stats struct {
	// Truncated counts the segments decoded OK whose payload the capture cut
	// short (the snaplen): Payload holds what was captured, less than the IP
	// header says was sent. (Such a segment's CapLen is below its WireLen.)
	Truncated uint64
	Defrag    DefragStats
}

// Stats returns the counters so far.
func (d *Decoder) Stats() Stats {
	return Stats{Truncated: d.truncated, Defrag: d.defrag.statistics()}
}

// NewDecoder returns a decoder.
func NewDecoder() *Decoder { return &Decoder{} }

// Ethernet types and IP protocol numbers that Decode looks at.
const (
	etherIPv4     = 0x0800
	etherIPv6     = 0x86dd
	ether8021Q    = 0x8100
	ether8021AD   = 0x88a8
	etherQinQ9100 = 0x9100 // pre-standard QinQ
	etherQinQ9200 = 0x9200
	etherMPLS     = 0x8847
	etherMPLSMC   = 0x8848
	etherPPPoE    = 0x8864

	protoTCP = 6
)

// Decode fills seg from one frame. seg.Payload points into data, or into
// the decoder's reassembly buffer for a datagram completed by this frame;
// either way it is valid until the next call. Unless the result is OK,
// seg's contents are undefined. Decode does not allocate.
//
// A frame that the capture cut inside the TCP payload still decodes OK,
// with the payload that was captured (as tcpflow uses it), and counts in
// Stats().Truncated; one cut inside a header is a ShortFrame.
//
// Link-layer fields: VLAN is the raw TCI of the outer tag when that tag's
// TPID is 0x8100 (Ethernet, and Linux cooked captures into which libpcap puts
// the tag back), NoVLAN otherwise; SrcMAC and DstMAC come from Ethernet,
// SrcMAC alone from a Linux cooked header with a 6-byte address, and are
// zero for links without addresses.
func (d *Decoder) Decode(data []byte, info Info, seg *reassembly.Segment) Result {
	seg.Time = info.Time
	seg.WireLen, seg.CapLen = uint32(info.WireLen), uint32(info.CapLen)
	seg.VLAN = reassembly.NoVLAN
	seg.SrcMAC, seg.DstMAC = [6]byte{}, [6]byte{}
	seg.Payload = nil

	switch info.LinkType {
	case LinkEthernet, LinkIEEE802:
		if len(data) < 14 {
			return ShortFrame
		}
		seg.DstMAC, seg.SrcMAC = [6]byte(data[0:6]), [6]byte(data[6:12])
		return d.etherType(be16(data[12:]), data[14:], info, seg)

	case LinkLinuxSLL:
		// packet type, ARPHRD type, address length, 8 address bytes, protocol
		if len(data) < 16 {
			return ShortFrame
		}
		if be16(data[4:]) == 6 {
			seg.SrcMAC = [6]byte(data[6:12])
		}
		return d.etherType(be16(data[14:]), data[16:], info, seg)

	case LinkLinuxSLL2:
		// protocol, reserved, ifindex, ARPHRD type, packet type, address length, 8 address bytes
		if len(data) < 20 {
			return ShortFrame
		}
		if data[11] == 6 {
			seg.SrcMAC = [6]byte(data[12:18])
		}
		return d.etherType(be16(data), data[20:], info, seg)

	case LinkNull, LinkLoop:
		if len(data) < 4 {
			return ShortFrame
		}
		family := binary.BigEndian.Uint32(data)
		if info.LinkType == LinkNull && family&0xffff0000 != 0 {
			// Host byte order of the capturing machine: a family is small,
			// so whichever order leaves the high half zero is right.
			family = binary.LittleEndian.Uint32(data)
		}
		switch family {
		case 2: // AF_INET everywhere
			return d.ipv4(data[4:], info, seg)
		case 10, 23, 24, 28, 30: // AF_INET6: Linux, Windows, NetBSD/OpenBSD, FreeBSD, Darwin
			return d.ipv6(data[4:], info, seg)
		}
		return NotTCP

	case LinkRaw, LinkDLTRaw12, LinkDLTRaw14:
		if len(data) >= 1 && data[0]>>4 != 4 && data[0]>>4 != 6 {
			return BadIPHeader
		}
		return d.ipVersion(data, info, seg)
	case LinkIPv4:
		return d.ipv4(data, info, seg)
	case LinkIPv6:
		return d.ipv6(data, info, seg)

	case LinkPPP, LinkPPPHDLC:
		if len(data) >= 1 && (data[0] == 0x0f || data[0] == 0x8f) { // Cisco HDLC framing, which 50 may carry
			return d.chdlc(data, info, seg)
		}
		if len(data) >= 2 && data[0] == 0xff && data[1] == 0x03 { // address and control, often omitted
			data = data[2:]
		}
		return d.ppp(data, info, seg)

	case LinkCHDLC:
		return d.chdlc(data, info, seg)
	}
	return UnsupportedLinkType
}

// etherType decodes what follows an Ethernet type: VLAN tags (802.1Q,
// 802.1ad, the pre-standard 0x9100 and 0x9200, stacked in any order), MPLS,
// PPPoE, then IPv4 or IPv6.
func (d *Decoder) etherType(et uint16, p []byte, info Info, seg *reassembly.Segment) Result {
	outer := true
	for et == ether8021Q || et == ether8021AD || et == etherQinQ9100 || et == etherQinQ9200 {
		if len(p) < 4 {
			return ShortFrame
		}
		if outer && et == ether8021Q {
			seg.VLAN = int32(be16(p)) // the whole TCI, priority bits included, as tcpflow names files
		}
		outer = false
		et, p = be16(p[2:]), p[4:]
	}
	switch et {
	case etherIPv4:
		return d.ipv4(p, info, seg)
	case etherIPv6:
		return d.ipv6(p, info, seg)
	case etherMPLS, etherMPLSMC:
		// Labels until the bottom of the stack, then IP by its version
		// (tcpflow unwinds MPLS the same way in Linux cooked captures).
		for {
			if len(p) < 4 {
				return ShortFrame
			}
			bottom := p[2]&1 != 0
			p = p[4:]
			if bottom {
				return d.ipVersion(p, info, seg)
			}
		}
	case etherPPPoE:
		// version/type, code, session, length; then a PPP protocol field
		if len(p) < 6 {
			return ShortFrame
		}
		return d.ppp(p[6:], info, seg)
	}
	return NotTCP
}

// ppp decodes a PPP protocol field (one byte when compressed) and what it
// carries.
func (d *Decoder) ppp(p []byte, info Info, seg *reassembly.Segment) Result {
	if len(p) < 1 {
		return ShortFrame
	}
	proto := uint16(p[0])
	if proto&1 == 0 { // an uncompressed, two-byte protocol
		if len(p) < 2 {
			return ShortFrame
		}
		proto = be16(p)
		p = p[1:]
	}
	p = p[1:]
	switch proto {
	case 0x0021:
		return d.ipv4(p, info, seg)
	case 0x0057:
		return d.ipv6(p, info, seg)
	}
	return NotTCP
}

// chdlc decodes Cisco HDLC: address, control, an Ethernet type.
func (d *Decoder) chdlc(p []byte, info Info, seg *reassembly.Segment) Result {
	if len(p) < 4 {
		return ShortFrame
	}
	switch be16(p[2:]) {
	case etherIPv4:
		return d.ipv4(p[4:], info, seg)
	case etherIPv6:
		return d.ipv6(p[4:], info, seg)
	}
	return NotTCP
}

// ipVersion decodes raw IP, telling IPv4 from IPv6 by the version nibble.
func (d *Decoder) ipVersion(p []byte, info Info, seg *reassembly.Segment) Result {
	if len(p) < 1 {
		return ShortFrame
	}
	switch p[0] >> 4 {
	case 4:
		return d.ipv4(p, info, seg)
	case 6:
		return d.ipv6(p, info, seg)
	}
	return NotTCP
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
