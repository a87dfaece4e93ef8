package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Ring geometry. TPACKET_V3 fills variable-sized frames into blocks, and a
// packet longer than a block is cut short: a block must hold a whole 64 KiB
// GRO/TSO super-packet with its headers.
const (
	maxBlock     = 1 << 20
	minBlock     = 128 << 10
	blockTimeout = 10 * time.Millisecond // a block with packets goes to the reader after at most this
)

// Live is an open live capture: one or more AF_PACKET sockets bound to one
// interface, with a TPACKET_V3 ring each. Read each of Sockets from its own
// goroutine; Close after every reader has stopped (closing a socket under a
// running read unmaps the ring the read is using: gopacket#78).
type Live struct {
	name     string
	ifindex  int // 0 for "any"
	linkType LinkType
	cooked   bool // SOCK_DGRAM: packets start at the network header
	loIndex  int  // the loopback's ifindex if this capture sees it, else 0
	socks    []*LiveSocket

	statsMu sync.Mutex
	stats   []kernelCounts // per socket
}

// kernelCounts accumulates one socket's counters in 64 bits: gopacket
// keeps them in uint32, which wraps after 4G packets.
type kernelCounts struct {
	last  [3]uint32 // gopacket's running totals at the last look
	total LiveStats
}

// OpenLive opens the sockets of a live capture. Every socket already
// receives: until SetFilter attaches the real filter, packets arrive
// unfiltered (the caller filters in user space as well). A socket that
// cannot be opened for lack of CAP_NET_RAW gives an error that
// errors.Is(err, os.ErrPermission).
func OpenLive(cfg LiveConfig) (*Live, error) {
	n := max(cfg.Sockets, 1)
	ring := cfg.RingBytes
	if ring <= 0 {
		ring = DefaultRingBytes
	}
	poll := cfg.PollTimeout
	if poll <= 0 {
		poll = DefaultPollTimeout
	}
	l := &Live{name: cfg.Interface, stats: make([]kernelCounts, n)}
	sockType := afpacket.SocketRaw
	bindTo := cfg.Interface
	if cfg.Interface == "any" {
		bindTo = "" // ifindex 0: every interface, whatever their link headers
		sockType, l.cooked, l.linkType = afpacket.SocketDgram, true, LinkRaw
	} else {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("interface %s: no such interface (%s)", cfg.Interface, interfaceNames())
		}
		if ifi.Flags&net.FlagUp == 0 {
			return nil, fmt.Errorf("interface %s is down", cfg.Interface)
		}
		l.ifindex = ifi.Index
		hw, err := hardwareType(cfg.Interface)
		if err != nil {
			return nil, err
		}
		switch hw {
		case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK: // lo frames carry an Ethernet header of zero MACs
			l.linkType = LinkEthernet
		case unix.ARPHRD_NONE: // tun, WireGuard: packets are bare IP
			l.linkType = LinkRaw
		default: // a link flowcap does not decode: let the kernel take the header off
			sockType, l.cooked, l.linkType = afpacket.SocketDgram, true, LinkRaw
		}
	}
	if ifs, err := net.Interfaces(); err == nil {
		for _, ifi := range ifs {
			if ifi.Flags&net.FlagLoopback != 0 && (l.ifindex == 0 || l.ifindex == ifi.Index) {
				l.loIndex = ifi.Index
				break
			}
		}
	}

	perSocket := ring / n
	block := maxBlock
	for block > minBlock && perSocket/block < 8 {
		block /= 2
	}
	blocks := max(perSocket/block, 2)
	fanoutID := uint16(os.Getpid())
	for range n {
		tp, err := afpacket.NewTPacket(
			afpacket.OptInterface(bindTo),
			afpacket.TPacketVersion3,
			sockType,
			afpacket.OptBlockSize(block),
			afpacket.OptNumBlocks(blocks),
			afpacket.OptBlockTimeout(blockTimeout),
			afpacket.OptPollTimeout(poll),
			// The kernel takes the outer VLAN tag off before a packet
			// socket sees the frame; put it back, as libpcap does, so the
			// frames are those tcpdump would write (flow names carry the
			// tag). It costs a copy of each tagged frame only.
			afpacket.OptAddVLANHeader(!l.cooked),
		)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("open a packet socket on %s: %w", cfg.Interface, err)
		}
		l.socks = append(l.socks, &LiveSocket{tp: tp, live: l})
		if n > 1 {
			// Hash with defragmentation: both directions of a connection,
			// and every fragment of a datagram, reach the same socket.
			if err := tp.SetFanout(afpacket.FanoutHashWithDefrag, fanoutID); err != nil {
				l.Close()
				return nil, fmt.Errorf("%s: join fanout group %d: %w", cfg.Interface, fanoutID, err)
			}
		}
	}
	if cfg.Promiscuous && l.ifindex != 0 {
		if err := l.socks[0].tp.SetPromiscuous(true); err != nil {
			l.Close()
			return nil, fmt.Errorf("%s: promiscuous mode: %w", cfg.Interface, err)
		}
	}
	if err := l.SetFilter(nil); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// hardwareType returns the interface's ARPHRD_ type.
func hardwareType(name string) (uint16, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("interface %s: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, fmt.Errorf("interface %s: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, fmt.Errorf("interface %s: hardware type: %w", name, err)
	}
	return ifr.Uint16(), nil // sa_family of the hardware address
}

// interfaceNames lists the interfaces there are, for an error message.
func interfaceNames() string {
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		return "no interfaces found"
	}
	names := []string{"any"}
	for _, ifi := range ifs {
		names = append(names, ifi.Name)
	}
	return "there are " + strings.Join(names, ", ")
}

