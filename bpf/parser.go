package bpf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The parser is recursive descent over the token list, written to accept
// what libpcap's yacc grammar (grammar.y) accepts and to give it the same
// meaning:
//
//	expr  = elem { (and|or) elem }        left to right, and/or equal
//	elem  = not elem | '(' expr ')' | head id | pname | relation | other | id
//	id    = value | not id | '(' id { (and|or) id } ')'
//	head  = [pname] [dir] [type] | [pname] proto
//
// A bare value (id) takes the qualifiers of the value or primitive before
// it: "port 80 or 443", "not host a and b". Where yacc must look ahead to
// choose between a parenthesised boolean and a parenthesised arithmetic
// expression, the parser looks at the token after the matching ')'.

type parser struct {
	expr  string
	toks  []token
	i     int
	match []int // match[i] is the index of the ')' closing the '(' at i, or -1
	depth int
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 200

func parse(expr string) (node, error) {
	p := &parser{expr: expr, toks: lex(expr)}
	p.match = make([]int, len(p.toks))
	var stack []int
	for i, t := range p.toks {
		p.match[i] = -1
		switch t.kind {
		case tLParen:
			stack = append(stack, i)
		case tRParen:
			if len(stack) > 0 {
				p.match[stack[len(stack)-1]] = i
				stack = stack[:len(stack)-1]
			}
		}
	}
	if p.peek().kind == tErr {
		return nil, p.errAt(p.peek(), p.peek().msg)
	}
	if p.peek().kind == tEOF {
		return nil, nil
	}
	n, _, err := p.parseExpr(qerr)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return nil, p.errAt(t, "unbalanced ')'")
		}
		return nil, p.errAt(t, "expected 'and', 'or' or the end of the expression, found "+describe(t))
	}
	return n, nil
}

func (p *parser) peek() token        { return p.toks[p.i] }
func (p *parser) peekAt(k int) token { return p.toks[min(p.i+k, len(p.toks)-1)] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind == tErr {
		return t
	}
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) isKw(k keyword) bool {
	t := p.peek()
	return t.kind == tKeyword && t.kw == k
}

func (p *parser) errAt(t token, msg string) error {
	if t.kind == tErr && t.msg != "" {
		msg = t.msg
	}
	return &SyntaxError{Expr: p.expr, Offset: t.pos, Msg: msg}
}

// fail reports an error at the current token; a lexical error there wins.
func (p *parser) fail(msg string) error { return p.errAt(p.peek(), msg) }

// describe names a token for an error message.
func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "the end of the expression"
	case tErr:
		return t.msg
	}
	return "'" + t.text + "'"
}

// parseExpr parses elem { (and|or) elem } and returns the qualifiers a
// following bare value would reuse.
func (p *parser) parseExpr(q qual) (node, qual, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, q, p.fail("expression nested too deeply")
	}
	left, q, err := p.parseElem(q)
	if err != nil {
		return nil, q, err
	}
	for {
		t := p.peek()
		if t.kind != tAnd && t.kind != tOr {
			return left, q, nil
		}
		p.next()
		var right node
		right, q, err = p.parseElem(q)
		if err != nil {
			return nil, q, err
		}
		if t.kind == tAnd {
			left = &andNode{left, right}
		} else {
			left = &orNode{left, right}
		}
	}
}

// arithFollows reports whether the token at index j continues an
// arithmetic expression or a comparison.
func (p *parser) arithFollows(j int) bool {
	switch p.toks[min(j, len(p.toks)-1)].kind {
	case tPlus, tMinus, tStar, tSlash, tPct, tAmp, tPipe, tCaret, tLsh, tRsh,
		tGT, tLT, tGE, tLE, tEQ, tNE:
		return true
	}
	return false
}

