package bpf

import (
	"strings"
)

// tokKind is the kind of a lexical token.
type tokKind uint8

const (
	tEOF tokKind = iota
	tErr         // a lexical error; token text says what was seen, Msg why

	// Values.
	tID   // a name: host, port, protocol name; "\name" arrives here without the backslash
	tNum  // a number, decimal, 0x hex or 0 octal, or a named constant (tcpflags, tcp-syn...)
	tHID  // a dotted IPv4 address or prefix: 10, 10.1, 10.1.2, 10.1.2.3 (two parts or more)
	tHID6 // an IPv6 address
	tEID  // a MAC address
	tAID  // an ARCnet address ($xx)

	// Operators.
	tAnd    // and &&
	tOr     // or ||
	tNot    // not !
	tLParen // (
	tRParen // )
	tLBrack // [
	tRBrack // ]
	tColon  // :
	tSlash  // /
	tPlus   // +
	tMinus  // -
	tStar   // *
	tPct    // %
	tAmp    // &
	tPipe   // |
	tCaret  // ^
	tLsh    // <<
	tRsh    // >>
	tGT     // >
	tLT     // <
	tGE     // >=
	tLE     // <=
	tEQ     // = ==
	tNE     // !=

	// Keywords.
	tKeyword // first keyword; kw says which
)

// keyword identifies a reserved word of pcap-filter(7). Values below
// kwFirstUnsupported are compiled; the others are recognised (so that a
// user gets "not supported" rather than "unknown host") but refused.
type keyword uint8

const (
	kwNone keyword = iota
	// protocol qualifiers (pname)
	kwLink // link ether ppp slip fddi tr wlan
	kwIP
	kwIP6
	kwARP
	kwRARP
	kwSCTP
	kwTCP
	kwUDP
	kwICMP
	kwICMP6
	kwIGMP
	kwIGRP
	kwPIM
	kwVRRP
	kwCARP
	kwAH
	kwESP
	kwATalk
	kwAARP
	kwLAT
	kwSCA
	kwMOPDL
	kwMOPRC
	kwSTP
	kwIPX
	kwNetBEUI
	// direction qualifiers
	kwSrc
	kwDst
	// address-type qualifiers
	kwHost
	kwNet
	kwMask
	kwPort
	kwPortrange
	kwProto
	// primitives
	kwLess
	kwGreater
	kwByte
	kwBroadcast
	kwMulticast
	kwLen
	kwInbound
	kwOutbound
	kwIfindex
	kwVlan

	// recognised, refused
	kwDecnet
	kwISO
	kwESIS
	kwISIS
	kwL1
	kwL2
	kwIIH
	kwLSP
	kwSNP
	kwCSNP
	kwPSNP
	kwCLNP
	kwRadio
	kwProtochain
	kwGateway
	kwType
	kwSubtype
	kwDir
	kwAddr1
	kwAddr2
	kwAddr3
	kwAddr4
	kwRA
	kwTA
	kwMPLS
	kwPPPoED
	kwPPPoES
	kwGeneve
	kwLLC
	kwATM // lane metac bcc oam oamf4 oamf4ec oamf4sc sc ilmic vpi vci connectmsg metaconnect
	kwPF  // on ifname rset ruleset rnr rulenum srnr subrulenum reason action
	kwSS7 // fisu lssu lsu msu hfisu hlssu hmsu sio opc dpc sls hsio hopc hdpc hsls
)

// kwFirstUnsupported is the first keyword flowcap recognises but refuses.
const kwFirstUnsupported = kwDecnet

