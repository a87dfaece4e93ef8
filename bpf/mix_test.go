package bpf

import (
	"encoding/binary"
	"math/rand/v2"
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The generated mix: packets the test captures lack, built with gopacket
// layers from a fixed seed, for every supported link type. IPv4 with
// options and fragments, IPv6 with extension headers, ARP and RARP, VLAN
// and QinQ, ICMP, UDP, SCTP, 802.2 LLC and SNAP, broadcast and multicast,
// and truncated copies.

type testPacket struct {
	name    string
	data    []byte
	wireLen int
}

// l3 is a network-layer packet before its link-layer header.
type l3 struct {
	etherType uint16 // 0: 802.3 frame, payload starts with an LLC header
	payload   []byte
	dstMAC    net.HardwareAddr
	srcMAC    net.HardwareAddr
	name      string
}

var (
	macA     = net.HardwareAddr{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	macB     = net.HardwareAddr{0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb}
	macBcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	macMc4   = net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	macMc6   = net.HardwareAddr{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}
	macSTP   = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x00}

	v4Pool = []string{"10.0.0.1", "10.0.0.2", "192.168.1.1", "192.168.1.100", "172.16.5.4", "1.2.3.4",
		"8.8.8.8", "192.168.101.102", "10.11.12.13", "172.31.0.9"}
	v4Dsts = append(append([]string{}, v4Pool...), "255.255.255.255", "0.0.0.0", "224.0.0.1", "239.1.2.3",
		"240.0.0.1", "10.255.255.255", "192.168.1.255")
	v6Pool = []string{"2001:db8::1", "2001:db8::2", "fe80::1", "::1", "2001:db8:0:1::5", "fe80::211:22ff:fe33:4455"}
	v6Dsts = append(append([]string{}, v6Pool...), "ff02::1", "ff02::1:ff00:1", "ff05::2")
	ports  = []uint16{80, 443, 8443, 22, 23, 53, 123, 161, 20, 21, 25, 67, 68, 1024, 2345, 45103, 8000, 8080, 8081, 65535, 0, 9, 179, 993}
)

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// mixL3 builds the network-layer packets.
func mixL3(r *rand.Rand) []l3 {
	var out []l3
	payload := func() gopacket.Payload {
		n := pick(r, []int{0, 0, 1, 4, 20, 100, 600})
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.UintN(256))
		}
		if n >= 4 && r.IntN(4) == 0 {
			copy(p, "GET ")
		}
		return p
	}
	ip4 := func(proto layers.IPProtocol, dst string) *layers.IPv4 {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: uint8(pick(r, []int{1, 2, 64, 128, 255})), Protocol: proto,
			SrcIP: net.ParseIP(pick(r, v4Pool)).To4(), DstIP: net.ParseIP(dst).To4(), Id: uint16(r.UintN(65536))}
		if r.IntN(6) == 0 {
			ip.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}} // record route
		}
		if r.IntN(8) == 0 {
			ip.Flags = layers.IPv4DontFragment
		}
		return ip
	}
	ip6 := func(nh layers.IPProtocol, dst string) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: uint8(pick(r, []int{1, 64, 255})), NextHeader: nh,
			SrcIP: net.ParseIP(pick(r, v6Pool)), DstIP: net.ParseIP(dst), TrafficClass: uint8(r.UintN(4))}
	}
	tcp := func() *layers.TCP {
		t := &layers.TCP{SrcPort: layers.TCPPort(pick(r, ports)), DstPort: layers.TCPPort(pick(r, ports)),
			Seq: r.Uint32(), Ack: r.Uint32(), Window: 1024, DataOffset: 5}
		f := pick(r, []uint8{0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x29, 0xc2, 0x00, 0x3f})
		t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG, t.ECE, t.CWR = f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0, f&16 != 0, f&32 != 0, f&64 != 0, f&128 != 0
		if r.IntN(3) == 0 {
			t.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}
		}
		return t
	}
	udp := func() *layers.UDP {
		return &layers.UDP{SrcPort: layers.UDPPort(pick(r, ports)), DstPort: layers.UDPPort(pick(r, ports))}
	}
	sctp := func() *layers.SCTP {
		return &layers.SCTP{SrcPort: layers.SCTPPort(pick(r, ports)), DstPort: layers.SCTPPort(pick(r, ports)), VerificationTag: r.Uint32()}
	}
	add := func(et uint16, name string, ls ...gopacket.SerializableLayer) {
		out = append(out, l3{etherType: et, payload: serialize(ls...), name: name})
	}
	for i := 0; i < 160; i++ {
		dst := pick(r, v4Dsts)
		add(0x0800, "ipv4-tcp", ip4(layers.IPProtocolTCP, dst), tcp(), payload())
		add(0x0800, "ipv4-udp", ip4(layers.IPProtocolUDP, pick(r, v4Dsts)), udp(), payload())
	}
	for i := 0; i < 30; i++ {
		add(0x0800, "ipv4-sctp", ip4(layers.IPProtocolSCTP, pick(r, v4Dsts)), sctp(), payload())
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(pick(r, []uint8{0, 8, 3, 11, 5, 13}), pick(r, []uint8{0, 1, 3})), Id: 7, Seq: uint16(i)}
		add(0x0800, "ipv4-icmp", ip4(layers.IPProtocolICMPv4, pick(r, v4Dsts)), icmp, payload())
		add(0x0800, "ipv4-igmp", ip4(layers.IPProtocolIGMP, "224.0.0.1"), gopacket.Payload{0x11, 0x64, 0, 0, 0, 0, 0, 0})
		add(0x0800, "ipv4-other", ip4(layers.IPProtocol(pick(r, []uint8{47, 50, 51, 103, 112, 9, 41})), pick(r, v4Dsts)), payload())
		// Fragments: first (MF, offset 0) and later ones, of TCP and UDP.
		for _, proto := range []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP} {
			first := ip4(proto, pick(r, v4Dsts))
			first.Flags = layers.IPv4MoreFragments
			var l4 gopacket.SerializableLayer = tcp()
			if proto == layers.IPProtocolUDP {
				l4 = udp()
			}
			add(0x0800, "ipv4-frag-first", first, l4, payload())
			later := ip4(proto, pick(r, v4Dsts))
			later.FragOffset = uint16(1 + r.IntN(200))
			if r.IntN(2) == 0 {
				later.Flags = layers.IPv4MoreFragments
			}
			// The payload of a later fragment looks like a transport header.
			add(0x0800, "ipv4-frag-later", later, tcp(), payload())
		}
	}
	for i := 0; i < 60; i++ {
		add(0x86dd, "ipv6-tcp", ip6(layers.IPProtocolTCP, pick(r, v6Dsts)), tcp(), payload())
		add(0x86dd, "ipv6-udp", ip6(layers.IPProtocolUDP, pick(r, v6Dsts)), udp(), payload())
	}
	for i := 0; i < 20; i++ {
		add(0x86dd, "ipv6-sctp", ip6(layers.IPProtocolSCTP, pick(r, v6Dsts)), sctp(), payload())
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(pick(r, []uint8{128, 129, 135, 136, 133, 134, 1}), 0)}
		icmp.SetNetworkLayerForChecksum(ip6(layers.IPProtocolICMPv6, "ff02::1"))
		add(0x86dd, "ipv6-icmp6", ip6(layers.IPProtocolICMPv6, pick(r, v6Dsts)), icmp, gopacket.Payload{0, 0, 0, 0, 0xfe, 0x80, 0, 0})
		// Extension headers: hop-by-hop, then TCP or UDP.
		hbh := &layers.IPv6HopByHop{}
		hbh.NextHeader = pick(r, []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv6})
		hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
		var l4 gopacket.SerializableLayer = tcp()
		if hbh.NextHeader == layers.IPProtocolUDP {
			l4 = udp()
		} else if hbh.NextHeader == layers.IPProtocolICMPv6 {
			l4 = gopacket.Payload{128, 0, 0, 0}
		}
		add(0x86dd, "ipv6-hopbyhop", ip6(layers.IPProtocolIPv6HopByHop, pick(r, v6Dsts)), hbh, l4, payload())
		// Fragment header before TCP/UDP (first fragment and a later one).
		fh := &layers.IPv6Fragment{NextHeader: pick(r, []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv6}),
			Identification: r.Uint32()}
		if i%2 == 1 {
			fh.FragmentOffset = uint16(1 + r.IntN(100))
		} else {
			fh.MoreFragments = true
		}
		add(0x86dd, "ipv6-fragment", ip6(layers.IPProtocolIPv6Fragment, pick(r, v6Dsts)), fh, tcp(), payload())
	}
	for i := 0; i < 25; i++ {
		op := pick(r, []uint16{1, 2, 3, 4})
		arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: op, SourceHwAddress: macA, SourceProtAddress: net.ParseIP(pick(r, v4Pool)).To4(),
			DstHwAddress: macB, DstProtAddress: net.ParseIP(pick(r, v4Pool)).To4()}
		et := uint16(0x0806)
		name := "arp"
		if op >= 3 {
			et, name = 0x8035, "rarp"
		}
		p := l3{etherType: et, payload: serialize(arp), name: name}
		if op == 1 {
			p.dstMAC = macBcast
		}
		out = append(out, p)
	}
	// Odd things: empty and short network packets, LLDP, IPX, AppleTalk, loopback.
	for i := 0; i < 12; i++ {
		n := r.IntN(24)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.UintN(256))
		}
		if n > 0 {
			b[0] = pick(r, []byte{0x45, 0x46, 0x60, 0x4f, 0x00})
		}
		out = append(out, l3{etherType: pick(r, []uint16{0x0800, 0x86dd, 0x0806, 0x88cc, 0x8137, 0x809b, 0x9000, 0x6003, 0x1234}), payload: b, name: "short"})
	}
	// 802.3 frames with an LLC header: STP, IPX, NetBEUI, IP over 802.2, ISO, SNAP.
	llc := func(dsap, ssap, ctrl uint8, body []byte) []byte {
		return append(serialize(&layers.LLC{DSAP: dsap, SSAP: ssap, Control: uint16(ctrl)}), body...)
	}
	out = append(out,
		l3{payload: llc(0x42, 0x42, 3, make([]byte, 35)), dstMAC: macSTP, name: "stp"},
		l3{payload: llc(0xe0, 0xe0, 3, make([]byte, 30)), name: "ipx-8022"},
		l3{payload: append([]byte{0xff, 0xff}, make([]byte, 28)...), name: "ipx-raw8023"},
		l3{payload: llc(0xf0, 0xf0, 3, make([]byte, 20)), name: "netbeui"},
		l3{payload: llc(0x06, 0x06, 3, make([]byte, 20)), name: "ip-8022"},
		l3{payload: llc(0xfe, 0xfe, 3, make([]byte, 20)), name: "iso"},
		l3{payload: append(llc(0xaa, 0xaa, 3, nil), 0x08, 0x00, 0x07, 0x80, 0x9b, 1, 2, 3, 4), name: "snap-atalk"},
		l3{payload: append(llc(0xaa, 0xaa, 3, nil), 0x00, 0x00, 0x00, 0x80, 0xf3, 1, 2, 3, 4), name: "snap-aarp"},
		l3{payload: append(llc(0xaa, 0xaa, 3, nil), 0x00, 0x00, 0x00, 0x81, 0x37, 1, 2, 3, 4), name: "snap-ipx"},
		l3{payload: append(llc(0xaa, 0xaa, 3, nil), 0x00, 0x00, 0x00, 0x08, 0x00, 0x45, 0, 0, 20), name: "snap-ip"},
	)
	return out
}

