package reassembly

// Reason says why a stream closed.
type Reason uint8

const (
	Open    Reason = iota // not closed yet
	FINSeen               // a FIN, and every byte before it arrived
	RSTSeen               // a RST
	Timeout               // idle longer than Config.IdleTimeout
	Gap                   // a segment beyond Config.MaxGap (tcpflow -m)
	NewSYN                // a SYN with another ISN: the 4-tuple was reused
	Evicted               // the shard held Config.MaxFlows streams
	End                   // end of input
	numReasons
)

var reasonNames = [numReasons]string{"open", "fin", "rst", "timeout", "gap", "syn", "evicted", "end"}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason?"
}

// Stream is one direction of one TCP connection: the bytes Key.Src sent
// to Key.Dst. The Shard owns it and sets its exported fields; a Sink reads
// them (and only sets Handle). Offsets are bytes from the start of the
// stream, the byte after the ISN being offset 0.
type Stream struct {
	// The fields that every segment touches come first, so that they
	// share four cache lines: with many streams, each one looked up is
	// out of the caches, and every line costs a trip to memory.

	Key Key

	// ISN is the sequence number just before offset 0: the SYN's, or one
	// less than the first data segment's when the handshake was missed.
	// It moves back when earlier data is inserted at the front.
	ISN Seq

	SYN    bool // a SYN was seen: data before offset 0 is dropped
	Client bool // a SYN without ACK was seen: this is the client's side
	fin    bool // a FIN was seen, at finOff

	// Last is the capture time (ns) of the latest packet; First, below,
	// of the first.
	Last int64

	Packets   uint64 // segments, payload or not
	WireBytes uint64 // sum of the segments' WireLen
	CapBytes  uint64 // sum of the segments' CapLen
	Payload   uint64 // payload bytes received, retransmissions included

	// Size is one past the highest offset written: the file size, before
	// any byte limit (tcpflow's filesize).
	Size int64

	// Handle is the Sink's own per-stream state: nil until the Sink sets it.
	Handle any

	// Placement, in tcpflow's terms: pos is where the previous segment
	// ended (arrival order), next the edge below which every byte was
	// handed to the sink, or skipped over as a hole.
	pos, next    int64
	got          spans   // offsets received
	ooo          pending // out-of-order data held
	newer, older *Stream // the shard's LRU list of open streams

	VLAN int32 // of the first packet, as tcpflow names files (NoVLAN if none)

	// SrcMAC and DstMAC are the link addresses of the first packet.
	SrcMAC, DstMAC [6]byte

	Session uint64 // shared by both directions of a connection
	First   int64  // capture time (ns) of the first packet

	Retransmitted uint64 // payload bytes for offsets already received
	Differed      uint64 // of those, bytes unlike the copy held (when known)
	OutOfOrder    uint64 // segments placed before the end of the previous one, and front inserts
	KeepAlives    uint64 // one-byte keep-alive probes ignored
	Violations    uint64 // SYNs with data; data before a SYN's ISN (dropped)
	Inserts       uint64 // times earlier data was inserted at the front

	// Holes and HoleBytes count the ranges below Size that no segment
	// filled: zero bytes in the file. Final when the stream closes.
	Holes, HoleBytes uint64

	Reason Reason // why it closed; Open while it is open

	// PeerOpen, when the stream closes, says whether the other direction
	// of its connection (same Session) is still open: reports that join
	// both directions wait for that one.
	PeerOpen bool

	finOff    int64 // offset of the FIN
	shifted   int64 // bytes moved by front inserts
	lostHoles int64 // gaps given up when got had too many ranges
	lostBytes int64
	closedAt  int64
}

// AppendHoles appends to dst the holes of s as [start, end) offsets, in
// order: the ranges below Size that no segment filled. It is meant for a
// Sink's Close (the ranges are final then). Gaps given up to keep the
// bookkeeping bounded (Config.MaxSpans) count in Holes but are not listed.
func (s *Stream) AppendHoles(dst [][2]int64) [][2]int64 {
	lo := int64(0)
	for _, r := range s.got.s {
		if r.lo >= s.Size {
			break
		}
		if r.lo > lo {
			dst = append(dst, [2]int64{lo, r.lo})
		}
		lo = max(lo, r.hi)
	}
	if lo < s.Size {
		dst = append(dst, [2]int64{lo, s.Size})
	}
	return dst
}

// offset maps a sequence number to a stream offset, near the current
// position so that streams longer than 4 GiB stay right (as tcpflow).
func (s *Stream) offset(seq Seq) int64 {
	return s.pos + int64(seq.Diff(s.ISN.Add(1+s.pos)))
}

// Sink receives the streams' bytes. A Shard calls it from its goroutine
// only, for streams it owns; each shard gets its own Sink value.
//
// For one stream, the calls come as: Write and Shift any number of times,
// then Close once. p is valid only during the call. Most writes extend
// the stream in order; a write below an earlier one replaces those bytes
// (a retransmission under LastWins, or a hole filled); a write past the
// end leaves a hole of zero bytes before it.
type Sink interface {
	// Write stores p at offset off of s.
	Write(s *Stream, off int64, p []byte) error

	// Shift moves every byte already stored for s n bytes later, leaving
	// zeros in front: earlier data of a stream that started without its
	// SYN is about to be written there (tcpflow's insert).
	Shift(s *Stream, n int64) error

	// Close ends s: its counters and Reason are final. Streams that
	// carried no data are closed too, without any Write before.
	Close(s *Stream) error
}

// Checker is a Sink that can read back what it stored.
type Checker interface {
	// Check compares p with the bytes stored at off of s: held is how many
	// of p's bytes, from the first, lie within what is stored (holes read
	// as zeros), and differ how many of those are not equal. It may be
	// called after Close, for stragglers of a closed stream.
	Check(s *Stream, off int64, p []byte) (held, differ int, err error)
}

// FrameSink is a Sink that also takes each stream's frames (flowcap -K
// writes them to a pcap file per stream). For every segment that carries a
// Frame and belongs to a stream, the Shard calls Frame with the segment's
// Frame, LinkType, Time and WireLen before it places the segment's data;
// frame is valid only during the call. (The fields, not the *Segment: an
// interface call would make every caller's Segment escape to the heap.)
type FrameSink interface {
	Frame(s *Stream, frame []byte, linkType uint32, time int64, wireLen uint32) error
}