func (p *parser) parseElem(q qual) (node, qual, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, q, p.fail("expression nested too deeply")
	}
	t := p.peek()
	switch t.kind {
	case tNot:
		p.next()
		x, q2, err := p.parseElem(q)
		if err != nil {
			return nil, q, err
		}
		return &notNode{at: t.pos, x: x}, q2, nil
	case tLParen:
		m := p.match[p.i]
		if m < 0 {
			return nil, q, p.fail("unbalanced '('")
		}
		if p.arithFollows(m + 1) {
			n, err := p.parseRelation()
			return n, qerr, err
		}
		p.next()
		n, _, err := p.parseExpr(q)
		if err != nil {
			return nil, q, err
		}
		if p.peek().kind != tRParen {
			return nil, q, p.fail("expected ')', found " + describe(p.peek()))
		}
		p.next()
		return n, q, nil
	case tNum:
		if p.arithFollows(p.i + 1) {
			n, err := p.parseRelation()
			return n, qerr, err
		}
		return p.parseValue(q)
	case tMinus:
		n, err := p.parseRelation()
		return n, qerr, err
	case tID, tHID, tHID6, tEID, tAID:
		return p.parseValue(q)
	case tKeyword:
		return p.parseKeyword()
	case tEOF:
		return nil, q, p.fail("expected a filter primitive (host, port, tcp...), found the end of the expression")
	case tRParen:
		return nil, q, p.fail("expected a filter primitive (host, port, tcp...), found ')'")
	}
	return nil, q, p.fail("expected a filter primitive (host, port, tcp...), found " + describe(t))
}

// isPname reports whether k is a protocol qualifier.
func isPname(k keyword) bool { return k >= kwLink && k <= kwNetBEUI }

// parseKeyword parses an element that starts with a keyword.
func (p *parser) parseKeyword() (node, qual, error) {
	t := p.peek()
	k := t.kw
	if k >= kwFirstUnsupported {
		return nil, qerr, p.errAt(t, "'"+t.text+"' is not supported by flowcap's filter compiler")
	}
	switch k {
	case kwLen:
		n, err := p.parseRelation()
		return n, qerr, err
	case kwLess, kwGreater:
		p.next()
		if p.peek().kind != tNum {
			return nil, qerr, p.fail("expected a length after '" + t.text + "'")
		}
		n := p.next().num
		return &lenNode{at: t.pos, less: k == kwLess, n: n}, qerr, nil
	case kwByte:
		return p.parseByte()
	case kwBroadcast, kwMulticast:
		p.next()
		return &castNode{at: t.pos, proto: kwNone, multicast: k == kwMulticast}, qerr, nil
	case kwInbound, kwOutbound:
		p.next()
		return &dirNode{at: t.pos, outbound: k == kwOutbound}, qerr, nil
	case kwIfindex:
		p.next()
		if p.peek().kind != tNum {
			return nil, qerr, p.fail("expected an interface index after 'ifindex'")
		}
		return &ifindexNode{at: t.pos, idx: p.next().num}, qerr, nil
	case kwVlan:
		p.next()
		n := &vlanNode{at: t.pos}
		if v, ok := p.parsePnum(); ok {
			if v > 0x0fff {
				return nil, qerr, p.errAt(t, fmt.Sprintf("VLAN tag %d greater than maximum %d", v, 0x0fff))
			}
			n.id, n.hasID = v, true
		}
		return n, qerr, nil
	case kwMask:
		return nil, qerr, p.fail("'mask' must follow an IPv4 network")
	}
	if isPname(k) {
		switch nt := p.peekAt(1); {
		case nt.kind == tLBrack:
			n, err := p.parseRelation()
			return n, qerr, err
		case nt.kind == tKeyword && (nt.kw == kwBroadcast || nt.kw == kwMulticast):
			p.next()
			p.next()
			return &castNode{at: t.pos, proto: k, multicast: nt.kw == kwMulticast}, qerr, nil
		case nt.kind == tKeyword && (nt.kw == kwSrc || nt.kw == kwDst || (nt.kw >= kwHost && nt.kw <= kwProto) ||
			nt.kw == kwProtochain || nt.kw == kwGateway || (nt.kw >= kwType && nt.kw <= kwTA)):
			return p.parseHeadID()
		}
		p.next()
		return &protoNode{at: t.pos, proto: k}, qerr, nil
	}
	if k == kwSrc || k == kwDst || (k >= kwHost && k <= kwProto) {
		return p.parseHeadID()
	}
	return nil, qerr, p.errAt(t, "'"+t.text+"' cannot start a filter primitive")
}

