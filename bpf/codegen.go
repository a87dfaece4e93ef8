package bpf

import "fmt"

// Code generation follows libpcap's gencode.c function by function, over
// a small condition tree instead of libpcap's backpatched blocks: a test
// is a few statements that leave a value in A and one conditional jump;
// tests combine with and/or/not and are laid out by the assembler.

// cond is a condition: *test, *andCond, *orCond, *notCond, constCond or
// *effect (live.go).
type cond interface{}

type (
	// test runs stmts (no jumps) then jumps on op (opJEQ... with srcK or
	// srcX) against k or X.
	test struct {
		stmts []insn
		op    uint16
		k     uint32
	}
	andCond   struct{ a, b cond }
	orCond    struct{ a, b cond }
	notCond   struct{ x cond }
	constCond bool
)

// and combines in evaluation order; nil stands for "no condition".
func and(a, b cond) cond {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return &andCond{a, b}
}

func or(a, b cond) cond { return &orCond{a, b} }

func not(x cond) cond {
	if n, ok := x.(*notCond); ok {
		return n.x
	}
	return &notCond{x}
}

// offrel says what an offset is relative to (libpcap's e_offrel).
type offrel uint8

const (
	orPacket       offrel = iota // the packet
	orLinkHdr                    // the link-layer header
	orLinkType                   // the link-layer type field
	orLLC                        // the link-layer payload (802.2 LLC header)
	orLinkPL                     // the network-layer header
	orLinkPLNoSnap               // the network layer of 802.2 without SNAP
	orTranIPv4                   // the IPv4 payload (header length from the packet)
	orTranIPv6                   // the IPv6 payload (fixed 40-byte header)
)

// layout holds the offsets of one link type, as values: "vlan" moves
// them for what follows; after a live "vlan" the offsets from the type
// field on also have a part known only at run time (codegen.varOff).
type layout struct {
	linkType uint32
	linkHdr  uint32 // start of the link-layer header
	typeOff  uint32 // the type field (RAW, IPV4 and IPV6 have none)
	linkPL   uint32 // start of the link-layer payload
	nl       uint32 // network layer, from linkPL
	nlNoSnap uint32 // network layer of 802.2 without SNAP, from linkPL
}

// codegen holds the state of one compilation.
type codegen struct {
	expr string
	l    layout
	regs uint32 // scratch words in use (by arithmetic, and vlanReg)
	live bool   // Options.Live: code for a live Linux socket (live.go)
	// varOff: the offsets of the type field and everything after it add
	// the run-time part in scratch word vlanReg (set by the first live
	// "vlan"; it is always on Ethernet, so linkHdr never moves).
	varOff   bool
	vlanSeen bool // a "vlan" was compiled: later ones test inner tags
}

func (g *codegen) errorf(at int, format string, args ...any) error {
	return &SyntaxError{Expr: g.expr, Offset: at, Msg: fmt.Sprintf(format, args...)}
}

// genLoad is gen_load_a: load size bytes at off relative to r into A.
func (g *codegen) genLoad(r offrel, off uint32, size uint16) []insn {
	l := &g.l
	var base uint32
	switch r {
	case orPacket:
		return []insn{ldAbs(size, off)}
	case orLinkHdr:
		return []insn{ldAbs(size, l.linkHdr+off)}
	case orLinkType:
		base = l.typeOff
	case orLLC:
		base = l.linkPL
	case orLinkPL:
		base = l.linkPL + l.nl
	case orLinkPLNoSnap:
		base = l.linkPL + l.nlNoSnap
	case orTranIPv4:
		return append(g.loadxIPHdrLen(), ldInd(size, l.linkPL+l.nl+off))
	case orTranIPv6:
		base = l.linkPL + l.nl + 40
	default:
		panic("bpf: bad offrel")
	}
	if g.varOff {
		return []insn{ldxMem(vlanReg), ldInd(size, base+off)}
	}
	return []insn{ldAbs(size, base+off)}
}

