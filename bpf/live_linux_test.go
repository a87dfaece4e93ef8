//go:build linux

package bpf

import (
	"encoding/binary"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowcap/flowcap/capture/livetest"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// vethPair makes the veth pair v0-v1 in ns, both up: a frame sent on v0
// arrives on v1 as if from a wire (the kernel takes its VLAN tag off).
// It returns once both are operational: before, the kernel drops what is
// sent.
func vethPair(t *testing.T, ns *livetest.Netns) {
	ns.IP("link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ns.IP("link", "set", "v0", "up")
	ns.IP("link", "set", "v1", "up")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out := ns.IP("-o", "link", "show", "up")
		if strings.Contains(out, "v0@v1:") && strings.Contains(out, "v1@v0:") && strings.Count(out, "state UP") >= 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the veth pair is not up after 5s:\n%s", out)
		}
	}
}

// updateLiveOracles caches libpcap's live programs: tcpdump -i v0 on a
// veth in a throwaway namespace, and tcpdump -i any, each optimised and
// (where that decides some packet differently) not.
func updateLiveOracles(t *testing.T, cases []exprCase) {
	needTcpdump(t)
	if os.Geteuid() != 0 {
		t.Fatal("-update runs tcpdump on live interfaces of a network namespace: run as root")
	}
	ns := livetest.New(t)
	vethPair(t, ns)
	packets := corpus(t)
	exprs := oracleExprs(cases)
	for _, o := range []struct {
		name, iface string
		views       []liveView
		fix         bool
	}{
		{liveEtherOracle, "v0", etherViews(packets[LinkTypeEthernet]), false},
		{liveAnyOracle, "any", anyViews(packets[LinkTypeLinuxSLL2], packets[LinkTypeEthernet]), true},
	} {
		results := make([]string, len(exprs))
		parallel(len(exprs), func(i int) {
			out, err := tcpdumpOutput(ns.Command("tcpdump", "-i", o.iface, "-ddd", "--", exprs[i]))
			if err != nil {
				results[i] = "error: " + err.Error()
				if err.Error() != "expression rejects all packets" {
					return
				}
				out = "1\n6 0 0 0\n"
			} else {
				results[i] = strings.TrimRight(out, "\n")
			}
			unopt, err := tcpdumpOutput(ns.Command("tcpdump", "-i", o.iface, "-O", "-ddd", "--", exprs[i]))
			if err != nil {
				return
			}
			a, _ := parseDDD(out)
			b, _ := parseDDD(unopt)
			keep := false
			if o.fix {
				var ra, rb fixResult
				a, ra = libpcapFix(a)
				b, rb = libpcapFix(b)
				keep = ra == fixOK && rb != fixOK // the optimiser dropped a load the kernel cannot do
			}
			if keep || a != nil && b != nil && liveUnoptNeeded(a, b, o.views) {
				results[i] += "\n-- unoptimised\n" + strings.TrimRight(unopt, "\n")
			}
		})
		writeLiveOracle(t, o.name, "tcpdump -i "+o.iface+" -ddd -- EXPR (libpcap's live program; on any, before fix_program)", exprs, results)
	}
}

// TestLiveOracleFresh checks a sample of the cached live programs against
// the installed tcpdump.
func TestLiveOracleFresh(t *testing.T) {
	livetest.Require(t)
	needTcpdump(t)
	ns := livetest.New(t)
	vethPair(t, ns)
	cases := loadExpressions(t)
	var sample []string
	for i := 0; i < len(cases); i += len(cases) / 10 {
		sample = append(sample, cases[i].oracle)
	}
	sample = append(sample, "vlan 100 and tcp port 80", "ifindex 2 and vlan 100", "link[0:2] = 0x0800")
	for name, iface := range map[string]string{liveEtherOracle: "v0", liveAnyOracle: "any"} {
		oracle := loadOracle(t, name)
		for _, expr := range sample {
			out, err := tcpdumpOutput(ns.Command("tcpdump", "-i", iface, "-ddd", "--", expr))
			got := strings.TrimRight(out, "\n")
			if err != nil {
				got = "error: " + err.Error()
			}
			if want, ok := oracle[expr]; !ok || got != want.text {
				t.Errorf("%s %q: cached tcpdump result is stale (regenerate with -update):\ncached %s\nnow    %s", name, expr, want.text, got)
			}
		}
	}
}