// parsePnum parses NUM or a parenthesised NUM, as libpcap's pnum.
func (p *parser) parsePnum() (uint32, bool) {
	save := p.i
	opens := 0
	for p.peek().kind == tLParen {
		p.next()
		opens++
	}
	if p.peek().kind != tNum {
		p.i = save
		return 0, false
	}
	v := p.next().num
	for ; opens > 0; opens-- {
		if p.peek().kind != tRParen {
			p.i = save
			return 0, false
		}
		p.next()
	}
	return v, true
}

// parseHeadID parses [pname] [dir] [type] id and [pname] proto id.
func (p *parser) parseHeadID() (node, qual, error) {
	var q qual
	var last token
	if t := p.peek(); t.kind == tKeyword && isPname(t.kw) {
		q.proto = t.kw
		last = p.next()
	}
	if t := p.peek(); t.kind == tKeyword && (t.kw == kwSrc || t.kw == kwDst) {
		last = p.next()
		q.dir = dirSrc
		if t.kw == kwDst {
			q.dir = dirDst
		}
		// "src or dst" and "src and dst" (and the other order).
		if c := p.peek(); c.kind == tOr || c.kind == tAnd {
			if o := p.peekAt(1); o.kind == tKeyword && (o.kw == kwSrc || o.kw == kwDst) && o.kw != t.kw {
				p.next()
				last = p.next()
				q.dir = dirOr
				if c.kind == tAnd {
					q.dir = dirAnd
				}
			}
		}
	} else if t.kind == tKeyword && t.kw >= kwType && t.kw <= kwTA {
		return nil, q, p.errAt(t, "'"+t.text+"' is not supported by flowcap's filter compiler (802.11 only)")
	}
	if t := p.peek(); t.kind == tKeyword {
		switch t.kw {
		case kwHost:
			q.addr = addrHost
		case kwNet:
			q.addr = addrNet
		case kwPort:
			q.addr = addrPort
		case kwPortrange:
			q.addr = addrPortrange
		case kwProto:
			if q.dir != dirDefault {
				return nil, q, p.errAt(t, "direction applied to 'proto'")
			}
			q.addr = addrProto
		case kwProtochain, kwGateway:
			return nil, q, p.errAt(t, "'"+t.text+"' is not supported by flowcap's filter compiler")
		}
		if q.addr != addrDefault {
			last = p.next()
		}
	}
	return p.parseID(q, last)
}

// expectation says what a value after the qualifier token head must be.
func expectation(q qual, head token) string {
	var what string
	switch q.addr {
	case addrPort:
		what = "a port number or name"
	case addrPortrange:
		what = "a port range (such as 8000-8080)"
	case addrProto:
		what = "a protocol number or name"
	case addrNet:
		what = "a network (10.0.0.0/8, 192.168, 10.1.0.0 mask 255.255.0.0)"
	default:
		if q.proto == kwLink {
			what = "a MAC address"
		} else {
			what = "a host address"
		}
	}
	return fmt.Sprintf("expected %s after '%s'", what, head.text)
}

// parseID parses an id with qualifiers q: a value, "not id", or ids in
// parentheses joined by and/or. head is the last qualifier token, for
// error messages.
func (p *parser) parseID(q qual, head token) (node, qual, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, q, p.fail("expression nested too deeply")
	}
	t := p.peek()
	switch t.kind {
	case tNot:
		p.next()
		x, q2, err := p.parseID(q, head)
		if err != nil {
			return nil, q, err
		}
		return &notNode{at: t.pos, x: x}, q2, nil
	case tLParen:
		if v, ok := p.parsePnum(); ok {
			n, err := p.valueNum(q, t, v)
			return n, q, err
		}
		p.next()
		left, _, err := p.parseID(q, head)
		if err != nil {
			return nil, q, err
		}
		for p.peek().kind == tAnd || p.peek().kind == tOr {
			op := p.next()
			right, _, err := p.parseID(q, head)
			if err != nil {
				return nil, q, err
			}
			if op.kind == tAnd {
				left = &andNode{left, right}
			} else {
				left = &orNode{left, right}
			}
		}
		if p.peek().kind != tRParen {
			return nil, q, p.fail("expected ')', found " + describe(p.peek()))
		}
		p.next()
		return left, q, nil
	case tNum, tID, tHID, tHID6, tEID, tAID:
		return p.parseValue(q)
	}
	if head.text != "" {
		return nil, q, p.fail(expectation(q, head) + ", found " + describe(t))
	}
	return nil, q, p.fail("expected a value, found " + describe(t))
}