// loadxIPHdrLen is gen_loadx_iphdrlen: X = the IPv4 header's length,
// plus the run-time part of the offsets after a live "vlan".
func (g *codegen) loadxIPHdrLen() []insn {
	hdr := g.l.linkPL + g.l.nl
	if !g.varOff {
		return []insn{ldxMSH(hdr)}
	}
	return []insn{ldxMem(vlanReg), ldInd(szB, hdr), aluK(opAND, 0xf), aluK(opLSH, 2), aluX(opADD), tax()}
}

// ncmp is gen_ncmp: (field & mask) jtype v, the test reversed for
// "less than" forms.
func (g *codegen) ncmp(r offrel, off uint32, size uint16, mask uint32, jtype uint16, reverse bool, v uint32) cond {
	s := g.genLoad(r, off, size)
	if mask != 0xffffffff {
		s = append(s, aluK(opAND, mask))
	}
	var c cond = &test{stmts: s, op: jtype, k: v}
	if reverse && (jtype == opJGT || jtype == opJGE) {
		c = not(c)
	}
	return c
}

func (g *codegen) cmp(r offrel, off uint32, size uint16, v uint32) cond {
	return g.ncmp(r, off, size, 0xffffffff, opJEQ, false, v)
}
func (g *codegen) cmpGT(r offrel, off uint32, size uint16, v uint32) cond {
	return g.ncmp(r, off, size, 0xffffffff, opJGT, false, v)
}
func (g *codegen) cmpGE(r offrel, off uint32, size uint16, v uint32) cond {
	return g.ncmp(r, off, size, 0xffffffff, opJGE, false, v)
}
func (g *codegen) cmpLT(r offrel, off uint32, size uint16, v uint32) cond {
	return g.ncmp(r, off, size, 0xffffffff, opJGE, true, v)
}
func (g *codegen) cmpLE(r offrel, off uint32, size uint16, v uint32) cond {
	return g.ncmp(r, off, size, 0xffffffff, opJGT, true, v)
}
func (g *codegen) mcmp(r offrel, off uint32, size uint16, v, mask uint32) cond {
	return g.ncmp(r, off, size, mask, opJEQ, false, v)
}

// bcmp is gen_bcmp: compare len(v) bytes, last word first.
func (g *codegen) bcmp(r offrel, off uint32, v []byte) cond {
	var c cond
	size := uint32(len(v))
	for size >= 4 {
		p := v[size-4:]
		c = and(c, g.cmp(r, off+size-4, szW, uint32(p[0])<<24|uint32(p[1])<<16|uint32(p[2])<<8|uint32(p[3])))
		size -= 4
	}
	for size >= 2 {
		p := v[size-2:]
		c = and(c, g.cmp(r, off+size-2, szH, uint32(p[0])<<8|uint32(p[1])))
		size -= 2
	}
	if size > 0 {
		c = and(c, g.cmp(r, off, szB, uint32(v[0])))
	}
	return c
}

// jset is a "field & k != 0" test.
func (g *codegen) jset(r offrel, off uint32, size uint16, k uint32) cond {
	return &test{stmts: g.genLoad(r, off, size), op: opJSET, k: k}
}