// keywords maps each reserved word to its keyword, as libpcap's scanner
// does (scanner.l). Keywords are case-sensitive.
var keywords = map[string]keyword{
	"link": kwLink, "ether": kwLink, "ppp": kwLink, "slip": kwLink,
	"fddi": kwLink, "tr": kwLink, "wlan": kwLink,
	"ip": kwIP, "ip6": kwIP6, "arp": kwARP, "rarp": kwRARP, "sctp": kwSCTP,
	"tcp": kwTCP, "udp": kwUDP, "icmp": kwICMP, "icmp6": kwICMP6,
	"igmp": kwIGMP, "igrp": kwIGRP, "pim": kwPIM, "vrrp": kwVRRP, "carp": kwCARP,
	"ah": kwAH, "esp": kwESP,
	"atalk": kwATalk, "aarp": kwAARP, "lat": kwLAT, "sca": kwSCA,
	"mopdl": kwMOPDL, "moprc": kwMOPRC, "stp": kwSTP, "ipx": kwIPX, "netbeui": kwNetBEUI,
	"src": kwSrc, "dst": kwDst,
	"host": kwHost, "net": kwNet, "mask": kwMask, "port": kwPort,
	"portrange": kwPortrange, "proto": kwProto,
	"less": kwLess, "greater": kwGreater, "byte": kwByte,
	"broadcast": kwBroadcast, "multicast": kwMulticast,
	"len": kwLen, "length": kwLen,
	"inbound": kwInbound, "outbound": kwOutbound, "ifindex": kwIfindex,
	"vlan": kwVlan,

	"decnet": kwDecnet, "iso": kwISO, "esis": kwESIS, "es-is": kwESIS,
	"isis": kwISIS, "is-is": kwISIS, "l1": kwL1, "l2": kwL2, "iih": kwIIH,
	"lsp": kwLSP, "snp": kwSNP, "csnp": kwCSNP, "psnp": kwPSNP, "clnp": kwCLNP,
	"radio": kwRadio, "protochain": kwProtochain, "gateway": kwGateway,
	"type": kwType, "subtype": kwSubtype, "direction": kwDir, "dir": kwDir,
	"address1": kwAddr1, "addr1": kwAddr1, "address2": kwAddr2, "addr2": kwAddr2,
	"address3": kwAddr3, "addr3": kwAddr3, "address4": kwAddr4, "addr4": kwAddr4,
	"ra": kwRA, "ta": kwTA,
	"mpls": kwMPLS, "pppoed": kwPPPoED, "pppoes": kwPPPoES, "geneve": kwGeneve,
	"llc":  kwLLC,
	"lane": kwATM, "metac": kwATM, "bcc": kwATM, "oam": kwATM, "oamf4": kwATM,
	"oamf4ec": kwATM, "oamf4sc": kwATM, "sc": kwATM, "ilmic": kwATM, "vpi": kwATM,
	"vci": kwATM, "connectmsg": kwATM, "metaconnect": kwATM,
	"on": kwPF, "ifname": kwPF, "rset": kwPF, "ruleset": kwPF, "rnr": kwPF,
	"rulenum": kwPF, "srnr": kwPF, "subrulenum": kwPF, "reason": kwPF, "action": kwPF,
	"fisu": kwSS7, "lssu": kwSS7, "lsu": kwSS7, "msu": kwSS7, "hfisu": kwSS7,
	"hlssu": kwSS7, "hmsu": kwSS7, "sio": kwSS7, "opc": kwSS7, "dpc": kwSS7,
	"sls": kwSS7, "hsio": kwSS7, "hopc": kwSS7, "hdpc": kwSS7, "hsls": kwSS7,
}

// namedNumbers are the words the scanner turns into numbers: offsets
// (tcpflags, icmptype...) and constants (tcp-syn, icmp-echo...).
var namedNumbers = map[string]uint32{
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4,
	"icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9,
	"icmp-routersolicit": 10, "icmp-timxceed": 11, "icmp-paramprob": 12,
	"icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,

	"icmp6type": 0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2,
	"icmp6-timeexceeded": 3, "icmp6-parameterproblem": 4,
	"icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133,
	"icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135,
	"icmp6-neighboradvert": 136, "icmp6-redirect": 137, "icmp6-routerrenum": 138,
	"icmp6-nodeinformationquery": 139, "icmp6-nodeinformationresponse": 140,
	"icmp6-ineighbordiscoverysolicit": 141, "icmp6-ineighbordiscoveryadvert": 142,
	"icmp6-multicastlistenerreportv2": 143, "icmp6-homeagentdiscoveryrequest": 144,
	"icmp6-homeagentdiscoveryreply": 145, "icmp6-mobileprefixsolicit": 146,
	"icmp6-mobileprefixadvert": 147, "icmp6-certpathsolicit": 148,
	"icmp6-certpathadvert": 149, "icmp6-multicastrouteradvert": 151,
	"icmp6-multicastroutersolicit": 152, "icmp6-multicastrouterterm": 153,

	"tcpflags": 13,
	"tcp-fin":  0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}