// parseValue turns one value token (and, for networks, its /len or mask
// part) into a primitive with qualifiers q.
func (p *parser) parseValue(q qual) (node, qual, error) {
	t := p.next()
	if t.kind == tErr {
		return nil, q, p.errAt(t, t.msg)
	}
	if q.undef {
		return nil, q, p.errAt(t, "expected a qualifier (host, net, port, src...) before "+describe(t))
	}
	var n node
	var err error
	switch t.kind {
	case tNum:
		n, err = p.valueNum(q, t, t.num)
	case tHID:
		n, err = p.valueHID(q, t)
	case tHID6:
		n, err = p.valueHID6(q, t)
	case tEID:
		n, err = p.valueEID(q, t)
	case tAID:
		err = p.errAt(t, "ARCnet addresses are not supported by flowcap's filter compiler")
	case tID:
		n, err = p.valueName(q, t)
	}
	return n, q, err
}

// valueNum is libpcap's gen_ncode for a number.
func (p *parser) valueNum(q qual, t token, v uint32) (node, error) {
	switch q.addr {
	case addrDefault, addrHost, addrNet:
		if q.proto == kwLink {
			return nil, p.errAt(t, "illegal link layer address")
		}
		mask := uint32(0xffffffff)
		if q.addr == addrNet {
			// Promote a short net number: net 10 is 10.0.0.0/8.
			for v != 0 && v&0xff000000 == 0 {
				v <<= 8
				mask <<= 8
			}
		}
		return p.hostNode(q, t, v, mask)
	case addrPort, addrPortrange:
		ipProto, err := p.portProto(q, t)
		if err != nil {
			return nil, err
		}
		if v > 65535 {
			return nil, p.errAt(t, fmt.Sprintf("illegal port number %d > 65535", v))
		}
		return &portNode{at: t.pos, lo: v, hi: v, ipProto: ipProto, dir: q.dir, rng: q.addr == addrPortrange}, nil
	case addrProto:
		return p.protoNum(q, t, v)
	}
	return nil, p.errAt(t, "syntax error")
}

// portProto maps the protocol qualifier of port/portrange to an IP protocol.
func (p *parser) portProto(q qual, t token) (int, error) {
	switch q.proto {
	case kwNone:
		return protoUndef, nil
	case kwTCP:
		return ipprotoTCP, nil
	case kwUDP:
		return ipprotoUDP, nil
	case kwSCTP:
		return ipprotoSCTP, nil
	}
	if q.addr == addrPortrange {
		return 0, p.errAt(t, "illegal qualifier of 'portrange'")
	}
	return 0, p.errAt(t, "illegal qualifier of 'port'")
}

func (p *parser) protoNum(q qual, t token, v uint32) (node, error) {
	if q.dir != dirDefault {
		return nil, p.errAt(t, "direction applied to 'proto'")
	}
	switch q.proto {
	case kwNone, kwIP, kwIP6, kwLink:
		return &protoNumNode{at: t.pos, v: v, proto: q.proto}, nil
	case kwARP, kwRARP, kwLAT, kwSCA, kwMOPRC, kwMOPDL:
		return nil, p.errAt(t, keywordName(q.proto)+" does not encapsulate another protocol")
	}
	return nil, p.errAt(t, "'"+keywordName(q.proto)+" proto' is bogus")
}

// hostNode is libpcap's gen_host for an IPv4 address or network.
func (p *parser) hostNode(q qual, t token, addr, mask uint32) (node, error) {
	typ := "host"
	if q.addr == addrNet {
		typ = "net"
	}
	switch q.proto {
	case kwNone, kwIP, kwARP, kwRARP:
		return &hostNode{at: t.pos, addr: addr, mask: mask, proto: q.proto, dir: q.dir}, nil
	case kwLink:
		return nil, p.errAt(t, "link-layer modifier applied to "+typ)
	case kwIP6:
		return nil, p.errAt(t, "'ip6' modifier applied to ip host")
	}
	return nil, p.errAt(t, "'"+keywordName(q.proto)+"' modifier applied to "+typ)
}

// valueHID handles a dotted IPv4 address, with /len or mask.
func (p *parser) valueHID(q qual, t token) (node, error) {
	switch q.addr {
	case addrPort, addrPortrange, addrProto:
		return nil, p.errAt(t, fmt.Sprintf("'%s' modifier applied to ip host", addrName(q.addr)))
	}
	v, vlen, ok := atoin(t.text)
	if !ok {
		return nil, p.errAt(t, "invalid IPv4 address '"+t.text+"'")
	}
	if p.peek().kind == tSlash {
		p.next()
		lt := p.peek()
		if lt.kind != tNum {
			return nil, p.fail("expected a prefix length after '/'")
		}
		p.next()
		return p.maskNode(q, t, v<<(32-vlen), 0, lt.num, false)
	}
	if p.isKw(kwMask) {
		p.next()
		mt := p.peek()
		if mt.kind != tHID {
			return nil, p.fail("expected a dotted netmask after 'mask'")
		}
		p.next()
		m, mlen, ok := atoin(mt.text)
		if !ok {
			return nil, p.errAt(mt, "invalid IPv4 address '"+mt.text+"'")
		}
		return p.maskNode(q, t, v<<(32-vlen), m<<(32-mlen), 0, true)
	}
	if q.proto == kwLink {
		return nil, p.errAt(t, "illegal link layer address")
	}
	// A short address is a prefix: "host 192.168" matches 192.168.0.0/16, as in libpcap.
	return p.hostNode(q, t, v<<(32-vlen), 0xffffffff<<(32-vlen))
}

// maskNode is libpcap's gen_mcode: net A/len or net A mask M.
func (p *parser) maskNode(q qual, t token, n, m, masklen uint32, haveMask bool) (node, error) {
	if !haveMask {
		if masklen > 32 {
			return nil, p.errAt(t, "mask length must be <= 32")
		}
		m = 0
		if masklen > 0 {
			m = 0xffffffff << (32 - masklen)
		}
		if n&^m != 0 {
			return nil, p.errAt(t, fmt.Sprintf("non-network bits set in \"%s/%d\"", t.text, masklen))
		}
	} else if n&^m != 0 {
		return nil, p.errAt(t, fmt.Sprintf("non-network bits set in \"%s mask %s\"", t.text, ipString(m)))
	}
	if q.addr != addrNet {
		return nil, p.errAt(t, "Mask syntax for networks only")
	}
	return p.hostNode(q, t, n, m)
}

func (p *parser) valueHID6(q qual, t token) (node, error) {
	addr, _ := parseIPv6(t.text)
	masklen := uint32(128)
	if p.peek().kind == tSlash {
		p.next()
		lt := p.peek()
		if lt.kind != tNum {
			return nil, p.fail("expected a prefix length after '/'")
		}
		p.next()
		masklen = lt.num
	} else if p.isKw(kwMask) {
		return nil, p.fail("no mask " + p.peekAt(1).text + " supported")
	}
	if masklen > 128 {
		return nil, p.errAt(t, "mask length must be <= 128")
	}
	var mask [16]byte
	for i := range mask {
		switch {
		case uint32(i+1)*8 <= masklen:
			mask[i] = 0xff
		case uint32(i)*8 < masklen:
			mask[i] = byte(0xff << (8 - masklen%8))
		}
	}
	for i := range addr {
		if addr[i]&^mask[i] != 0 {
			return nil, p.errAt(t, fmt.Sprintf("non-network bits set in \"%s/%d\"", t.text, masklen))
		}
	}
	switch q.addr {
	case addrDefault, addrHost:
		if masklen != 128 {
			return nil, p.errAt(t, "Mask syntax for networks only")
		}
	case addrNet:
	default:
		return nil, p.errAt(t, "invalid qualifier against IPv6 address")
	}
	typ := "host"
	if q.addr == addrNet {
		typ = "net"
	}
	switch q.proto {
	case kwNone, kwIP6:
		return &host6Node{at: t.pos, addr: addr, mask: mask, dir: q.dir}, nil
	case kwLink:
		return nil, p.errAt(t, "link-layer modifier applied to ip6 "+typ)
	}
	return nil, p.errAt(t, "'"+keywordName(q.proto)+"' modifier applied to ip6 "+typ)
}

func (p *parser) valueEID(q qual, t token) (node, error) {
	if (q.addr == addrHost || q.addr == addrDefault) && q.proto == kwLink {
		return &etherHostNode{at: t.pos, mac: etherAton(t.text), dir: q.dir}, nil
	}
	return nil, p.errAt(t, "ethernet address used in non-ether expression")
}

// valueName is libpcap's gen_scode: a name, looked up in flowcap's
// built-in tables of services and protocols. Host and network names are
// not resolved.
func (p *parser) valueName(q qual, t token) (node, error) {
	name := strings.TrimPrefix(t.text, "\\")
	switch q.addr {
	case addrNet:
		return nil, p.errAt(t, "unknown network '"+name+"' (network names are not resolved; give a number such as 10.0.0.0/8)")
	case addrDefault, addrHost:
		if q.proto == kwLink {
			return nil, p.errAt(t, "unknown ether host '"+name+"' (/etc/ethers names are not resolved; give a MAC address)")
		}
		return nil, p.errAt(t, "unknown host '"+name+"' (host names are not resolved; give an IPv4 or IPv6 address)")
	case addrPort:
		ipProto, err := p.portProto(q, t)
		if err != nil {
			return nil, err
		}
		port, real, ok := nameToPort(name)
		if !ok {
			return nil, p.errAt(t, "unknown port '"+name+"'")
		}
		real, err = p.narrowProto(t, ipProto, real, "port '"+name+"'")
		if err != nil {
			return nil, err
		}
		if port > 65535 {
			return nil, p.errAt(t, fmt.Sprintf("illegal port number %d > 65535", port))
		}
		return &portNode{at: t.pos, lo: uint32(port), hi: uint32(port), ipProto: real, dir: q.dir}, nil
	case addrPortrange:
		ipProto, err := p.portProto(q, t)
		if err != nil {
			return nil, err
		}
		lo, hi, real, ok := nameToPortRange(name)
		if !ok {
			return nil, p.errAt(t, "unknown port in range '"+name+"'")
		}
		real, err = p.narrowProto(t, ipProto, real, "port in range '"+name+"'")
		if err != nil {
			return nil, err
		}
		for _, v := range []int{lo, hi} {
			if v < 0 {
				return nil, p.errAt(t, fmt.Sprintf("illegal port number %d < 0", v))
			}
			if v > 65535 {
				return nil, p.errAt(t, fmt.Sprintf("illegal port number %d > 65535", v))
			}
		}
		return &portNode{at: t.pos, lo: uint32(lo), hi: uint32(hi), ipProto: real, dir: q.dir, rng: true}, nil
	case addrProto:
		var v int
		var ok bool
		switch q.proto {
		case kwNone, kwIP, kwIP6:
			v, ok = ipProtocols[name]
			if !ok {
				return nil, p.errAt(t, "unknown ip proto '"+name+"'")
			}
		case kwLink:
			v, ok = etherProtocols[name]
			if !ok {
				return nil, p.errAt(t, "unknown ether proto '"+name+"'")
			}
		default:
			return nil, p.errAt(t, "unknown protocol: "+name)
		}
		return p.protoNum(q, t, uint32(v))
	}
	return nil, p.errAt(t, "syntax error")
}

// narrowProto applies libpcap's rule for named ports: the name's own
// protocol must agree with the qualifier ("udp port http" is an error, as
// http is a TCP service), and a qualifier narrows a name known for both.
func (p *parser) narrowProto(t token, qualProto, nameProto int, what string) (int, error) {
	if qualProto == protoUndef {
		return nameProto, nil
	}
	if nameProto != protoUndef && nameProto != qualProto {
		return 0, p.errAt(t, what+" is "+ipProtoName(nameProto))
	}
	return qualProto, nil
}