// Interface returns the interface's name as given ("any" included).
func (l *Live) Interface() string { return l.name }

// LinkType returns the link type of every packet: Ethernet on an Ethernet
// or loopback interface, raw IP on "any" and on links without a header.
func (l *Live) LinkType() LinkType { return l.linkType }

// Sockets returns the capture's sockets, one Source each.
func (l *Live) Sockets() []*LiveSocket { return l.socks }

// SetFilter attaches a classic BPF program, compiled for LinkType, to
// every socket (nil: accept everything). Two tests run before it: a cooked
// socket keeps only IPv4 and IPv6 (nothing else could be decoded without
// the link header), and the outgoing copy of a loopback packet is dropped,
// as libpcap does: on lo the kernel hands a packet socket each packet
// twice, once leaving and once arriving.
func (l *Live) SetFilter(prog []bpf.RawInstruction) error {
	code, err := l.kernelProgram(prog)
	if err != nil {
		return err
	}
	for _, s := range l.socks {
		if err := s.tp.SetBPF(code); err != nil {
			return fmt.Errorf("%s: attach the filter: %w", l.name, err)
		}
	}
	return nil
}

func (l *Live) kernelProgram(prog []bpf.RawInstruction) ([]bpf.RawInstruction, error) {
	var pre []bpf.Instruction
	if l.cooked {
		pre = append(pre,
			bpf.LoadExtension{Num: bpf.ExtProto},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IP, SkipTrue: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IPV6, SkipTrue: 1},
			bpf.RetConstant{Val: 0},
		)
	}
	if l.loIndex != 0 {
		pre = append(pre,
			bpf.LoadExtension{Num: bpf.ExtType},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 3},
			bpf.LoadExtension{Num: bpf.ExtInterfaceIndex},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(l.loIndex), SkipTrue: 1},
			bpf.RetConstant{Val: 0},
		)
	}
	if prog == nil {
		pre = append(pre, bpf.RetConstant{Val: LiveSnaplen})
	}
	code, err := bpf.Assemble(pre)
	if err != nil {
		return nil, fmt.Errorf("%s: kernel filter: %w", l.name, err)
	}
	// The prefix only jumps forward within itself, and the program's
	// jumps are relative: the two concatenate as they are.
	return append(code, prog...), nil
}

// Stats returns the kernel's counters since the capture was opened. It is
// safe from any goroutine until Close; call it every few minutes at least
// (the -R ticker does) so no 32-bit counter wraps unseen.
func (l *Live) Stats() (LiveStats, error) {
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	var sum LiveStats
	for i, s := range l.socks {
		_, v3, err := s.tp.SocketStats()
		if err != nil {
			return sum, fmt.Errorf("%s: socket statistics: %w", l.name, err)
		}
		c := &l.stats[i]
		now := [3]uint32{uint32(v3.Packets()), uint32(v3.Drops()), uint32(v3.QueueFreezes())}
		c.total.Received += uint64(now[0] - c.last[0]) // differences of uint32 survive a wrap
		c.total.Dropped += uint64(now[1] - c.last[1])
		c.total.Freezes += uint64(now[2] - c.last[2])
		c.last = now
		sum.Received += c.total.Received
		sum.Dropped += c.total.Dropped
		sum.Freezes += c.total.Freezes
	}
	return sum, nil
}

// Close closes every socket. No read may be running.
func (l *Live) Close() error {
	for _, s := range l.socks {
		s.tp.Close()
	}
	l.socks = nil
	return nil
}

// LiveSocket is one socket of a live capture, a Source for one goroutine.
type LiveSocket struct {
	tp   *afpacket.TPacket
	live *Live
}

// Next returns the next packet, or ErrNoPacket when none came within the
// poll timeout. data points into the ring and is valid until the next call.
func (s *LiveSocket) Next() ([]byte, Info, error) {
	data, ci, err := s.tp.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, afpacket.ErrTimeout) {
			return nil, Info{}, ErrNoPacket
		}
		if s.live.ifindex != 0 {
			switch ifi, ierr := net.InterfaceByIndex(s.live.ifindex); {
			case ierr != nil:
				return nil, Info{}, fmt.Errorf("read %s: the interface is gone (%w)", s.live.name, err)
			case ifi.Flags&net.FlagUp == 0:
				return nil, Info{}, fmt.Errorf("read %s: the interface went down (%w)", s.live.name, err)
			}
		}
		return nil, Info{}, fmt.Errorf("read %s: %w", s.live.name, err)
	}
	return data, Info{
		Time:      ci.Timestamp.UnixNano(),
		CapLen:    ci.CaptureLength,
		WireLen:   ci.Length,
		LinkType:  s.live.linkType,
		Interface: ci.InterfaceIndex,
	}, nil
}

// Name is the interface's name.
func (s *LiveSocket) Name() string { return s.live.name }

// Close does nothing: Live.Close closes the sockets once every reader has
// stopped.
func (s *LiveSocket) Close() error { return nil }

// Stop attaches a filter that takes no packet, so the ring gets nothing
// new: a reader that goes on until ErrNoPacket has then read every packet
// the socket captured before Stop. (A block being filled reaches the reader
// within blockTimeout, well inside the poll timeout.)
func (s *LiveSocket) Stop() error {
	if err := s.tp.SetBPF([]bpf.RawInstruction{{Op: 0x06, K: 0}}); err != nil { // ret #0
		return fmt.Errorf("%s: stop: %w", s.live.name, err)
	}
	return nil
}
