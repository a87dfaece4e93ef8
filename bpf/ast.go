package bpf

// The syntax tree: what the parser makes of an expression, with every
// name already resolved (ports, protocols, addresses) and every
// link-independent check done, so that code generation for a link type can
// fail only on what that link type cannot do.

// dirQual is a direction qualifier.
type dirQual uint8

const (
	dirDefault dirQual = iota // none given: src or dst
	dirSrc
	dirDst
	dirOr  // src or dst
	dirAnd // src and dst
)

// addrQual is an address-type qualifier.
type addrQual uint8

const (
	addrDefault addrQual = iota // none given: host
	addrHost
	addrNet
	addrPort
	addrPortrange
	addrProto
)

// qual is the set of qualifiers in force for a value; a bare value after
// and/or reuses the previous one (libpcap's $<blk>0.q).
type qual struct {
	proto keyword // kwNone: no protocol qualifier
	dir   dirQual
	addr  addrQual
	undef bool // no qualifiers to reuse (libpcap's qerr)
}

var qerr = qual{undef: true}

// node is a boolean filter expression.
type node interface{ offset() int }

type (
	andNode struct{ l, r node }
	orNode  struct{ l, r node }
	notNode struct {
		at int
		x  node
	}

	// protoNode is a protocol name alone: ip, tcp, arp... (gen_proto_abbrev).
	protoNode struct {
		at    int
		proto keyword
	}
	// hostNode is an IPv4 host or network (gen_host); proto is kwNone,
	// kwIP, kwARP or kwRARP.
	hostNode struct {
		at         int
		addr, mask uint32
		proto      keyword
		dir        dirQual
	}
	// host6Node is an IPv6 host or network (gen_host6).
	host6Node struct {
		at         int
		addr, mask [16]byte
		dir        dirQual
	}
	// etherHostNode is "ether [src|dst] host MAC" (gen_ehostop).
	etherHostNode struct {
		at  int
		mac [6]byte
		dir dirQual
	}
	// portNode is port or portrange (gen_port/gen_portrange and their
	// IPv6 twins); ipProto is 6, 17, 132 or protoUndef for all three.
	portNode struct {
		at      int
		lo, hi  uint32
		ipProto int
		dir     dirQual
		rng     bool
	}
	// protoNumNode is "[ip|ip6|ether] proto N" (gen_proto).
	protoNumNode struct {
		at    int
		v     uint32
		proto keyword // kwNone, kwIP, kwIP6 or kwLink
	}
	// castNode is [ether|ip|ip6] broadcast or multicast.
	castNode struct {
		at        int
		proto     keyword
		multicast bool
	}
	// lenNode is less N (len <= N) or greater N (len >= N).
	lenNode struct {
		at   int
		less bool
		n    uint32
	}
	// relNode compares two arithmetic expressions; reversed negates the
	// jump (<=, < and != are !>, !>= and !=).
	relNode struct {
		at       int
		op       uint16 // a jump op: opJEQ, opJGT or opJGE
		reversed bool
		l, r     arith
	}
	// byteNode is "byte N op V" on the link-layer header.
	byteNode struct {
		at       int
		op       byte // = < > & |
		idx, val uint32
	}
	// vlanNode is "vlan [ID]": it also shifts the offsets of everything
	// compiled after it, as libpcap does.
	vlanNode struct {
		at    int
		id    uint32
		hasID bool
	}
	// dirNode is inbound or outbound.
	dirNode struct {
		at       int
		outbound bool
	}
	// ifindexNode is "ifindex N".
	ifindexNode struct {
		at  int
		idx uint32
	}
)

func (n *andNode) offset() int       { return n.l.offset() }
func (n *orNode) offset() int        { return n.l.offset() }
func (n *notNode) offset() int       { return n.at }
func (n *protoNode) offset() int     { return n.at }
func (n *hostNode) offset() int      { return n.at }
func (n *host6Node) offset() int     { return n.at }
func (n *etherHostNode) offset() int { return n.at }
func (n *portNode) offset() int      { return n.at }
func (n *protoNumNode) offset() int  { return n.at }
func (n *castNode) offset() int      { return n.at }
func (n *lenNode) offset() int       { return n.at }
func (n *relNode) offset() int       { return n.at }
func (n *byteNode) offset() int      { return n.at }
func (n *vlanNode) offset() int      { return n.at }
func (n *dirNode) offset() int       { return n.at }
func (n *ifindexNode) offset() int   { return n.at }

// arith is an arithmetic expression of a relation.
type arith interface{ isArith() }

type (
	numArith struct{ v uint32 }
	lenArith struct{}
	// loadArith is proto[idx:size].
	loadArith struct {
		at    int
		proto keyword
		idx   arith
		size  uint32
	}
	binArith struct {
		op   uint16 // an ALU op: opADD...
		l, r arith
	}
	negArith struct{ x arith }
)

func (numArith) isArith()   {}
func (lenArith) isArith()   {}
func (*loadArith) isArith() {}
func (*binArith) isArith()  {}
func (*negArith) isArith()  {}