// parseByte parses "byte N op V".
func (p *parser) parseByte() (node, qual, error) {
	t := p.next()
	if p.peek().kind != tNum {
		return nil, qerr, p.fail("expected a byte offset after 'byte'")
	}
	idx := p.next().num
	var op byte
	switch p.peek().kind {
	case tAmp:
		op = '&'
	case tPipe:
		op = '|'
	case tLT:
		op = '<'
	case tGT:
		op = '>'
	case tEQ:
		op = '='
	default:
		return nil, qerr, p.fail("expected one of & | < > = after 'byte N'")
	}
	p.next()
	if p.peek().kind != tNum {
		return nil, qerr, p.fail("expected a value")
	}
	val := p.next().num
	return &byteNode{at: t.pos, op: op, idx: idx, val: val}, qerr, nil
}

// parseRelation parses arith relop arith.
func (p *parser) parseRelation() (node, error) {
	start := p.peek()
	l, err := p.parseArith()
	if err != nil {
		return nil, err
	}
	rt := p.peek()
	n := &relNode{at: start.pos}
	switch rt.kind {
	case tGT:
		n.op = opJGT
	case tGE:
		n.op = opJGE
	case tEQ:
		n.op = opJEQ
	case tLE:
		n.op, n.reversed = opJGT, true
	case tLT:
		n.op, n.reversed = opJGE, true
	case tNE:
		n.op, n.reversed = opJEQ, true
	default:
		return nil, p.fail("expected a comparison (= != < <= > >=), found " + describe(rt))
	}
	p.next()
	r, err := p.parseArith()
	if err != nil {
		return nil, err
	}
	n.l, n.r = l, r
	return n, nil
}

// Binary operator precedence as declared in grammar.y; '%' and '^' have
// none, so yacc resolves every conflict involving them by shifting: they
// take everything to their right ("ip[0] % 3 + 1" is ip[0] % (3+1)).
func binPrec(k tokKind) (prec int, op uint16, ok bool) {
	switch k {
	case tPipe:
		return 1, opOR, true
	case tAmp:
		return 2, opAND, true
	case tLsh:
		return 3, opLSH, true
	case tRsh:
		return 3, opRSH, true
	case tPlus:
		return 4, opADD, true
	case tMinus:
		return 4, opSUB, true
	case tStar:
		return 5, opMUL, true
	case tSlash:
		return 5, opDIV, true
	case tPct:
		return 0, opMOD, true
	case tCaret:
		return 0, opXOR, true
	}
	return 0, 0, false
}

const precUnary = 6

// parseArith is a shift-reduce parser that reproduces yacc's choices for
// grammar.y's arithmetic rules, including unary minus (%prec UMINUS).
func (p *parser) parseArith() (arith, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.fail("expression nested too deeply")
	}
	type pending struct {
		op    uint16 // opNEG for unary minus
		prec  int    // 0: none (always shift)
		left  arith
		unary bool
	}
	var stack []pending
	for {
		// Unary minus prefixes.
		for p.peek().kind == tMinus {
			p.next()
			stack = append(stack, pending{op: opNEG, prec: precUnary, unary: true})
			if len(stack) > maxDepth {
				return nil, p.fail("expression nested too deeply")
			}
		}
		operand, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		prec, op, ok := binPrec(p.peek().kind)
		// Reduce while the pending operator binds at least as tightly.
		for len(stack) > 0 {
			top := stack[len(stack)-1]
			if !ok || (top.prec > 0 && prec > 0 && top.prec >= prec) {
				stack = stack[:len(stack)-1]
				if top.unary {
					operand = &negArith{operand}
				} else {
					operand = &binArith{op: top.op, l: top.left, r: operand}
				}
				continue
			}
			break
		}
		if !ok {
			return operand, nil
		}
		p.next()
		stack = append(stack, pending{op: op, prec: prec, left: operand})
		if len(stack) > maxDepth {
			return nil, p.fail("expression nested too deeply")
		}
	}
}

