package capture

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/flowcap/flowcap/reassembly"
)

// Frames as hex: the parts are named so each case reads as its layers.
const (
	ethHdr  = "020000000002 020000000001" // dst, src
	ethIPv4 = ethHdr + "0800"
	ethIPv6 = ethHdr + "86dd"

	// 192.168.1.2:12345 -> 10.0.0.1:80, seq 100, ack 200, PSH|ACK, "hello"
	ipv4Hdr = "4500 002d 1234 4000 4006 0000 c0a80102 0a000001"
	tcpHdr  = "3039 0050 00000064 000000c8 5018 ffff 0000 0000"
	hello   = "68656c6c6f"
	ipv4TCP = ipv4Hdr + tcpHdr + hello

	// [2001:db8::1]:12345 -> [2001:db8::2]:80, same TCP segment
	ipv6Addrs = "20010db8000000000000000000000001 20010db8000000000000000000000002"
	ipv6TCP   = "6000 0000 0019 0640" + ipv6Addrs + tcpHdr + hello
)

type wantSeg struct {
	src, dst       string // netip.AddrPort
	payload        string
	vlan           int32
	srcMAC, dstMAC string // hex, "" for zero
	truncated      bool   // the capture cut the payload short
}

var (
	seg4 = wantSeg{src: "192.168.1.2:12345", dst: "10.0.0.1:80", payload: "hello", vlan: reassembly.NoVLAN}
	seg6 = wantSeg{src: "[2001:db8::1]:12345", dst: "[2001:db8::2]:80", payload: "hello", vlan: reassembly.NoVLAN}
)

func with(w wantSeg, f func(*wantSeg)) wantSeg { f(&w); return w }

func ethSeg(w wantSeg) wantSeg {
	return with(w, func(w *wantSeg) { w.srcMAC, w.dstMAC = "020000000001", "020000000002" })
}

var decodeCases = []struct {
	name  string
	lt    LinkType
	frame string
	res   Result
	seg   wantSeg // checked when res is OK
}{
	// Ethernet and VLAN tags
	{"ethernet ipv4", LinkEthernet, ethIPv4 + ipv4TCP, OK, ethSeg(seg4)},
	{"ethernet ipv6", LinkEthernet, ethIPv6 + ipv6TCP, OK, ethSeg(seg6)},
	{"ethernet padding is not data", LinkEthernet, ethIPv4 + ipv4TCP + "000000000000000000", OK, ethSeg(seg4)},
	{"ieee802 as ethernet", LinkIEEE802, ethIPv4 + ipv4TCP, OK, ethSeg(seg4)},
	{"802.1Q raw TCI", LinkEthernet, ethHdr + "8100 a00a 0800" + ipv4TCP, OK,
		with(ethSeg(seg4), func(w *wantSeg) { w.vlan = 0xa00a })},
	{"802.1Q in 802.1Q: outer", LinkEthernet, ethHdr + "8100 001e 8100 0014 0800" + ipv4TCP, OK,
		with(ethSeg(seg4), func(w *wantSeg) { w.vlan = 30 })},
	{"QinQ 88a8 outer: no VLAN", LinkEthernet, ethHdr + "88a8 0064 8100 000a 0800" + ipv4TCP, OK, ethSeg(seg4)},
	{"9100 stacked: no VLAN", LinkEthernet, ethHdr + "9100 0064 9100 000a 86dd" + ipv6TCP, OK, ethSeg(seg6)},
	{"ethernet cut in the tag", LinkEthernet, ethHdr + "8100 00", ShortFrame, wantSeg{}},
	{"ethernet too short", LinkEthernet, "0200000000020200", ShortFrame, wantSeg{}},
	{"arp", LinkEthernet, ethHdr + "0806 0001 0800 0604 0001", NotTCP, wantSeg{}},
	{"802.3 length, LLC", LinkEthernet, ethHdr + "0026 4242 03", NotTCP, wantSeg{}},
	{"mpls", LinkEthernet, ethHdr + "8847 00014040 00014140" + ipv4TCP, OK, ethSeg(seg4)},
	{"pppoe session", LinkEthernet, ethHdr + "8864 1100 0001 002f 0021" + ipv4TCP, OK, ethSeg(seg4)},

	// Linux cooked captures
	{"sll", LinkLinuxSLL, "0000 0001 0006 0a0b0c0d0e0f 0000 0800" + ipv4TCP, OK,
		with(seg4, func(w *wantSeg) { w.srcMAC = "0a0b0c0d0e0f" })},
	{"sll ipv6, no address", LinkLinuxSLL, "0000 0304 0000 0000000000000000 86dd" + ipv6TCP, OK, seg6},
	{"sll vlan", LinkLinuxSLL, "0000 0001 0006 0a0b0c0d0e0f 0000 8100 000a 0800" + ipv4TCP, OK,
		with(seg4, func(w *wantSeg) { w.srcMAC, w.vlan = "0a0b0c0d0e0f", 10 })},
	{"sll2", LinkLinuxSLL2, "0800 0000 00000002 0001 00 06 0a0b0c0d0e0f0000" + ipv4TCP, OK,
		with(seg4, func(w *wantSeg) { w.srcMAC = "0a0b0c0d0e0f" })},
	{"sll2 ipv6", LinkLinuxSLL2, "86dd 0000 00000001 0304 00 00 0000000000000000" + ipv6TCP, OK, seg6},
	{"sll2 too short", LinkLinuxSLL2, "0800 0000 00000002 0001 00 06 0a0b0c", ShortFrame, wantSeg{}},

	// Raw IP: the version nibble decides for 101, 12 and 14
	{"raw 101 v4", LinkRaw, ipv4TCP, OK, seg4},
	{"raw 101 v6", LinkRaw, ipv6TCP, OK, seg6},
	{"dlt 12 v6", LinkDLTRaw12, ipv6TCP, OK, seg6},
	{"dlt 14 v4", LinkDLTRaw14, ipv4TCP, OK, seg4},
	{"raw bad version", LinkRaw, "5" + ipv4TCP[1:], BadIPHeader, wantSeg{}},
	{"ipv4 228", LinkIPv4, ipv4TCP, OK, seg4},
	{"ipv6 229", LinkIPv6, ipv6TCP, OK, seg6},
	{"ipv4 228 holding v6", LinkIPv4, ipv6TCP, BadIPHeader, wantSeg{}},

	// BSD loopback: NULL in host order (either), LOOP in network order
	{"null le inet", LinkNull, "02000000" + ipv4TCP, OK, seg4},
	{"null be inet", LinkNull, "00000002" + ipv4TCP, OK, seg4},
	{"null inet6 24", LinkNull, "18000000" + ipv6TCP, OK, seg6},
	{"null inet6 28", LinkNull, "1c000000" + ipv6TCP, OK, seg6},
	{"null inet6 30 be", LinkNull, "0000001e" + ipv6TCP, OK, seg6},
	{"null other family", LinkNull, "07000000" + ipv4TCP, NotTCP, wantSeg{}},
	{"loop", LinkLoop, "00000002" + ipv4TCP, OK, seg4},
	{"loop le is wrong", LinkLoop, "02000000" + ipv4TCP, NotTCP, wantSeg{}},

	// PPP and HDLC
	{"ppp address control", LinkPPP, "ff03 0021" + ipv4TCP, OK, seg4},
	{"ppp ipv6, no address control", LinkPPP, "0057" + ipv6TCP, OK, seg6},
	{"ppp compressed protocol", LinkPPP, "21" + ipv4TCP, OK, seg4},
	{"ppp lcp", LinkPPP, "ff03 c021 0101 0004", NotTCP, wantSeg{}},
	{"ppp hdlc", LinkPPPHDLC, "ff03 0021" + ipv4TCP, OK, seg4},
	{"ppp hdlc carrying cisco hdlc", LinkPPPHDLC, "0f00 0800" + ipv4TCP, OK, seg4},
	{"cisco hdlc", LinkCHDLC, "0f00 86dd" + ipv6TCP, OK, seg6},
	{"cisco hdlc slarp", LinkCHDLC, "8f00 8035 0000", NotTCP, wantSeg{}},

	// IPv4
	{"ipv4 options", LinkIPv4, "4600 0031 1234 4000 4006 0000 c0a80102 0a000001 01010100" + tcpHdr + hello, OK, seg4},
	{"ipv4 total length 0 (TSO)", LinkIPv4, "4500 0000" + ipv4Hdr[9:] + tcpHdr + hello, OK, seg4},
	{"ipv4 snapped payload", LinkIPv4, ipv4Hdr + tcpHdr + "68656c", OK,
		with(seg4, func(w *wantSeg) { w.payload, w.truncated = "hel", true })},
	{"ipv4 snapped tcp header", LinkIPv4, ipv4Hdr + "3039 0050 00000064 0000", ShortFrame, wantSeg{}},
	{"ipv4 snapped ip header", LinkIPv4, ipv4Hdr[:30], ShortFrame, wantSeg{}},
	{"ipv4 snapped options", LinkIPv4, "4f00 0100 1234 4000 4006 0000 c0a80102 0a000001 0101", ShortFrame, wantSeg{}},
	{"ipv4 ihl 4", LinkIPv4, "4400" + ipv4TCP[4:], BadIPHeader, wantSeg{}},
	{"ipv4 total below ihl", LinkIPv4, "4500 0010" + ipv4TCP[9:], BadIPHeader, wantSeg{}},
	{"ipv4 total too short for tcp", LinkIPv4, "4500 0020" + ipv4TCP[9:], BadTCPHeader, wantSeg{}},
	{"tcp data offset 4", LinkIPv4, ipv4Hdr + "3039 0050 00000064 000000c8 4018 ffff 0000 0000" + hello, BadTCPHeader, wantSeg{}},
	{"tcp data offset beyond ip", LinkIPv4, ipv4Hdr + "3039 0050 00000064 000000c8 f018 ffff 0000 0000" + hello, BadTCPHeader, wantSeg{}},
	{"udp", LinkIPv4, "4500 0021 1234 4000 4011 0000 c0a80102 0a000001 3039 0035 000d 0000" + hello, NotTCP, wantSeg{}},
	{"gre tunnel not followed", LinkIPv4, "4500 0041 1234 4000 402f 0000 c0a80102 0a000001 0000 0800" + ipv4TCP, NotTCP, wantSeg{}},
	{"ip in ip not followed", LinkIPv4, "4500 0041 1234 4000 4004 0000 c0a80102 0a000001" + ipv4TCP, NotTCP, wantSeg{}},

	// IPv6
	{"ipv6 hbh, dstopts, ah", LinkIPv6, "6000 0000 0035 0040" + ipv6Addrs +
		"3c00 0104 00000000" + // hop-by-hop: next dest opts, PadN
		"3300 0104 00000000" + // destination options: next AH
		"0601 0000 00000001 00000001" + // AH: next TCP, 12 bytes
		tcpHdr + hello, OK, seg6},
	{"ipv6 routing", LinkIPv6, "6000 0000 0031 2b40" + ipv6Addrs +
		"0602 0000 00000000 00000000000000000000000000000000" + tcpHdr + hello, OK, seg6},
	{"ipv6 atomic fragment", LinkIPv6, "6000 0000 0021 2c40" + ipv6Addrs + "0600 0000 00001234" + tcpHdr + hello, OK, seg6},
	{"ipv6 ext beyond payload length", LinkIPv6, "6000 0000 0008 0040" + ipv6Addrs + "0601 0000 00000000 0000000000000000" + tcpHdr, BadIPHeader, wantSeg{}},
	{"ipv6 snapped ext", LinkIPv6, "6000 0000 0035 0040" + ipv6Addrs + "3c00 01", ShortFrame, wantSeg{}},
	{"ipv6 payload length 0 (GSO)", LinkIPv6, "6000 0000 0000 0640" + ipv6Addrs + tcpHdr + hello, OK, seg6},
	{"ipv6 padding is not data", LinkIPv6, ipv6TCP + "0000", OK, seg6},
	{"ipv6 snapped payload", LinkIPv6, "6000 0000 0019 0640" + ipv6Addrs + tcpHdr + "68", OK,
		with(seg6, func(w *wantSeg) { w.payload, w.truncated = "h", true })},
	{"ipv4-mapped stays ipv6", LinkIPv6, "6000 0000 0019 0640" +
		"00000000000000000000ffff01020304 00000000000000000000ffff05060708" + tcpHdr + hello, OK,
		with(seg6, func(w *wantSeg) { w.src, w.dst = "[::ffff:1.2.3.4]:12345", "[::ffff:5.6.7.8]:80" })},
	{"ipv6 no next header", LinkIPv6, "6000 0000 0000 3b40" + ipv6Addrs, NotTCP, wantSeg{}},
	{"ipv6 esp", LinkIPv6, "6000 0000 0008 3240" + ipv6Addrs + "00000001 00000001", NotTCP, wantSeg{}},
	{"ipv6 udp fragment not held", LinkIPv6, "6000 0000 0010 2c40" + ipv6Addrs + "1100 0001 00001234 0000000000000000", NotTCP, wantSeg{}},

	// Other link types
	{"arcnet unsupported", 129, "0102" + ipv4TCP, UnsupportedLinkType, wantSeg{}},
	{"empty frame", LinkEthernet, "", ShortFrame, wantSeg{}},
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecode(t *testing.T) {
	for _, c := range decodeCases {
		t.Run(c.name, func(t *testing.T) {
			frame := unhex(c.frame)
			info := Info{Time: 1234567890123456789, CapLen: len(frame), WireLen: len(frame) + 7, LinkType: c.lt}
			var seg reassembly.Segment
			d := NewDecoder()
			res := d.Decode(frame, info, &seg)
			if res != c.res {
				t.Fatalf("Decode = %v, want %v", res, c.res)
			}
			if res != OK {
				return
			}
			if got := d.Stats().Truncated == 1; got != c.seg.truncated {
				t.Errorf("counted as truncated: %v, want %v", got, c.seg.truncated)
			}
			checkSeg(t, &seg, c.seg)
			if seg.Seq != 100 || seg.Ack != 200 || seg.Flags != reassembly.PSH|reassembly.ACK {
				t.Errorf("seq %d ack %d flags %#x, want 100 200 0x18", seg.Seq, seg.Ack, seg.Flags)
			}
			if seg.Time != info.Time || seg.CapLen != uint32(info.CapLen) || seg.WireLen != uint32(info.WireLen) {
				t.Errorf("time %d caplen %d wirelen %d, want those of %+v", seg.Time, seg.CapLen, seg.WireLen, info)
			}
		})
	}
}

func checkSeg(t *testing.T, seg *reassembly.Segment, w wantSeg) {
	t.Helper()
	want := reassembly.Key{Src: netip.MustParseAddrPort(w.src), Dst: netip.MustParseAddrPort(w.dst)}
	if seg.Key != want {
		t.Errorf("key %v -> %v, want %v -> %v", seg.Key.Src, seg.Key.Dst, want.Src, want.Dst)
	}
	if string(seg.Payload) != w.payload {
		t.Errorf("payload %q, want %q", seg.Payload, w.payload)
	}
	if seg.VLAN != w.vlan {
		t.Errorf("VLAN %d, want %d", seg.VLAN, w.vlan)
	}
	if got := hexMAC(seg.SrcMAC); got != w.srcMAC {
		t.Errorf("SrcMAC %s, want %q", got, w.srcMAC)
	}
	if got := hexMAC(seg.DstMAC); got != w.dstMAC {
		t.Errorf("DstMAC %s, want %q", got, w.dstMAC)
	}
}

func hexMAC(m [6]byte) string {
	if m == [6]byte{} {
		return ""
	}
	return hex.EncodeToString(m[:])
}

// TestResultString: every Result has a name.
func TestResultString(t *testing.T) {
	seen := map[string]bool{}
	for r := range NumResults {
		s := r.String()
		if s == "" || seen[s] || strings.HasPrefix(s, "result-") {
			t.Errorf("Result %d: name %q", r, s)
		}
		seen[s] = true
	}
	if got := Result(200).String(); got != "result-200" {
		t.Errorf("Result(200) = %q", got)
	}
}

func TestLinkTypeNames(t *testing.T) {
	for lt, want := range map[LinkType]string{
		1:    "LINKTYPE_ETHERNET (1)",
		129:  "LINKTYPE_ARCNET_LINUX (129)",
		276:  "LINKTYPE_LINUX_SLL2 (276)",
		12:   "DLT_RAW (12)",
		4242: "link type 4242",
	} {
		if got := lt.String(); got != want {
			t.Errorf("LinkType(%d) = %q, want %q", uint32(lt), got, want)
		}
	}
	for _, lt := range []LinkType{0, 1, 6, 9, 12, 14, 50, 101, 104, 108, 113, 228, 229, 276} {
		if !lt.Supported() {
			t.Errorf("%v not supported", lt)
		}
	}
	for _, lt := range []LinkType{10, 105, 127, 129, 239, 242} {
		if lt.Supported() {
			t.Errorf("%v supported", lt)
		}
	}
}

// TestDecodeAllocs: the per-packet path allocates nothing.
func TestDecodeAllocs(t *testing.T) {
	d := NewDecoder()
	var seg reassembly.Segment
	for _, name := range []string{"ethernet ipv4", "802.1Q raw TCI", "sll2", "ipv6 hbh, dstopts, ah", "null inet6 24", "tcp data offset 4"} {
		for _, c := range decodeCases {
			if c.name != name {
				continue
			}
			frame := unhex(c.frame)
			info := Info{CapLen: len(frame), WireLen: len(frame), LinkType: c.lt}
			if a := testing.AllocsPerRun(1000, func() { d.Decode(frame, info, &seg) }); a != 0 {
				t.Errorf("%s: %v allocations", name, a)
			}
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"ethernet ipv4", "802.1Q raw TCI", "sll2", "ipv6 hbh, dstopts, ah"} {
		for _, c := range decodeCases {
			if c.name != name {
				continue
			}
			frame := unhex(c.frame)
			info := Info{CapLen: len(frame), WireLen: len(frame), LinkType: c.lt}
			b.Run(name, func(b *testing.B) {
				d := NewDecoder()
				var seg reassembly.Segment
				b.ReportAllocs()
				for b.Loop() {
					d.Decode(frame, info, &seg)
				}
			})
		}
	}
}

// TestDecodePrefixes: every frame cut anywhere decodes without panicking,
// to a segment within what is left or to a reason.
func TestDecodePrefixes(t *testing.T) {
	d := NewDecoder()
	var seg reassembly.Segment
	for _, c := range decodeCases {
		frame := unhex(c.frame)
		for n := range len(frame) {
			cut := frame[:n]
			res := d.Decode(cut, Info{CapLen: n, WireLen: len(frame), LinkType: c.lt}, &seg)
			if res == OK && !within(seg.Payload, cut) {
				t.Errorf("%s cut at %d: payload outside the frame", c.name, n)
			}
			if res == OK && len(seg.Payload) > 5 {
				t.Errorf("%s cut at %d: %d bytes of payload", c.name, n, len(seg.Payload))
			}
		}
	}
}
