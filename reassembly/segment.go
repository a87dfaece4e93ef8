package reassembly

// Flags are the TCP header flags, bit for bit as on the wire (byte 13).
type Flags uint8

const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// Has reports whether every flag in f2 is set in f.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

// NoVLAN is the VLAN value of a segment that carried no 802.1Q tag.
const NoVLAN = -1

// Segment is one decoded TCP segment: everything reassembly and the flow
// files need, and nothing that points into the decoder. It is pointer-free
// but for Payload and Frame.
type Segment struct {
	Key   Key
	Seq   Seq
	Ack   Seq
	Flags Flags

	// Time is the capture time in nanoseconds since the Unix epoch.
	Time int64

	// VLAN is the raw 16-bit TCI of the outermost 802.1Q (TPID 0x8100) tag,
	// PCP and DEI bits included, as tcpflow names files; NoVLAN if none.
	VLAN int32

	// SrcMAC and DstMAC are the link-layer addresses, zero when the link
	// type has none.
	SrcMAC, DstMAC [6]byte

	// WireLen is the packet's original length on the wire, CapLen what the
	// capture kept (both of the whole frame, as pcap records them).
	WireLen, CapLen uint32

	// Payload is the TCP payload, its length taken from the IP header, not
	// from the captured length. Whoever fills the Segment owns the bytes;
	// they are valid until the Segment is handed back (see the pipeline).
	Payload []byte

	// Frame is the whole frame as captured, of pcap link type LinkType;
	// nil unless per-flow pcaps are written (flowcap -K), and for an IP
	// datagram put together from fragments. It is owned as Payload is.
	Frame    []byte
	LinkType uint32
}
