// Package capture reads packets and decodes each into a reassembly.Segment.
//
// Reading: Open (or NewSource) detects the format from the first bytes —
// classic pcap in either byte order with micro- or nanosecond timestamps,
// pcapng with any number of sections and interfaces, either of them
// gzip-compressed — and returns a Source whose Next hands out one packet at
// a time from a reused buffer (valid until the next call). A damaged input
// ends with a *FormatError wrapping ErrTruncated or ErrCorrupt after every
// packet before the damage.
//
// Decoding: a Decoder turns a frame of a supported link type (Ethernet with
// VLAN tags, Linux cooked v1/v2, raw IP, BSD loopback, PPP, Cisco HDLC) into
// the TCP segment it carries: flow key, sequence numbers, flags, link-layer
// details and the payload, whose length comes from the IP header. It
// reassembles IPv4 and IPv6 fragments within fixed limits. Everything else
// gets a Result that says why there is no segment.
//
// Data flows: file -> Source.Next (bytes, Info) -> Decoder.Decode -> Segment.
// Neither step allocates per packet; one goroutine owns each Source and
// each Decoder.
package capture
