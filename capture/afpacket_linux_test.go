package capture_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowcap/flowcap/bpf"
	"github.com/flowcap/flowcap/capture"
	"github.com/flowcap/flowcap/capture/livetest"
)

// tcpFrame builds an Ethernet/IPv4/TCP frame from 10.0.0.1 to 10.0.0.2
// with n payload bytes; tci >= 0 adds an 802.1Q tag. The checksums are not
// filled in: the capture sees frames before anything checks them.
func tcpFrame(sport, dport uint16, n int, tci int) []byte {
	b := []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1}
	if tci >= 0 {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, uint16(tci))
	}
	b = binary.BigEndian.AppendUint16(b, 0x0800)
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+20+n))
	b = append(b, ip...)
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	tcp[12] = 5 << 4
	tcp[13] = 0x18 // PSH ACK
	b = append(b, tcp...)
	for i := range n {
		b = append(b, byte(i))
	}
	return b
}

// openIn opens a live capture inside the namespace; it is closed when the
// test ends.
func openIn(t *testing.T, ns *livetest.Netns, cfg capture.LiveConfig) *capture.Live {
	t.Helper()
	var l *capture.Live
	if err := ns.Do(func() (err error) { l, err = capture.OpenLive(cfg); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// readAll reads a socket until the poll timeout passes with nothing new,
// copying each packet.
func readAll(t *testing.T, s *capture.LiveSocket) (pkts [][]byte, infos []capture.Info) {
	t.Helper()
	for {
		data, info, err := s.Next()
		if errors.Is(err, capture.ErrNoPacket) {
			return pkts, infos
		}
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, bytes.Clone(data))
		infos = append(infos, info)
	}
}

func write(t *testing.T, tap *os.File, frames ...[]byte) {
	t.Helper()
	for _, f := range frames {
		if _, err := tap.Write(f); err != nil {
			t.Fatalf("write a %d-byte frame to the TAP: %v", len(f), err)
		}
	}
}

// Frames written to a TAP device come out of the capture byte for byte: a
// VLAN tag the kernel takes off is put back (priority bits included), a
// 64 KiB frame is not cut short, and Info describes each frame.
func TestLiveFramesAsWritten(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	tap := ns.TAP("t0", 65521)
	l := openIn(t, ns, capture.LiveConfig{Interface: "t0", Promiscuous: true})
	if l.LinkType() != capture.LinkEthernet {
		t.Fatalf("link type %v, want Ethernet", l.LinkType())
	}
	frames := [][]byte{
		tcpFrame(1234, 80, 10, -1),
		tcpFrame(1234, 80, 100, 0xa00b), // priority 5, VLAN 11
		tcpFrame(1234, 80, 65000, -1),
		tcpFrame(1234, 80, 0, 7),
	}
	before := time.Now().UnixNano()
	write(t, tap, frames...)
	got, infos := readAll(t, l.Sockets()[0])
	if len(got) != len(frames) {
		t.Fatalf("read %d frames, wrote %d", len(got), len(frames))
	}
	var ifi *net.Interface
	if err := ns.Do(func() (err error) { ifi, err = net.InterfaceByName("t0"); return err }); err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		if !bytes.Equal(got[i], frames[i]) {
			t.Errorf("frame %d: read\n% x\nwant\n% x", i, head(got[i]), head(frames[i]))
		}
		in := infos[i]
		if in.CapLen != len(frames[i]) || in.WireLen != len(frames[i]) || in.LinkType != capture.LinkEthernet || in.Interface != ifi.Index || in.Time < before || in.Time > time.Now().UnixNano() {
			t.Errorf("frame %d: info %+v, want lengths %d", i, in, len(frames[i]))
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 48)] }

// The kernel filter keeps out what the expression rejects: those packets
// never reach the ring, and the kernel's counters say so.
func TestLiveKernelFilter(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	tap := ns.TAP("t0", 1500)
	l := openIn(t, ns, capture.LiveConfig{Interface: "t0"})
	prog, err := bpf.Compile("tcp port 80", uint32(l.LinkType()), bpf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetFilter(prog.Raw()); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		write(t, tap, tcpFrame(1234, 80, 10, -1), tcpFrame(1234, 81, 10, -1))
	}
	got, _ := readAll(t, l.Sockets()[0])
	st, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || st.Received != 10 || st.Dropped != 0 {
		t.Errorf("read %d packets, kernel stats %+v; want 10 received, none dropped", len(got), st)
	}
	for _, p := range got {
		if binary.BigEndian.Uint16(p[36:]) != 80 {
			t.Errorf("a packet to port %d passed the filter", binary.BigEndian.Uint16(p[36:]))
		}
	}
}

// After Stop the ring takes nothing new, and the reader still gets every
// packet captured before it.
func TestLiveStopDrains(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	tap := ns.TAP("t0", 1500)
	l := openIn(t, ns, capture.LiveConfig{Interface: "t0"})
	s := l.Sockets()[0]
	for i := range 1000 {
		write(t, tap, tcpFrame(1234, uint16(i), 100, -1))
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	write(t, tap, tcpFrame(1, 2, 3, -1))
	got, _ := readAll(t, s)
	if len(got) != 1000 {
		t.Fatalf("read %d packets after Stop, want the 1000 written before it", len(got))
	}
}

// On lo the kernel hands a packet socket every packet twice, leaving and
// arriving; the capture keeps one copy, on lo and on "any" (where packets
// start at the IP header).
func TestLiveLoopbackOnce(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	for _, tt := range []struct {
		iface string
		lt    capture.LinkType
		ip    int // offset of the IP header
	}{{"lo", capture.LinkEthernet, 14}, {"any", capture.LinkRaw, 0}} {
		l := openIn(t, ns, capture.LiveConfig{Interface: tt.iface})
		if l.LinkType() != tt.lt {
			t.Errorf("%s: link type %v, want %v", tt.iface, l.LinkType(), tt.lt)
		}
		const n = 20
		err := ns.Do(func() error {
			srv, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			defer srv.Close()
			c, err := net.Dial("udp", srv.LocalAddr().String())
			if err != nil {
				return err
			}
			defer c.Close()
			for i := range n {
				c.Write([]byte{byte(i)})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := readAll(t, l.Sockets()[0])
		udp := 0
		for _, p := range got {
			if len(p) > tt.ip+9 && p[tt.ip]>>4 == 4 && p[tt.ip+9] == 17 {
				udp++
			}
		}
		st, err := l.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if udp != n || uint64(len(got)) != st.Received {
			t.Errorf("%s: %d UDP packets of %d read (%d in all, kernel counted %d); want each once", tt.iface, udp, len(got), len(got), st.Received)
		}
		l.Close()
	}
}

// With several sockets in a fanout group, every packet reaches exactly one
// of them, and all the packets of a connection reach the same one.
func TestLiveFanout(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	tap := ns.TAP("t0", 1500)
	l := openIn(t, ns, capture.LiveConfig{Interface: "t0", Sockets: 2})
	const conns, each = 50, 4
	for range each {
		for c := range conns {
			write(t, tap, tcpFrame(uint16(1000+c), 80, 10, -1))
		}
	}
	socketOf := map[uint16]int{}
	total := 0
	for i, s := range l.Sockets() {
		got, _ := readAll(t, s)
		if len(got) == 0 {
			t.Errorf("socket %d got nothing", i)
		}
		for _, p := range got {
			port := binary.BigEndian.Uint16(p[34:])
			if j, ok := socketOf[port]; ok && j != i {
				t.Errorf("connection from port %d reached sockets %d and %d", port, j, i)
			}
			socketOf[port] = i
		}
		total += len(got)
	}
	if total != conns*each {
		t.Errorf("the sockets read %d packets, %d were written", total, conns*each)
	}
}

// Reading a packet from the ring allocates nothing (a VLAN-tagged frame,
// put back together by gopacket, would).
func TestLiveNextDoesNotAllocate(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	tap := ns.TAP("t0", 1500)
	l := openIn(t, ns, capture.LiveConfig{Interface: "t0"})
	s := l.Sockets()[0]
	for range 300 {
		write(t, tap, tcpFrame(1234, 80, 1000, -1))
	}
	var err error
	allocs := testing.AllocsPerRun(250, func() { _, _, err = s.Next() })
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("Next: %v allocations per packet, want 0", allocs)
	}
}

// Stop in the middle of a flood: the reader still gets every frame written
// before Stop, each once and in order, and as many as the kernel counted.
func TestLiveStopUnderLoad(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	tap := ns.TAP("t0", 1500)
	l := openIn(t, ns, capture.LiveConfig{Interface: "t0", RingBytes: 64 << 20})
	s := l.Sockets()[0]
	var written atomic.Int64
	quit := make(chan struct{})
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		f := tcpFrame(1, 2, 1400, -1)
		for i := uint32(0); ; i++ {
			select {
			case <-quit:
				return
			default:
			}
			binary.BigEndian.PutUint32(f[38:], i) // the TCP sequence number
			if _, err := tap.Write(f); err != nil {
				return
			}
			written.Add(1)
		}
	}()
	defer func() { close(quit); <-flooded }()
	var before int64
	next := uint32(0)
	for stopped := false; ; {
		if !stopped && next == 20000 {
			before = written.Load()
			if err := s.Stop(); err != nil {
				t.Fatal(err)
			}
			stopped = true
		}
		data, _, err := s.Next()
		if errors.Is(err, capture.ErrNoPacket) {
			if stopped {
				break
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if seq := binary.BigEndian.Uint32(data[38:]); seq != next {
			t.Fatalf("frame %d read where %d was next", seq, next)
		}
		next++
	}
	st, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if int64(next) < before || uint64(next) != st.Received || st.Dropped != 0 {
		t.Errorf("read %d frames; %d were written before Stop; kernel counters %+v", next, before, st)
	}
}