// genNode compiles a syntax tree node. Children are compiled left to
// right, which is the order libpcap generates them in, so a "vlan" moves
// the offsets of exactly what libpcap moves.
func (g *codegen) genNode(n node) (cond, error) {
	switch n := n.(type) {
	case *andNode:
		a, err := g.genNode(n.l)
		if err != nil {
			return nil, err
		}
		b, err := g.genNode(n.r)
		if err != nil {
			return nil, err
		}
		return and(a, b), nil
	case *orNode:
		a, err := g.genNode(n.l)
		if err != nil {
			return nil, err
		}
		b, err := g.genNode(n.r)
		if err != nil {
			return nil, err
		}
		return or(a, b), nil
	case *notNode:
		x, err := g.genNode(n.x)
		if err != nil {
			return nil, err
		}
		return not(x), nil
	case *protoNode:
		return g.protoAbbrev(n.at, n.proto)
	case *hostNode:
		return g.host(n.addr, n.mask, n.proto, n.dir), nil
	case *host6Node:
		return g.hostop6(n.addr, n.mask, n.dir), nil
	case *etherHostNode:
		if g.l.linkType != LinkTypeEthernet {
			return nil, g.errorf(n.at, "ethernet addresses are supported only on Ethernet (EN10MB), not %s", linkTypeName(g.l.linkType))
		}
		return g.ehostop(n.mac[:], n.dir), nil
	case *portNode:
		return g.port(n), nil
	case *protoNumNode:
		return g.proto(n.v, n.proto), nil
	case *castNode:
		return g.cast(n)
	case *lenNode:
		if n.less {
			return not(&test{stmts: []insn{ldLen()}, op: opJGT, k: n.n}), nil
		}
		return &test{stmts: []insn{ldLen()}, op: opJGE, k: n.n}, nil
	case *relNode:
		return g.relation(n)
	case *byteNode:
		return g.byteop(n)
	case *vlanNode:
		return g.vlan(n)
	case *dirNode:
		return g.inbound(n)
	case *ifindexNode:
		switch {
		case g.l.linkType == LinkTypeLinuxSLL2:
			return g.cmp(orLinkHdr, 4, szW, n.idx), nil
		case g.live:
			return g.cmp(orPacket, skfOff+skfIfindex, szW, n.idx), nil
		}
		return nil, g.errorf(n.at, "ifindex is not supported on %s when reading capture files", linkTypeName(g.l.linkType))
	}
	panic(fmt.Sprintf("bpf: unknown node %T", n))
}

// linktype is gen_linktype: does the link layer carry ll (an Ethernet
// type, or an LLC SAP if <= 1500)?
func (g *codegen) linktype(ll uint32) cond {
	switch g.l.linkType {
	case LinkTypeEthernet:
		return g.etherLinktype(ll)
	case LinkTypeLinuxSLL:
		return g.sllLinktype(ll)
	case LinkTypeRaw, linkTypeRawDLT:
		switch ll {
		case ethertypeIP:
			return g.mcmp(orLinkHdr, 0, szB, 0x40, 0xf0)
		case ethertypeIPv6:
			return g.mcmp(orLinkHdr, 0, szB, 0x60, 0xf0)
		}
		return constCond(false)
	case LinkTypeIPv4:
		return constCond(ll == ethertypeIP)
	case LinkTypeIPv6:
		return constCond(ll == ethertypeIPv6)
	case LinkTypeNull, LinkTypeLoop:
		return g.loopbackLinktype(ll)
	}
	// LINUX_SLL2: a plain Ethernet type field.
	return g.cmp(orLinkType, 0, szH, ll)
}

// Address families in BSD loopback headers: AF_INET is 2 everywhere;
// AF_INET6 is 24 (NetBSD, OpenBSD, BSD/OS, Npcap), 28 (FreeBSD) or
// 30 (Darwin).
var afInet6 = []uint32{24, 28, 30}

// loopbackLinktype tests the 4-byte address family of NULL and LOOP.
// LOOP stores it in network byte order. NULL stores it in the byte order
// of the machine that wrote the file; libpcap compiles for the order of the
// file it reads, and as the values are all below 256 flowcap can accept
// either order without ambiguity, so one program serves every file.
func (g *codegen) loopbackLinktype(ll uint32) cond {
	var fams []uint32
	switch ll {
	case ethertypeIP:
		fams = []uint32{2}
	case ethertypeIPv6:
		fams = afInet6
	default:
		return constCond(false)
	}
	var c cond
	add := func(v uint32) {
		t := g.cmp(orLinkHdr, 0, szW, v)
		if c == nil {
			c = t
		} else {
			c = or(c, t)
		}
	}
	for _, af := range fams {
		if g.l.linkType == LinkTypeNull {
			add(swap32(af))
		}
		add(af)
	}
	return c
}

func swap32(v uint32) uint32 { return v>>24 | v>>8&0xff00 | v<<8&0xff0000 | v<<24 }

