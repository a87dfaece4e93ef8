package capture

import "errors"

// LinkType is a pcap LINKTYPE_ value (the FCS bits of the file header
// already taken off).
type LinkType uint32

// Info describes one captured packet.
type Info struct {
	Time      int64    // capture time, nanoseconds since the Unix epoch
	CapLen    int      // bytes captured
	WireLen   int      // bytes on the wire
	LinkType  LinkType // per packet: a pcapng file may mix link types
	Interface int      // pcapng interface or live ifindex
}

// Source yields the packets of one input, in order.
//
// STUB: the capture work replaces this file; the signatures are the contract
// the pipeline is written against (extend, do not break).
type Source interface {
	// Next returns the next packet. data is valid until the next call.
	// It returns io.EOF at the end of the input.
	Next() (data []byte, info Info, err error)
	// Name is the input's name as the user gave it ("-" for stdin).
	Name() string
	Close() error
}

// Open opens a capture file by name ("-" is stdin); the format (pcap,
// pcapng, gzip-compressed either) is detected from the first bytes.
func Open(path string) (Source, error) {
	return nil, errors.New("capture.Open: not implemented")
}
