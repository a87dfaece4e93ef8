package capturetest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Link is the link layer a connection's frames are written with. The zero
// value is Ethernet.
type Link uint8

const (
	Ethernet Link = iota // LINKTYPE_ETHERNET (1), with the connection's VLAN tags
	Null                 // LINKTYPE_NULL (0): address family in the file's byte order
	Raw                  // LINKTYPE_RAW (101): bare IPv4 or IPv6
	IPv4Raw              // LINKTYPE_IPV4 (228): bare IPv4 only
	IPv6Raw              // LINKTYPE_IPV6 (229): bare IPv6 only
	SLL                  // LINKTYPE_LINUX_SLL (113)
	SLL2                 // LINKTYPE_LINUX_SLL2 (276)
)

// Links lists every link type the package writes.
var Links = []Link{Ethernet, Null, Raw, IPv4Raw, IPv6Raw, SLL, SLL2}

// DLT returns the link type's number in pcap and pcapng headers.
func (l Link) DLT() uint16 {
	switch l {
	case Null:
		return 0
	case Raw:
		return 101
	case IPv4Raw:
		return 228
	case IPv6Raw:
		return 229
	case SLL:
		return 113
	case SLL2:
		return 276
	}
	return 1
}

func (l Link) String() string {
	switch l {
	case Ethernet:
		return "ethernet"
	case Null:
		return "null"
	case Raw:
		return "raw"
	case IPv4Raw:
		return "ipv4"
	case IPv6Raw:
		return "ipv6"
	case SLL:
		return "sll"
	case SLL2:
		return "sll2"
	}
	return fmt.Sprintf("Link(%d)", uint8(l))
}

// VLAN is one 802.1Q tag. A zero TPID means 0x8100.
type VLAN struct {
	TPID uint16 // 0x8100, 0x88a8 (QinQ service tag) or 0x9100
	TCI  uint16 // PCP, DEI and VLAN ID as on the wire
}

// Close says how a connection ends.
type Close uint8

const (
	CloseFIN  Close = iota // FIN, FIN-ACK, ACK
	CloseRST               // the client resets after its data
	CloseNone              // no end in the capture: the connection is still open
)

// Data is what one side of a connection sends.
type Data interface {
	Len() int64
	// Fill copies the bytes at [off, off+len(p)) into p.
	Fill(p []byte, off int64)
}

// Bytes is Data held in memory.
type Bytes []byte

func (b Bytes) Len() int64               { return int64(len(b)) }
func (b Bytes) Fill(p []byte, off int64) { copy(p, b[off:]) }

// Pattern returns n pseudo-random bytes computed from seed on demand, never
// stored: large captures cost no memory for their streams.
func Pattern(seed uint64, n int64) Data { return pattern{seed, n} }

type pattern struct {
	seed uint64
	n    int64
}

func (p pattern) Len() int64 { return p.n }

func (p pattern) Fill(b []byte, off int64) {
	var w [8]byte
	for len(b) > 0 {
		word := uint64(off) / 8
		binary.LittleEndian.PutUint64(w[:], mix64(p.seed+word*0x9e3779b97f4a7c15))
		n := copy(b, w[off%8:])
		b = b[n:]
		off += int64(n)
	}
}

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Conn is one TCP connection.
type Conn struct {
	Client, Server netip.AddrPort // both IPv4 or both IPv6
	Link           Link
	VLAN           []VLAN // outermost first; written on Ethernet only

	ClientData, ServerData Data // nil: nothing

	// Turn is how many bytes one side sends before the other answers
	// (request, response, request...); zero: each side sends all at once.
	Turn int64

	// ClientISN and ServerISN are the initial sequence numbers; zero: chosen
	// from the seed (near 2^32 with Scenario.WrapISN).
	ClientISN, ServerISN uint32

	Midstream bool  // the handshake is not in the capture
	SYNData   int   // bytes of client data carried by the SYN (TCP Fast Open)
	Close     Close // how the connection ends
}

func (c *Conn) data(dir int) Data {
	d := c.ClientData
	if dir == 1 {
		d = c.ServerData
	}
	if d == nil {
		return Bytes(nil)
	}
	return d
}