// snap is gen_snap: an 802.2 SNAP header with the given OUI and type.
func (g *codegen) snap(orgcode, ptype uint32) cond {
	return g.bcmp(orLLC, 0, []byte{llcsapSNAP, llcsapSNAP, 0x03,
		byte(orgcode >> 16), byte(orgcode >> 8), byte(orgcode), byte(ptype >> 8), byte(ptype)})
}

// etherLinktype is gen_ether_linktype.
func (g *codegen) etherLinktype(ll uint32) cond {
	is8023 := func() cond { return not(g.cmpGT(orLinkType, 0, szH, ethermtu)) }
	switch ll {
	case llcsapISONS, llcsapIP, llcsapNetBEUI:
		return and(is8023(), g.cmp(orLLC, 0, szH, ll<<8|ll))
	case llcsapIPX:
		b := or(g.cmp(orLLC, 0, szB, llcsapIPX), g.cmp(orLLC, 0, szH, 0xffff))
		b = or(g.snap(0, ethertypeIPX), b)
		b = and(is8023(), b)
		return or(g.cmp(orLinkType, 0, szH, ethertypeIPX), b)
	case ethertypeATalk, ethertypeAARP:
		var s cond
		if ll == ethertypeATalk {
			s = g.snap(0x080007, ethertypeATalk)
		} else {
			s = g.snap(0, ethertypeAARP)
		}
		return or(g.cmp(orLinkType, 0, szH, ll), and(is8023(), s))
	}
	if ll <= ethermtu {
		return and(is8023(), g.cmp(orLinkType, 2, szB, ll))
	}
	return g.cmp(orLinkType, 0, szH, ll)
}

// Protocol values of the Linux cooked header for 802.3 and 802.2 frames.
const (
	sllP8023 = 0x0001
	sllP8022 = 0x0004
)

// sllLinktype is gen_linux_sll_linktype.
func (g *codegen) sllLinktype(ll uint32) cond {
	switch ll {
	case llcsapISONS, llcsapIP, llcsapNetBEUI:
		return and(g.cmp(orLinkType, 0, szH, sllP8022), g.cmp(orLLC, 0, szH, ll<<8|ll))
	case llcsapIPX:
		b := or(g.cmp(orLLC, 0, szB, llcsapIPX), g.snap(0, ethertypeIPX))
		b = and(g.cmp(orLinkType, 0, szH, sllP8022), b)
		b = or(g.cmp(orLinkType, 0, szH, sllP8023), b)
		return or(g.cmp(orLinkType, 0, szH, ethertypeIPX), b)
	case ethertypeATalk, ethertypeAARP:
		var s cond
		if ll == ethertypeATalk {
			s = g.snap(0x080007, ethertypeATalk)
		} else {
			s = g.snap(0, ethertypeAARP)
		}
		return or(g.cmp(orLinkType, 0, szH, ll), and(g.cmp(orLinkType, 0, szH, sllP8022), s))
	}
	if ll <= ethermtu {
		return and(g.cmp(orLinkType, 0, szH, sllP8022), g.cmp(orLinkHdr, g.l.linkPL, szB, ll))
	}
	return g.cmp(orLinkType, 0, szH, ll)
}

// hostop is gen_hostop.
func (g *codegen) hostop(addr uint32, mask uint32, dir dirQual, ll, srcOff, dstOff uint32) cond {
	switch dir {
	case dirSrc, dirDst:
		off := srcOff
		if dir == dirDst {
			off = dstOff
		}
		return and(g.linktype(ll), g.mcmp(orLinkPL, off, szW, addr, mask))
	case dirAnd:
		return and(g.hostop(addr, mask, dirSrc, ll, srcOff, dstOff), g.hostop(addr, mask, dirDst, ll, srcOff, dstOff))
	}
	return or(g.hostop(addr, mask, dirSrc, ll, srcOff, dstOff), g.hostop(addr, mask, dirDst, ll, srcOff, dstOff))
}