// parseOperand parses a number, len, proto[expr[:size]] or (arith).
func (p *parser) parseOperand() (arith, error) {
	t := p.peek()
	switch t.kind {
	case tNum:
		p.next()
		return numArith{t.num}, nil
	case tLParen:
		p.next()
		a, err := p.parseArith()
		if err != nil {
			return nil, err
		}
		if p.peek().kind != tRParen {
			return nil, p.fail("expected ')', found " + describe(p.peek()))
		}
		p.next()
		return a, nil
	case tKeyword:
		if t.kw == kwLen {
			p.next()
			return lenArith{}, nil
		}
		if isPname(t.kw) || t.kw >= kwFirstUnsupported {
			return p.parseLoad()
		}
	}
	return nil, p.fail("expected a number, 'len' or proto[offset], found " + describe(t))
}

func (p *parser) parseLoad() (arith, error) {
	t := p.next()
	if t.kw >= kwFirstUnsupported {
		return nil, p.errAt(t, "'"+t.text+"' is not supported by flowcap's filter compiler")
	}
	if p.peek().kind != tLBrack {
		return nil, p.fail("expected '[' after '" + t.text + "' in an arithmetic expression")
	}
	switch t.kw {
	case kwLink, kwIP, kwIP6, kwARP, kwRARP, kwTCP, kwUDP, kwSCTP, kwICMP, kwICMP6,
		kwIGMP, kwIGRP, kwPIM, kwVRRP, kwCARP, kwATalk, kwLAT, kwSCA, kwMOPDL, kwMOPRC:
	default:
		return nil, p.errAt(t, "unsupported index operation")
	}
	p.next()
	idx, err := p.parseArith()
	if err != nil {
		return nil, err
	}
	size := uint32(1)
	if p.peek().kind == tColon {
		p.next()
		st := p.peek()
		if st.kind != tNum {
			return nil, p.fail("expected a size (1, 2 or 4) after ':'")
		}
		p.next()
		if st.num != 1 && st.num != 2 && st.num != 4 {
			return nil, p.errAt(st, "data size must be 1, 2, or 4")
		}
		size = st.num
	}
	if p.peek().kind != tRBrack {
		return nil, p.fail("expected ']', found " + describe(p.peek()))
	}
	p.next()
	return &loadArith{at: t.pos, proto: t.kw, idx: idx, size: size}, nil
}

// atoin is libpcap's __pcap_atoin: a dotted IPv4 address or prefix with
// its length in bits (8 per part).
func atoin(s string) (v uint32, bits uint32, ok bool) {
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.ParseUint(part, 10, 32)
		if err != nil || n > 255 || bits == 32 {
			return 0, 0, false
		}
		v = v<<8 | uint32(n)
		bits += 8
	}
	return v, bits, true
}

func ipString(v uint32) string {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

// parseIPv6 parses an IPv6 address lexeme (possibly with an IPv4 tail).
func parseIPv6(s string) ([16]byte, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return [16]byte{}, false
	}
	return a.As16(), true
}

// etherAton is libpcap's pcap_ether_aton for a lexeme the scanner matched
// as a MAC address: separators skipped, hex digits taken in pairs.
func etherAton(s string) [6]byte {
	var mac [6]byte
	n := 0
	for i := 0; i < len(s) && n < 6; {
		if s[i] == ':' || s[i] == '.' || s[i] == '-' {
			i++
		}
		d := hexVal(s[i])
		i++
		if i < len(s) && isHex(s[i]) {
			d = d<<4 | hexVal(s[i])
			i++
		}
		mac[n] = d
		n++
	}
	return mac
}

func addrName(a addrQual) string {
	switch a {
	case addrPort:
		return "port"
	case addrPortrange:
		return "portrange"
	case addrProto:
		return "proto"
	case addrNet:
		return "net"
	}
	return "host"
}

// keywordName returns the canonical spelling of a protocol keyword.
func keywordName(k keyword) string {
	for _, name := range []string{"ether", "ip", "ip6", "arp", "rarp", "sctp", "tcp", "udp", "icmp", "icmp6",
		"igmp", "igrp", "pim", "vrrp", "carp", "ah", "esp", "atalk", "aarp", "lat", "sca", "mopdl", "moprc",
		"stp", "ipx", "netbeui"} {
		if keywords[name] == k {
			return name
		}
	}
	for name, kw := range keywords {
		if kw == k {
			return name
		}
	}
	return "?"
}
