package bpf

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// Style selects one of tcpdump's program dump formats.
type Style int

const (
	// Listing is tcpdump -d: one disassembled instruction per line.
	Listing Style = iota
	// CArray is tcpdump -dd: a C array initialiser.
	CArray
	// Decimal is tcpdump -ddd: the count, then "code jt jf k" per line, the
	// format iptables' bpf match and other tcpdump -ddd consumers load.
	Decimal
)

// Format prints a program as tcpdump prints its own with -d, -dd or -ddd,
// byte for byte.
func Format(p *Program, style Style) string {
	return FormatRaw(p.Raw(), style)
}

// FormatRaw is Format for raw instructions from anywhere.
func FormatRaw(raw []bpf.RawInstruction, style Style) string {
	var b strings.Builder
	switch style {
	case Decimal:
		fmt.Fprintf(&b, "%d\n", len(raw))
		for _, r := range raw {
			fmt.Fprintf(&b, "%d %d %d %d\n", r.Op, r.Jt, r.Jf, r.K)
		}
	case CArray:
		for _, r := range raw {
			fmt.Fprintf(&b, "{ 0x%x, %d, %d, 0x%08x },\n", r.Op, r.Jt, r.Jf, r.K)
		}
	default:
		for i, r := range raw {
			b.WriteString(image(r, i))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Names libpcap prints for Linux ancillary loads (SKF_AD_OFF + n).
var skfNames = map[uint32]string{
	0: "proto", 4: "type", 8: "ifidx", 12: "nla", 16: "nlan", 20: "mark", 24: "queue",
	28: "hatype", 32: "rxhash", 36: "cpu", 40: "xor_x", 44: "vlan_tci", 48: "vlanp",
	52: "poff", 56: "random", 60: "vlan_tpid",
}

// image is libpcap's bpf_image: one instruction of a -d listing.
func image(r bpf.RawInstruction, n int) string {
	k := r.K
	sk := int32(k) // libpcap prints several operands with %d
	var op, operand string
	abs := func() string {
		if k >= 0xfffff000 {
			if name, ok := skfNames[k-0xfffff000]; ok {
				return "[" + name + "]"
			}
		}
		return fmt.Sprintf("[%d]", sk)
	}
	switch r.Op {
	default:
		op, operand = "unimp", fmt.Sprintf("0x%x", r.Op)
	case clsRET | retK:
		op, operand = "ret", fmt.Sprintf("#%d", sk)
	case clsRET | retA:
		op = "ret"
	case clsLD | szW | modeABS:
		op, operand = "ld", abs()
	case clsLD | szH | modeABS:
		op, operand = "ldh", abs()
	case clsLD | szB | modeABS:
		op, operand = "ldb", abs()
	case clsLD | szW | modeLEN:
		op, operand = "ld", "#pktlen"
	case clsLD | szW | modeIND:
		op, operand = "ld", fmt.Sprintf("[x + %d]", sk)
	case clsLD | szH | modeIND:
		op, operand = "ldh", fmt.Sprintf("[x + %d]", sk)
	case clsLD | szB | modeIND:
		op, operand = "ldb", fmt.Sprintf("[x + %d]", sk)
	case clsLD | modeIMM:
		op, operand = "ld", fmt.Sprintf("#0x%x", k)
	case clsLDX | modeIMM:
		op, operand = "ldx", fmt.Sprintf("#0x%x", k)
	case clsLDX | szB | modeMSH:
		op, operand = "ldxb", fmt.Sprintf("4*([%d]&0xf)", sk)
	case clsLD | modeMEM:
		op, operand = "ld", fmt.Sprintf("M[%d]", sk)
	case clsLDX | modeMEM:
		op, operand = "ldx", fmt.Sprintf("M[%d]", sk)
	case clsST:
		op, operand = "st", fmt.Sprintf("M[%d]", sk)
	case clsSTX:
		op, operand = "stx", fmt.Sprintf("M[%d]", sk)
	case clsJMP | opJA:
		op, operand = "ja", fmt.Sprintf("%d", int32(uint32(n)+1+k))
	case clsJMP | opJGT | srcK:
		op, operand = "jgt", fmt.Sprintf("#0x%x", k)
	case clsJMP | opJGE | srcK:
		op, operand = "jge", fmt.Sprintf("#0x%x", k)
	case clsJMP | opJEQ | srcK:
		op, operand = "jeq", fmt.Sprintf("#0x%x", k)
	case clsJMP | opJSET | srcK:
		op, operand = "jset", fmt.Sprintf("#0x%x", k)
	case clsJMP | opJGT | srcX:
		op, operand = "jgt", "x"
	case clsJMP | opJGE | srcX:
		op, operand = "jge", "x"
	case clsJMP | opJEQ | srcX:
		op, operand = "jeq", "x"
	case clsJMP | opJSET | srcX:
		op, operand = "jset", "x"
	case clsALU | opADD | srcX:
		op, operand = "add", "x"
	case clsALU | opSUB | srcX:
		op, operand = "sub", "x"
	case clsALU | opMUL | srcX:
		op, operand = "mul", "x"
	case clsALU | opDIV | srcX:
		op, operand = "div", "x"
	case clsALU | opMOD | srcX:
		op, operand = "mod", "x"
	case clsALU | opAND | srcX:
		op, operand = "and", "x"
	case clsALU | opOR | srcX:
		op, operand = "or", "x"
	case clsALU | opXOR | srcX:
		op, operand = "xor", "x"
	case clsALU | opLSH | srcX:
		op, operand = "lsh", "x"
	case clsALU | opRSH | srcX:
		op, operand = "rsh", "x"
	case clsALU | opADD | srcK:
		op, operand = "add", fmt.Sprintf("#%d", sk)
	case clsALU | opSUB | srcK:
		op, operand = "sub", fmt.Sprintf("#%d", sk)
	case clsALU | opMUL | srcK:
		op, operand = "mul", fmt.Sprintf("#%d", sk)
	case clsALU | opDIV | srcK:
		op, operand = "div", fmt.Sprintf("#%d", sk)
	case clsALU | opMOD | srcK:
		op, operand = "mod", fmt.Sprintf("#%d", sk)
	case clsALU | opAND | srcK:
		op, operand = "and", fmt.Sprintf("#0x%x", k)
	case clsALU | opOR | srcK:
		op, operand = "or", fmt.Sprintf("#0x%x", k)
	case clsALU | opXOR | srcK:
		op, operand = "xor", fmt.Sprintf("#0x%x", k)
	case clsALU | opLSH | srcK:
		op, operand = "lsh", fmt.Sprintf("#%d", sk)
	case clsALU | opRSH | srcK:
		op, operand = "rsh", fmt.Sprintf("#%d", sk)
	case clsALU | opNEG:
		op = "neg"
	case clsMISC | miscTAX:
		op = "tax"
	case clsMISC | miscTXA:
		op = "txa"
	}
	if r.Op&0x07 == clsJMP && r.Op&0xf0 != opJA {
		return fmt.Sprintf("(%03d) %-8s %-16s jt %d\tjf %d", n, op, operand, n+1+int(r.Jt), n+1+int(r.Jf))
	}
	return fmt.Sprintf("(%03d) %-8s %s", n, op, operand)
}