// Scenario is a capture to write: connections and how their packets are
// made. The zero value of every option is the plain case.
type Scenario struct {
	Seed  uint64
	Conns []Conn

	Start time.Time     // time of the first packet; zero: 2024-01-02 03:04:05 UTC
	Step  time.Duration // time between packets; zero: 10µs

	MSS         int // payload bytes per data segment; zero: 1460
	Concurrency int // connections open at once, interleaved at random; zero: all

	// Probabilities per data segment, in [0, 1]. A segment gets at most one
	// of Drop, Duplicate, Retransmit and Conflict.
	Drop       float64 // never sent: a hole, zero bytes in the flow file
	Duplicate  float64 // sent again a little later, same bytes
	Retransmit float64 // a later segment repeats its second half and the next segment's first half, same bytes
	Conflict   float64 // a later segment repeats part of it with different bytes
	Reorder    float64 // delayed by 1..ReorderDepth packets of its connection
	// ReorderDepth bounds delays and how late copies come; zero: 3.
	ReorderDepth int

	// KeepAlive sends a keep-alive probe (seq = next-1, one garbage byte)
	// after each side's turn; a correct reader ignores it.
	KeepAlive bool
	// WrapISN picks the ISNs left zero so that every stream crosses 2^32.
	WrapISN bool

	Fragment       float64 // probability a data segment is sent as IP fragments
	FragSize       int     // payload bytes per fragment, a multiple of 8; zero: 512
	FragShuffle    bool    // the fragments of a segment in random order
	IPv4Options    bool    // a 12-byte record-route option in IPv4 headers
	IPv6ExtHeaders bool    // hop-by-hop and destination options headers before TCP
	TSO            bool    // IPv4 data segments with total length 0, as TSO captures have them
	// Pad follows IP packets shorter than 46 bytes with non-zero garbage up
	// to 46 bytes, as the minimum Ethernet frame of 60 bytes is padded.
	Pad bool
	// NullFamily6 is the DLT_NULL address family of IPv6; zero: 30 (Darwin).
	NullFamily6 uint32
}

const (
	defaultMSS      = 1460
	defaultDepth    = 3
	defaultFragSize = 512
	defaultStep     = 10 * time.Microsecond
	defaultFamily6  = 30

	// maxMSS keeps every IP total length within 16 bits.
	maxMSS = 0xffff - ipv4HeaderLen - ipv4OptionsLen - tcpHeaderLen - 4
)

var defaultStart = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// Endpoints returns distinct endpoints for connection i: clients
// 10.1.x.y (or 2001:db8:1::x:y) with ports from 1024, and one server
// 10.0.0.1:80 (2001:db8::1 port 80).
func Endpoints(i int, v6 bool) (client, server netip.AddrPort) {
	port := uint16(1024 + i%60000)
	host := uint32(i/60000 + 2)
	if v6 {
		var c [16]byte
		copy(c[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 1})
		binary.BigEndian.PutUint32(c[12:], host)
		var s [16]byte
		copy(s[:], []byte{0x20, 0x01, 0x0d, 0xb8})
		s[15] = 1
		return netip.AddrPortFrom(netip.AddrFrom16(c), port), netip.AddrPortFrom(netip.AddrFrom16(s), 80)
	}
	c := [4]byte{10, 1, byte(host >> 8), byte(host)}
	return netip.AddrPortFrom(netip.AddrFrom4(c), port), netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), 80)
}

// validate reports a scenario the encoder cannot write.
func (s *Scenario) validate() error {
	if s.MSS < 0 || s.MSS > maxMSS {
		return fmt.Errorf("capturetest: MSS %d is not in [1, %d]", s.MSS, maxMSS)
	}
	if s.FragSize%8 != 0 || s.FragSize < 0 {
		return fmt.Errorf("capturetest: FragSize %d is not a positive multiple of 8", s.FragSize)
	}
	for i := range s.Conns {
		c := &s.Conns[i]
		if !c.Client.IsValid() || !c.Server.IsValid() || c.Client.Addr().Is4() != c.Server.Addr().Is4() {
			return fmt.Errorf("capturetest: conn %d: endpoints %v and %v", i, c.Client, c.Server)
		}
		v4 := c.Client.Addr().Is4()
		if (c.Link == IPv4Raw && !v4) || (c.Link == IPv6Raw && v4) {
			return fmt.Errorf("capturetest: conn %d: link %v cannot carry %v", i, c.Link, c.Client.Addr())
		}
		if c.SYNData > 0 && (c.Midstream || int64(c.SYNData) > c.data(0).Len()) {
			return fmt.Errorf("capturetest: conn %d: SYNData %d without a handshake or data", i, c.SYNData)
		}
	}
	return nil
}