// TestLiveSocket attaches live programs to real AF_PACKET sockets and
// sends frames through a veth pair. The kernel takes the outer 802.1Q or
// 802.1ad tag off each frame before the filter sees it: "vlan 100 and tcp
// port 80" compiled for files catches only the frame whose tag the kernel
// leaves (0x9100); compiled with Live it catches what a capture file of the
// frames would show it catching.
func TestLiveSocket(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	vethPair(t, ns)
	var v0, v1 *net.Interface
	if err := ns.Do(func() (err error) {
		if v0, err = net.InterfaceByName("v0"); err == nil {
			v1, err = net.InterfaceByName("v1")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// The frames, by name; each ends in its index, which identifies it
	// whatever the kernel took off.
	frames := []struct {
		name string
		tags []uint16 // TPID, TCI pairs, outer first
		port uint16
	}{
		{"vlan100-port80", []uint16{0x8100, 100}, 80},
		{"vlan100-port81", []uint16{0x8100, 100}, 81},
		{"vlan200-port80", []uint16{0x8100, 200}, 80},
		{"untagged-port80", nil, 80},
		{"8021ad100-port80", []uint16{0x88a8, 100}, 80},
		{"9100-100-port80", []uint16{0x9100, 100}, 80},
		{"vlan100-pcp5-port80", []uint16{0x8100, 5<<13 | 100}, 80},
		{"qinq100-7-port80", []uint16{0x88a8, 100, 0x8100, 7}, 80},
	}
	raw := make([][]byte, len(frames))
	for i, f := range frames {
		raw[i] = tcpFrame(v1.HardwareAddr, v0.HardwareAddr, f.tags, f.port, uint32(i))
	}

	ifindex := strconv.Itoa(v1.Index)
	for _, tt := range []struct {
		expr string
		lt   uint32
		live bool
		want []string
	}{
		{"vlan 100 and tcp port 80", LinkTypeEthernet, true, []string{"vlan100-port80", "8021ad100-port80", "9100-100-port80", "vlan100-pcp5-port80"}},
		{"vlan 100 and tcp port 80", LinkTypeEthernet, false, []string{"9100-100-port80"}},
		{"inbound and tcp port 80", LinkTypeLinuxSLL2, true, []string{"vlan100-port80", "vlan200-port80", "untagged-port80", "8021ad100-port80", "vlan100-pcp5-port80"}},
		{"ifindex " + ifindex + " and tcp port 80", LinkTypeLinuxSLL2, true, []string{"vlan100-port80", "vlan200-port80", "untagged-port80", "8021ad100-port80", "vlan100-pcp5-port80"}},
	} {
		name := linkTypeName(tt.lt) + " " + tt.expr
		if tt.live {
			name = "live " + name
		}
		t.Run(name, func(t *testing.T) {
			p, err := Compile(tt.expr, tt.lt, Options{Live: tt.live})
			if err != nil {
				t.Fatal(err)
			}
			if tt.live && tt.lt == LinkTypeEthernet {
				// The frames a capture file would hold, as sent.
				var fromFile []string
				fp := mustCompile(t, tt.expr, tt.lt)
				for i, f := range frames {
					if fp.Match(raw[i], len(raw[i])) {
						fromFile = append(fromFile, f.name)
					}
				}
				if !slices.Equal(fromFile, tt.want) {
					t.Fatalf("the program for files takes %v from a file of the frames, the test wants %v", fromFile, tt.want)
				}
			}
			var sock int
			cooked := tt.lt == LinkTypeLinuxSLL2
			if err := ns.Do(func() (err error) {
				sock, err = packetSocket(p.Raw(), cooked, v1.Index)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer unix.Close(sock)
			if err := ns.Do(func() error { return sendFrames(v0.Index, raw) }); err != nil {
				t.Fatal(err)
			}
			got := receivedFrames(t, sock, len(tt.want))
			var names []string
			for _, i := range got {
				names = append(names, frames[i].name)
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("received %v, want %v\n%s", names, tt.want, Format(p, Listing))
			}
		})
	}
}

// mustCompile compiles for files or fails the test.
func mustCompile(t *testing.T, expr string, lt uint32) *Program {
	t.Helper()
	p, err := Compile(expr, lt, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tcpFrame is an Ethernet frame with the given tags around an IPv4/TCP
// packet to port; its last 4 bytes are mark.
func tcpFrame(dst, src net.HardwareAddr, tags []uint16, port uint16, mark uint32) []byte {
	f := append(append([]byte{}, dst...), src...)
	for _, v := range tags {
		f = binary.BigEndian.AppendUint16(f, v)
	}
	f = binary.BigEndian.AppendUint16(f, 0x0800)
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], port)
	tcp[12], tcp[13] = 5<<4, 0x02 // SYN
	pkt := append(append(ip, tcp...), binary.BigEndian.AppendUint32(nil, mark)...)
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	return append(f, pkt...)
}

// packetSocket opens an AF_PACKET socket with prog attached before it is
// bound, so that no packet passes unfiltered: SOCK_RAW bound to ifindex,
// or for the cooked case SOCK_DGRAM bound to every interface ("any").
func packetSocket(prog []bpf.RawInstruction, cooked bool, ifindex int) (int, error) {
	typ, bindTo := unix.SOCK_RAW, ifindex
	if cooked {
		typ, bindTo = unix.SOCK_DGRAM, 0
	}
	fd, err := unix.Socket(unix.AF_PACKET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, r := range prog {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		unix.Close(fd)
		return -1, err
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: bindTo}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// sendFrames sends each frame out of ifindex as it is.
func sendFrames(ifindex int, frames [][]byte) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, f := range frames {
		if err := unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}); err != nil {
			return err
		}
	}
	return nil
}

// receivedFrames reads the socket until it has read want frames and
// then stays quiet for a read timeout, or 3 seconds pass, and returns the
// marks of what it read, in order.
func receivedFrames(t *testing.T, fd, want int) []uint32 {
	var out []uint32
	buf := make([]byte, 2048)
	for deadline := time.Now().Add(3 * time.Second); ; {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if len(out) >= want || time.Now().After(deadline) {
				return out
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n < 4 {
			t.Fatalf("a %d-byte packet", n)
		}
		out = append(out, binary.BigEndian.Uint32(buf[n-4:n]))
	}
}
