package bpf

import "strconv"

// IP protocol numbers, and protoUndef for "tcp, udp or sctp".
const (
	protoUndef   = -1
	ipprotoICMP  = 1
	ipprotoIGMP  = 2
	ipprotoIGRP  = 9
	ipprotoTCP   = 6
	ipprotoUDP   = 17
	ipprotoFrag  = 44
	ipprotoESP   = 50
	ipprotoAH    = 51
	ipprotoICMP6 = 58
	ipprotoPIM   = 103
	ipprotoVRRP  = 112
	ipprotoSCTP  = 132
)

func ipProtoName(p int) string {
	switch p {
	case ipprotoTCP:
		return "tcp"
	case ipprotoUDP:
		return "udp"
	case ipprotoSCTP:
		return "sctp"
	}
	return strconv.Itoa(p)
}

// Ethernet types and LLC SAPs that the code generator knows.
const (
	ethertypeIP       = 0x0800
	ethertypeARP      = 0x0806
	ethertypeRevARP   = 0x8035
	ethertypeIPv6     = 0x86dd
	ethertype8021Q    = 0x8100
	ethertype8021AD   = 0x88a8
	ethertype8021QinQ = 0x9100
	ethertypeATalk    = 0x809b
	ethertypeAARP     = 0x80f3
	ethertypeDN       = 0x6003
	ethertypeLAT      = 0x6004
	ethertypeSCA      = 0x6007
	ethertypeMOPDL    = 0x6001
	ethertypeMOPRC    = 0x6002
	ethertypeIPX      = 0x8137
	ethertypeLoopback = 0x9000

	llcsapIP      = 0x06
	llcsapISONS   = 0xfe
	llcsapNetBEUI = 0xf0
	llcsapIPX     = 0xe0
	llcsap8021D   = 0x42
	llcsapSNAP    = 0xaa

	ethermtu = 1500
)

// etherProtocols are the names "ether proto \name" takes (libpcap's
// eproto_db and llc_db).
var etherProtocols = map[string]int{
	"aarp": ethertypeAARP, "arp": ethertypeARP, "atalk": ethertypeATalk,
	"decnet": ethertypeDN, "ip": ethertypeIP, "ip6": ethertypeIPv6,
	"lat": ethertypeLAT, "loopback": ethertypeLoopback, "mopdl": ethertypeMOPDL,
	"moprc": ethertypeMOPRC, "rarp": ethertypeRevARP, "sca": ethertypeSCA,
	"iso": llcsapISONS, "stp": llcsap8021D, "ipx": llcsapIPX, "netbeui": llcsapNetBEUI,
}

// nameToPort is libpcap's pcap_nametoport over flowcap's service table: a
// name registered for TCP gives its TCP port and protocol TCP, or "any"
// (protoUndef) if UDP has the same port; a UDP-only name gives UDP. A
// decimal string is a port for every protocol.
func nameToPort(name string) (port, proto int, ok bool) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return int(n), protoUndef, true
	}
	s, found := services[name]
	if !found {
		return 0, 0, false
	}
	if s.tcp >= 0 {
		if s.udp == s.tcp {
			return s.tcp, protoUndef, true
		}
		return s.tcp, ipprotoTCP, true
	}
	return s.udp, ipprotoUDP, true
}

// nameToPortRange is libpcap's pcap_nametoportrange: "N-M" (as sscanf
// "%d-%d" reads it) or two names around the first '-'.
func nameToPortRange(name string) (lo, hi, proto int, ok bool) {
	if a, rest, ok1 := scanInt(name); ok1 && len(rest) > 0 && rest[0] == '-' {
		if b, _, ok2 := scanInt(rest[1:]); ok2 {
			return a, b, protoUndef, true
		}
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '-' {
			continue
		}
		p1, proto1, ok1 := nameToPort(name[:i])
		if !ok1 {
			return 0, 0, 0, false
		}
		p2, proto2, ok2 := nameToPort(name[i+1:])
		if !ok2 {
			return 0, 0, 0, false
		}
		if proto1 != proto2 {
			proto1 = protoUndef
		}
		return p1, p2, proto1, true
	}
	return 0, 0, 0, false
}

// scanInt reads an optionally signed decimal integer as scanf's %d does.
func scanInt(s string) (int, string, bool) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	v := 0
	for i < len(s) && isDigit(s[i]) && i-start < 10 {
		v = v*10 + int(s[i]-'0')
		i++
	}
	if i == start {
		return 0, s, false
	}
	for i < len(s) && isDigit(s[i]) { // absurdly long: saturate
		i++
		v = 1 << 31
	}
	if neg {
		v = -v
	}
	return v, s[i:], true
}