// token is one lexeme of a filter expression.
type token struct {
	kind tokKind
	kw   keyword // for tKeyword
	pos  int     // byte offset in the expression
	text string  // the lexeme as written
	num  uint32  // for tNum
	msg  string  // for tErr
}

// lex splits expr into tokens the way libpcap's flex scanner does: at each
// position the longest match wins, and among equally long matches the rule
// listed first in scanner.l (keywords, MAC, number, IPv4, IPv6, named
// constants, then names). So "5-3" is one name, as in tcpdump, and
// "001122334455" is a MAC address. The last token is tEOF.
func lex(expr string) []token {
	var toks []token
	i := 0
	for {
		for i < len(expr) && isSpace(expr[i]) {
			i++
		}
		if i >= len(expr) {
			return append(toks, token{kind: tEOF, pos: len(expr)})
		}
		t := lexOne(expr, i)
		toks = append(toks, t)
		if t.kind == tErr {
			return append(toks, token{kind: tEOF, pos: len(expr)})
		}
		i += len(t.text)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// lexOne returns the token starting at expr[i] (not a space).
func lexOne(expr string, i int) token {
	s := expr[i:]
	tok := func(k tokKind, n int) token { return token{kind: k, pos: i, text: s[:n]} }

	// Two-character operators, then one-character ones. No value rule
	// starts with these characters, so there is no competition.
	if len(s) >= 2 {
		switch s[:2] {
		case "&&":
			return tok(tAnd, 2)
		case "||":
			return tok(tOr, 2)
		case ">=":
			return tok(tGE, 2)
		case "<=":
			return tok(tLE, 2)
		case "!=":
			return tok(tNE, 2)
		case "==":
			return tok(tEQ, 2)
		case "<<":
			return tok(tLsh, 2)
		case ">>":
			return tok(tRsh, 2)
		}
	}
	switch s[0] {
	case '+':
		return tok(tPlus, 1)
	case '-':
		return tok(tMinus, 1)
	case '*':
		return tok(tStar, 1)
	case '/':
		return tok(tSlash, 1)
	case '%':
		return tok(tPct, 1)
	case ':':
		// "::1" is an IPv6 address; a lone ':' is the size separator.
		if n := matchV6(s); n > 0 {
			return hid6Token(s[:n], i)
		}
		return tok(tColon, 1)
	case '[':
		return tok(tLBrack, 1)
	case ']':
		return tok(tRBrack, 1)
	case '!':
		return tok(tNot, 1)
	case '<':
		return tok(tLT, 1)
	case '>':
		return tok(tGT, 1)
	case '(':
		return tok(tLParen, 1)
	case ')':
		return tok(tRParen, 1)
	case '&':
		return tok(tAmp, 1)
	case '|':
		return tok(tPipe, 1)
	case '^':
		return tok(tCaret, 1)
	case '=':
		return tok(tEQ, 1)
	case '$':
		if len(s) >= 2 && isHex(s[1]) {
			n := 2
			if len(s) >= 3 && isHex(s[2]) {
				n = 3
			}
			return tok(tAID, n)
		}
	case '\\':
		n := 1
		for n < len(s) && !strings.ContainsRune(" !()\n\t", rune(s[n])) {
			n++
		}
		if n > 1 {
			t := tok(tID, n)
			t.text = s[:n] // keep the backslash for the caret; the name is text[1:]
			return t
		}
	}
	if !isAlnum(s[0]) {
		return token{kind: tErr, pos: i, text: s[:1], msg: "unexpected character " + quoteChar(s[0])}
	}

	// Value rules, in scanner.l order; a later rule wins only if strictly longer.
	best, kind := 0, tEOF
	consider := func(n int, k tokKind) {
		if n > best {
			best, kind = n, k
		}
	}
	consider(matchMAC(s), tEID)
	consider(matchNum(s), tNum)
	consider(matchHID(s), tHID)
	consider(matchV6(s), tHID6)
	bogus := matchBogusMAC(s)
	consider(bogus, tErr)
	id := matchID(s)
	if id >= best {
		switch s[:id] {
		case "and":
			return tok(tAnd, id)
		case "or":
			return tok(tOr, id)
		case "not":
			return tok(tNot, id)
		}
	}
	if _, ok := keywords[s[:id]]; ok && id >= best {
		// Keywords come first in scanner.l; no value rule matches them.
		return token{kind: tKeyword, kw: keywords[s[:id]], pos: i, text: s[:id]}
	}
	if v, ok := namedNumbers[s[:id]]; ok && id > best {
		return token{kind: tNum, pos: i, text: s[:id], num: v}
	}
	consider(id, tID)

	text := s[:best]
	switch kind {
	case tNum:
		v, msg := parseNum(text)
		if msg != "" {
			return token{kind: tErr, pos: i, text: text, msg: msg}
		}
		return token{kind: tNum, pos: i, text: text, num: v}
	case tHID6:
		return hid6Token(text, i)
	case tErr:
		return token{kind: tErr, pos: i, text: text, msg: "bogus ethernet address " + text}
	}
	return token{kind: kind, pos: i, text: text}
}

func quoteChar(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	const hex = "0123456789abcdef"
	return "byte 0x" + string(hex[c>>4]) + string(hex[c&15])
}

func hid6Token(text string, pos int) token {
	if _, ok := parseIPv6(text); !ok {
		return token{kind: tErr, pos: pos, text: text, msg: "bogus IPv6 address " + text}
	}
	return token{kind: tHID6, pos: pos, text: text}
}

// matchID matches [A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?
func matchID(s string) int {
	if len(s) == 0 || !isAlnum(s[0]) {
		return 0
	}
	n, last := 1, 1
	for n < len(s) {
		c := s[n]
		if isAlnum(c) || c == '.' {
			n++
			last = n
		} else if c == '-' || c == '_' {
			n++
		} else {
			break
		}
	}
	return last
}

// matchNum matches [0-9]+ or 0[xX][0-9A-Fa-f]+.
func matchNum(s string) int {
	if len(s) >= 3 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isHex(s[2]) {
		n := 3
		for n < len(s) && isHex(s[n]) {
			n++
		}
		return n
	}
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

// matchHID matches N.N, N.N.N or N.N.N.N (N as in matchNum).
func matchHID(s string) int {
	n := matchNum(s)
	if n == 0 {
		return 0
	}
	best := 0
	for parts := 1; parts < 4; parts++ {
		if n >= len(s) || s[n] != '.' {
			break
		}
		m := matchNum(s[n+1:])
		if m == 0 {
			break
		}
		n += 1 + m
		best = n
	}
	return best
}

// matchMAC matches the five MAC spellings of scanner.l: xx:xx:xx:xx:xx:xx,
// xx-xx-..., xx.xx...., xxxx.xxxx.xxxx and xxxxxxxxxxxx (x a hex digit, the
// first three forms with one or two digits per byte).
func matchMAC(s string) int {
	best := 0
	for _, sep := range []byte{':', '-', '.'} {
		n := 0
		ok := true
		for b := 0; b < 6 && ok; b++ {
			if b > 0 {
				if n >= len(s) || s[n] != sep {
					ok = false
					break
				}
				n++
			}
			m := 0
			for m < 2 && n+m < len(s) && isHex(s[n+m]) {
				m++
			}
			if m == 0 {
				ok = false
			}
			n += m
		}
		if ok && n > best {
			best = n
		}
	}
	// xxxx.xxxx.xxxx
	if len(s) >= 14 {
		ok := true
		for j := 0; j < 14; j++ {
			if j == 4 || j == 9 {
				ok = ok && s[j] == '.'
			} else {
				ok = ok && isHex(s[j])
			}
		}
		if ok && 14 > best {
			best = 14
		}
	}
	// xxxxxxxxxxxx
	if len(s) >= 12 {
		ok := true
		for j := 0; j < 12; j++ {
			ok = ok && isHex(s[j])
		}
		if ok && 12 > best {
			best = 12
		}
	}
	return best
}

// matchBogusMAC matches {B}:+({B}:+)+, which scanner.l reports as a bogus
// ethernet address when nothing longer matches.
func matchBogusMAC(s string) int {
	n, groups := 0, 0
	for {
		m := 0
		for m < 2 && n+m < len(s) && isHex(s[n+m]) {
			m++
		}
		if m == 0 {
			break
		}
		c := 0
		for n+m+c < len(s) && s[n+m+c] == ':' {
			c++
		}
		if c == 0 {
			break
		}
		n += m + c
		groups++
	}
	if groups < 2 {
		return 0
	}
	return n
}

// matchV6 returns the length of the longest prefix of s that is an IPv6
// address as scanner.l's V6 patterns spell them (hex groups of up to four
// digits, at most one "::", optionally ending in a dotted IPv4 part).
func matchV6(s string) int {
	n := 0
	for n < len(s) && n < 64 && (isHex(s[n]) || s[n] == ':' || s[n] == '.' || s[n] == 'x' || s[n] == 'X') {
		n++
	}
	for ; n >= 2; n-- {
		if strings.IndexByte(s[:n], ':') >= 0 && isV6Lexeme(s[:n]) {
			return n
		}
	}
	return 0
}

// isV6Lexeme reports whether s matches one of scanner.l's V6 patterns:
// eight groups, or at most seven around one "::", a dotted IPv4 tail
// counting as two groups.
func isV6Lexeme(s string) bool {
	tailGroups := 0
	if strings.IndexByte(s, '.') >= 0 {
		c := strings.LastIndexByte(s, ':')
		if c < 0 {
			return false
		}
		tail := s[c+1:]
		if matchHID(tail) != len(tail) || strings.Count(tail, ".") != 3 {
			return false
		}
		tailGroups = 2
		if c > 0 && s[c-1] == ':' {
			s = s[:c+1] // keep the "::" before the tail
		} else {
			s = s[:c]
		}
	}
	left, right, dbl := strings.Cut(s, "::")
	if !dbl {
		n, ok := countGroups(s)
		return ok && n+tailGroups == 8
	}
	nl, okl := countGroups(left)
	nr, okr := countGroups(right)
	return okl && okr && nl+nr+tailGroups <= 7
}

// countGroups counts colon-separated groups of 1-4 hex digits; "" is zero.
func countGroups(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	n := 0
	for _, g := range strings.Split(s, ":") {
		if len(g) == 0 || len(g) > 4 {
			return 0, false
		}
		for j := 0; j < len(g); j++ {
			if !isHex(g[j]) {
				return 0, false
			}
		}
		n++
	}
	return n, true
}

// parseNum converts a number lexeme as libpcap's stou does: 0x hex, a
// leading 0 octal, else decimal; more than 32 bits is an error.
func parseNum(s string) (uint32, string) {
	var v uint64
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		for _, c := range []byte(s[2:]) {
			v = v<<4 | uint64(hexVal(c))
			if v > 0xffffffff {
				return 0, "number " + s + " overflows 32 bits"
			}
		}
	case len(s) > 1 && s[0] == '0':
		for _, c := range []byte(s[1:]) {
			if c > '7' {
				return 0, "number " + s + " contains non-octal digit"
			}
			v = v<<3 | uint64(c-'0')
			if v > 0xffffffff {
				return 0, "number " + s + " overflows 32 bits"
			}
		}
	default:
		for _, c := range []byte(s) {
			v = v*10 + uint64(c-'0')
			if v > 0xffffffff {
				return 0, "number " + s + " overflows 32 bits"
			}
		}
	}
	return uint32(v), ""
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