// mixPackets returns the generated packets for every supported link type.
func mixPackets() map[uint32][]testPacket {
	r := rand.New(rand.NewPCG(1, 2))
	base := mixL3(r)
	out := map[uint32][]testPacket{}
	add := func(lt uint32, name string, data []byte) {
		out[lt] = append(out[lt], testPacket{name: name, data: data, wireLen: len(data)})
		if r.IntN(6) == 0 && len(data) > 1 {
			cut := 1 + r.IntN(len(data)-1)
			out[lt] = append(out[lt], testPacket{name: name + "-truncated", data: data[:cut], wireLen: len(data)})
		}
	}
	for _, p := range base {
		isIP4 := p.etherType == 0x0800 && len(p.payload) > 0 && p.payload[0]>>4 == 4
		isIP6 := p.etherType == 0x86dd && len(p.payload) > 0 && p.payload[0]>>4 == 6
		// Ethernet, with MACs that match the destination.
		dst, src := p.dstMAC, p.srcMAC
		if src == nil {
			src = pick(r, []net.HardwareAddr{macA, macB})
		}
		if dst == nil {
			dst = pick(r, []net.HardwareAddr{macA, macB})
			if isIP4 && len(p.payload) >= 20 {
				switch d := p.payload[16]; {
				case d == 255:
					dst = macBcast
				case d >= 224:
					dst = macMc4
				}
			}
			if isIP6 && len(p.payload) >= 40 && p.payload[24] == 0xff {
				dst = macMc6
			}
		}
		var eth []byte
		if p.etherType == 0 {
			e := &layers.Ethernet{DstMAC: dst, SrcMAC: src, EthernetType: layers.EthernetTypeLLC, Length: uint16(len(p.payload))}
			eth = serialize(e, gopacket.Payload(p.payload))
		} else {
			eth = ethFrame(dst, src, p.etherType, p.payload)
		}
		add(LinkTypeEthernet, p.name, eth)
		// Some inside one or two VLAN tags (802.1Q, 802.1ad QinQ, old 0x9100).
		if p.etherType != 0 && r.IntN(4) == 0 {
			vid := pick(r, []uint16{10, 20, 100, 200, 0, 4095})
			tagged := ethFrame(dst, src, 0x8100, append(be16(vid|uint16(r.IntN(8))<<13), append(be16(p.etherType), p.payload...)...))
			add(LinkTypeEthernet, "vlan-"+p.name, tagged)
			if r.IntN(2) == 0 {
				inner := append(be16(pick(r, []uint16{100, 200, 20})), append(be16(p.etherType), p.payload...)...)
				outer := append(be16(vid), append(be16(0x8100), inner...)...)
				add(LinkTypeEthernet, "qinq-"+p.name, ethFrame(dst, src, pick(r, []uint16{0x88a8, 0x9100, 0x8100}), outer))
			}
		}
		// Linux cooked v1 and v2.
		proto := p.etherType
		if proto == 0 {
			proto = 0x0004 // 802.2
			if len(p.payload) >= 2 && p.payload[0] == 0xff && p.payload[1] == 0xff {
				proto = 0x0001 // Novell raw 802.3
			}
		}
		pkttype := pick(r, []uint16{0, 1, 2, 3, 4})
		sll := append(be16(pkttype), be16(1)...)
		sll = append(sll, be16(6)...)
		sll = append(sll, src...)
		sll = append(sll, 0, 0)
		sll = append(sll, be16(proto)...)
		add(LinkTypeLinuxSLL, p.name, append(sll, p.payload...))
		sll2 := append(be16(proto), 0, 0)
		sll2 = binary.BigEndian.AppendUint32(sll2, uint32(pick(r, []int{1, 2, 3})))
		sll2 = append(sll2, be16(1)...)
		sll2 = append(sll2, byte(pkttype), 6)
		sll2 = append(sll2, src...)
		sll2 = append(sll2, 0, 0)
		add(LinkTypeLinuxSLL2, p.name, append(sll2, p.payload...))
		// Raw IP and the loopbacks carry IP only.
		if !isIP4 && !isIP6 {
			continue
		}
		add(LinkTypeRaw, p.name, p.payload)
		if isIP4 {
			add(LinkTypeIPv4, p.name, p.payload)
		} else {
			add(LinkTypeIPv6, p.name, p.payload)
		}
		af := uint32(2)
		if isIP6 {
			af = pick(r, afInet6)
		}
		add(LinkTypeNull, p.name, append(binary.LittleEndian.AppendUint32(nil, af), p.payload...))
		add(LinkTypeLoop, p.name, append(binary.BigEndian.AppendUint32(nil, af), p.payload...))
	}
	// A few frames shorter than any header.
	for lt := range out {
		for n := 0; n < 4; n++ {
			out[lt] = append(out[lt], testPacket{name: "tiny", data: make([]byte, n*3), wireLen: n * 3})
		}
	}
	return out
}

func ethFrame(dst, src net.HardwareAddr, et uint16, payload []byte) []byte {
	b := append(append(append([]byte{}, dst...), src...), be16(et)...)
	return append(b, payload...)
}

func be16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }
