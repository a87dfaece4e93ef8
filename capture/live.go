package capture

import (
	"errors"
	"net"
	"time"
)

// Live capture: OpenLive opens AF_PACKET sockets on an interface (Linux
// only; see afpacket_linux.go) and hands out one Source per socket, each
// for its own goroutine. The Sources never end by themselves: Next returns
// ErrNoPacket when the poll timeout passes without a packet, so that the
// reader can look at its context, and Stop lets a reader take what the
// ring already holds before it quits.

// LiveConfig says what to capture and how. The zero value but for the
// interface is a sensible default.
type LiveConfig struct {
	// Interface is the interface's name, or "any" for every interface
	// (a cooked socket: packets start at the IP header).
	Interface string
	// Sockets is how many sockets share the traffic in one
	// PACKET_FANOUT_HASH group, each read by its own goroutine; 0 means 1.
	Sockets int
	// RingBytes is the size of the kernel's receive ring, all sockets
	// together; 0 means DefaultRingBytes.
	RingBytes int
	// Promiscuous asks for every frame on the wire, not only those for
	// this host. Ignored on "any", where the kernel refuses it.
	Promiscuous bool
	// PollTimeout is how long Next waits for a packet before it returns
	// ErrNoPacket; 0 means DefaultPollTimeout.
	PollTimeout time.Duration
}

// Defaults of LiveConfig.
const (
	DefaultRingBytes   = 32 << 20
	DefaultPollTimeout = 100 * time.Millisecond
)

// LiveSnaplen is the snapshot length of a live capture as a pcap file
// header states it: libpcap's maximum. The ring keeps whole packets up to
// its block size (GRO/TSO super-packets of 64 KiB included).
const LiveSnaplen = 262144

// LiveStats are the kernel's counters of a live capture, all sockets
// together, since it was opened.
type LiveStats struct {
	Received uint64 // packets that passed the kernel filter, the dropped ones included (tcpdump's "received by filter")
	Dropped  uint64 // packets the kernel dropped because the ring was full
	Freezes  uint64 // times the ring was full (TPACKET_V3 queue freezes)
}

// Errors of live capture, for errors.Is.
var (
	// ErrNoPacket: no packet came within the poll timeout. Call Next again.
	ErrNoPacket = errors.New("no packet within the poll timeout")
	// ErrNoLiveCapture: live capture needs Linux (AF_PACKET).
	ErrNoLiveCapture = errors.New("live capture needs Linux (AF_PACKET sockets)")
)

// DefaultInterface returns the first interface that is up and not a
// loopback (one that is also running, if there is one), as tcpdump picks
// one when given no -i.
func DefaultInterface() (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	first := ""
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		if ifi.Flags&net.FlagRunning != 0 {
			return ifi.Name, nil
		}
		if first == "" {
			first = ifi.Name
		}
	}
	if first == "" {
		return "", errors.New("no interface is up but loopback: name one with -i")
	}
	return first, nil
}