// host is gen_host: with no protocol qualifier an IPv4 address also
// matches the sender and target addresses of ARP and RARP.
func (g *codegen) host(addr uint32, mask uint32, proto keyword, dir dirQual) cond {
	switch proto {
	case kwIP:
		return g.hostop(addr, mask, dir, ethertypeIP, 12, 16)
	case kwARP:
		return g.hostop(addr, mask, dir, ethertypeARP, 14, 24)
	case kwRARP:
		return g.hostop(addr, mask, dir, ethertypeRevARP, 14, 24)
	}
	b := or(g.host(addr, mask, kwIP, dir), g.host(addr, mask, kwARP, dir))
	return or(b, g.host(addr, mask, kwRARP, dir))
}

// hostop6 is gen_hostop6 for IPv6 (source at 8, destination at 24).
func (g *codegen) hostop6(addr, mask [16]byte, dir dirQual) cond {
	switch dir {
	case dirSrc, dirDst:
		off := uint32(8)
		if dir == dirDst {
			off = 24
		}
		var c cond
		for w := uint32(0); w < 4; w++ {
			a, m := be32(addr[4*w:]), be32(mask[4*w:])
			c = and(c, g.mcmp(orLinkPL, off+4*w, szW, a, m))
		}
		return and(g.linktype(ethertypeIPv6), c)
	case dirAnd:
		return and(g.hostop6(addr, mask, dirSrc), g.hostop6(addr, mask, dirDst))
	}
	return or(g.hostop6(addr, mask, dirSrc), g.hostop6(addr, mask, dirDst))
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// ehostop is gen_ehostop: Ethernet source at 6, destination at 0.
func (g *codegen) ehostop(mac []byte, dir dirQual) cond {
	switch dir {
	case dirSrc:
		return g.bcmp(orLinkHdr, 6, mac)
	case dirDst:
		return g.bcmp(orLinkHdr, 0, mac)
	case dirAnd:
		return and(g.ehostop(mac, dirSrc), g.ehostop(mac, dirDst))
	}
	return or(g.ehostop(mac, dirSrc), g.ehostop(mac, dirDst))
}

// ipfrag is gen_ipfrag: not an IPv4 fragment other than the first.
func (g *codegen) ipfrag() cond {
	return not(g.jset(orLinkPL, 6, szH, 0x1fff))
}

// portAtoms tests the source and/or destination port field: equal to
// lo, or in the range lo..hi.
func (g *codegen) portAtoms(r offrel, dir dirQual, lo, hi uint32, rng bool) cond {
	atom := func(off uint32) cond {
		if !rng {
			return g.cmp(r, off, szH, lo)
		}
		return and(g.cmpGE(r, off, szH, lo), g.cmpLE(r, off, szH, hi))
	}
	switch dir {
	case dirSrc:
		return atom(0)
	case dirDst:
		return atom(2)
	case dirAnd:
		return and(atom(0), atom(2))
	}
	return or(atom(0), atom(2))
}

// port is gen_port/gen_portrange or'ed after their IPv6 twins. IPv4
// ports are only looked at in a first (or only) fragment; IPv6 ports only
// right after the fixed header, as libpcap does.
func (g *codegen) port(n *portNode) cond {
	lo, hi := n.lo, n.hi
	if lo > hi {
		lo, hi = hi, lo
	}
	op4 := func(p uint32) cond {
		return and(and(g.cmp(orLinkPL, 9, szB, p), g.ipfrag()), g.portAtoms(orTranIPv4, n.dir, lo, hi, n.rng))
	}
	op6 := func(p uint32) cond {
		return and(g.cmp(orLinkPL, 6, szB, p), g.portAtoms(orTranIPv6, n.dir, lo, hi, n.rng))
	}
	var v4, v6 cond
	if n.ipProto == protoUndef {
		// libpcap's order: sctp, then tcp, then udp.
		v4 = or(op4(ipprotoSCTP), or(op4(ipprotoTCP), op4(ipprotoUDP)))
		v6 = or(op6(ipprotoSCTP), or(op6(ipprotoTCP), op6(ipprotoUDP)))
	} else {
		v4, v6 = op4(uint32(n.ipProto)), op6(uint32(n.ipProto))
	}
	return or(and(g.linktype(ethertypeIPv6), v6), and(g.linktype(ethertypeIP), v4))
}

// proto is gen_proto: "[ip|ip6|ether] proto v".
func (g *codegen) proto(v uint32, proto keyword) cond {
	switch proto {
	case kwIP:
		return and(g.linktype(ethertypeIP), g.cmp(orLinkPL, 9, szB, v))
	case kwIP6:
		// Also accept v behind one fragment header.
		frag := and(g.cmp(orLinkPL, 6, szB, ipprotoFrag), g.cmp(orLinkPL, 40, szB, v))
		return and(g.linktype(ethertypeIPv6), or(g.cmp(orLinkPL, 6, szB, v), frag))
	case kwLink:
		return g.linktype(v)
	}
	return or(g.proto(v, kwIP), g.proto(v, kwIP6))
}

// protoAbbrev is gen_proto_abbrev: a protocol name alone.
func (g *codegen) protoAbbrev(at int, p keyword) (cond, error) {
	switch p {
	case kwSCTP:
		return g.proto(ipprotoSCTP, kwNone), nil
	case kwTCP:
		return g.proto(ipprotoTCP, kwNone), nil
	case kwUDP:
		return g.proto(ipprotoUDP, kwNone), nil
	case kwICMP:
		return g.proto(ipprotoICMP, kwIP), nil
	case kwIGMP:
		return g.proto(ipprotoIGMP, kwIP), nil
	case kwIGRP:
		return g.proto(ipprotoIGRP, kwIP), nil
	case kwPIM:
		return g.proto(ipprotoPIM, kwNone), nil
	case kwVRRP, kwCARP:
		return g.proto(ipprotoVRRP, kwIP), nil
	case kwIP:
		return g.linktype(ethertypeIP), nil
	case kwARP:
		return g.linktype(ethertypeARP), nil
	case kwRARP:
		return g.linktype(ethertypeRevARP), nil
	case kwATalk:
		return g.linktype(ethertypeATalk), nil
	case kwAARP:
		return g.linktype(ethertypeAARP), nil
	case kwSCA:
		return g.linktype(ethertypeSCA), nil
	case kwLAT:
		return g.linktype(ethertypeLAT), nil
	case kwMOPDL:
		return g.linktype(ethertypeMOPDL), nil
	case kwMOPRC:
		return g.linktype(ethertypeMOPRC), nil
	case kwIP6:
		return g.linktype(ethertypeIPv6), nil
	case kwICMP6:
		return g.proto(ipprotoICMP6, kwIP6), nil
	case kwAH:
		return g.proto(ipprotoAH, kwNone), nil
	case kwESP:
		return g.proto(ipprotoESP, kwNone), nil
	case kwSTP:
		return g.linktype(llcsap8021D), nil
	case kwIPX:
		return g.linktype(llcsapIPX), nil
	case kwNetBEUI:
		return g.linktype(llcsapNetBEUI), nil
	case kwLink:
		return nil, g.errorf(at, "link layer applied in wrong context")
	}
	return nil, g.errorf(at, "'%s' is not supported by flowcap's filter compiler", keywordName(p))
}

// cast compiles broadcast and multicast.
func (g *codegen) cast(n *castNode) (cond, error) {
	switch n.proto {
	case kwNone, kwLink:
		if g.l.linkType != LinkTypeEthernet {
			if n.multicast {
				return nil, g.errorf(n.at, "link-layer multicast filters are supported only on Ethernet (EN10MB), not %s", linkTypeName(g.l.linkType))
			}
			return nil, g.errorf(n.at, "not a broadcast link: %s", linkTypeName(g.l.linkType))
		}
		if n.multicast {
			return g.jset(orLinkHdr, 0, szB, 1), nil
		}
		return g.ehostop([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, dirDst), nil
	case kwIP:
		if n.multicast {
			// 224.0.0.0/4. libpcap 1.10 tests ip[16] >= 224, which also
			// takes 240.0.0.0/4 and 255.255.255.255; libpcap 1.11 fixed it
			// ("Fix IPv4 multicast upper bound"). flowcap follows the fix.
			return and(g.linktype(ethertypeIP), g.mcmp(orLinkPL, 16, szB, 0xe0, 0xf0)), nil
		}
		// The netmask of a capture file is unknown: libpcap (tcpdump -r)
		// uses 0, so the broadcast addresses are 0.0.0.0 and 255.255.255.255.
		b := or(g.cmp(orLinkPL, 16, szW, 0), g.cmp(orLinkPL, 16, szW, 0xffffffff))
		return and(g.linktype(ethertypeIP), b), nil
	case kwIP6:
		if n.multicast {
			return and(g.linktype(ethertypeIPv6), g.cmp(orLinkPL, 24, szB, 0xff)), nil
		}
		return nil, g.errorf(n.at, "only link-layer/IP broadcast filters supported")
	}
	if n.multicast {
		return nil, g.errorf(n.at, "multicast applies to ether, ip or ip6, not %s", keywordName(n.proto))
	}
	return nil, g.errorf(n.at, "only link-layer/IP broadcast filters supported")
}

// byteop is gen_byteop. For & and | libpcap 1.10 forgets to load the
// byte (it tests whatever A holds); libpcap 1.11 fixed that, and so does
// flowcap.
func (g *codegen) byteop(n *byteNode) (cond, error) {
	if !g.cookedLoadOK(g.l.linkHdr+n.idx, szB) {
		return nil, g.errCookedLoad(n.at)
	}
	return g.byteopTest(n), nil
}

func (g *codegen) byteopTest(n *byteNode) cond {
	switch n.op {
	case '=':
		return g.cmp(orLinkHdr, n.idx, szB, n.val)
	case '<':
		return g.cmpLT(orLinkHdr, n.idx, szB, n.val)
	case '>':
		return g.cmpGT(orLinkHdr, n.idx, szB, n.val)
	}
	if n.op == '&' {
		return g.jset(orLinkHdr, n.idx, szB, n.val)
	}
	s := append(g.genLoad(orLinkHdr, n.idx, szB), aluK(opOR, n.val))
	return not(&test{stmts: s, op: opJEQ, k: 0})
}

// vlan is gen_vlan: test the type field for 802.1Q, 802.1ad or the old
// QinQ type, optionally the VLAN ID, then move the type and payload
// offsets 4 bytes on for everything compiled after. On a live socket the
// outermost tag is liveVlan's.
func (g *codegen) vlan(n *vlanNode) (cond, error) {
	if g.l.linkType != LinkTypeEthernet {
		return nil, g.errorf(n.at, "no VLAN support for %s", linkTypeName(g.l.linkType))
	}
	first := !g.vlanSeen
	g.vlanSeen = true
	if g.live && first {
		return g.liveVlan(n), nil
	}
	b := g.vlanTPID()
	if n.hasID {
		b = and(b, g.mcmp(orLinkPL, 0, szH, n.id, 0x0fff))
	}
	g.l.linkPL += 4
	g.l.typeOff += 4
	return b, nil
}

// inbound is gen_inbound: the packet type of the cooked headers, or on a
// live socket the kernel's.
func (g *codegen) inbound(n *dirNode) (cond, error) {
	var c cond
	switch {
	case g.l.linkType == LinkTypeLinuxSLL:
		c = g.cmp(orLinkHdr, 0, szH, linuxPacketOutgoing)
	case g.l.linkType == LinkTypeLinuxSLL2:
		c = g.cmp(orLinkHdr, 10, szB, linuxPacketOutgoing)
	case g.live:
		c = g.cmp(orPacket, skfOff+skfPktType, szH, linuxPacketOutgoing)
	default:
		return nil, g.errorf(n.at, "inbound/outbound not supported on %s when reading capture files", linkTypeName(g.l.linkType))
	}
	if !n.outbound {
		c = not(c)
	}
	return c, nil
}
