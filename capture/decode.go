package capture

import "github.com/flowcap/flowcap/reassembly"

// Result says what Decode made of a frame.
//
// STUB: the capture work replaces this file; keep the shape.
type Result uint8

const (
	OK      Result = iota // seg holds a TCP segment
	NotTCP                // a valid frame that carries no TCP (ARP, UDP, ICMP...)
	Pending               // a fragment, held until its datagram is complete
	Skipped               // placeholder for the real reasons (truncated, malformed, unsupported link type...)
)

// Decoder turns link-layer frames into TCP segments. One goroutine owns it.
type Decoder struct{}

// NewDecoder returns a decoder.
func NewDecoder() *Decoder { return &Decoder{} }

// Decode fills seg from one frame. seg.Payload may point into data or into
// the decoder's own buffers; either way it is valid until the next call.
func (d *Decoder) Decode(data []byte, info Info, seg *reassembly.Segment) Result {
	return Skipped
}
