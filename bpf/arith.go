package bpf

// Arithmetic: relations such as tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420.
// Constants are folded; a load with a constant offset is one instruction.
// The protocol checks that libpcap attaches to loads are kept, with its
// quirk: a binary operator keeps only the checks of its left operand.

// value is compiled arithmetic: code leaving the value in A, or a
// constant, and the protocol checks under which the value means anything.
type value struct {
	code    []insn
	isConst bool
	k       uint32
	checks  cond
	literal bool // a number as written (libpcap's "a1->s is BPF_LD|BPF_IMM")
}

// numScratch is BPF_MEMWORDS, the scratch words a program may use.
const numScratch = 16

func (g *codegen) alloc(at int) (uint32, error) {
	if g.regs >= numScratch {
		return 0, g.errorf(at, "too many registers needed to evaluate expression")
	}
	g.regs++
	return g.regs - 1, nil
}

func (g *codegen) free() { g.regs-- }

// materialize returns code that leaves v in A.
func (v value) materialize() []insn {
	if v.isConst {
		return []insn{ldImm(v.k)}
	}
	return v.code
}

func (g *codegen) relation(n *relNode) (cond, error) {
	l, err := g.arith(n.at, n.l)
	if err != nil {
		return nil, err
	}
	r, err := g.arith(n.at, n.r)
	if err != nil {
		return nil, err
	}
	checks := and(l.checks, r.checks)
	var c cond
	switch {
	case l.isConst && r.isConst:
		var ok bool
		switch n.op {
		case opJEQ:
			ok = l.k == r.k
		case opJGT:
			ok = l.k > r.k
		case opJGE:
			ok = l.k >= r.k
		}
		c = constCond(ok)
	case r.isConst && r.k == 0 && n.op == opJEQ && endsInAnd(l.code):
		// "x & m = 0" is "not (x & m)": one jset, as libpcap's optimiser makes it.
		m := l.code[len(l.code)-1].k
		c = not(&test{stmts: l.code[:len(l.code)-1], op: opJSET | srcK, k: m})
	case r.isConst:
		c = &test{stmts: l.code, op: n.op | srcK, k: r.k}
	case l.isConst && n.op == opJEQ:
		c = &test{stmts: r.code, op: opJEQ | srcK, k: l.k}
	default:
		reg, err := g.alloc(n.at)
		if err != nil {
			return nil, err
		}
		s := append(append(append([]insn{}, l.materialize()...), st(reg)), r.code...)
		s = append(s, tax(), ldMem(reg))
		g.free()
		c = &test{stmts: s, op: n.op | srcX}
	}
	if n.reversed {
		c = not(c)
	}
	return and(checks, c), nil
}

func endsInAnd(code []insn) bool {
	return len(code) > 0 && code[len(code)-1].op == clsALU|opAND|srcK
}

// arith compiles an arithmetic expression.
func (g *codegen) arith(at int, a arith) (value, error) {
	switch a := a.(type) {
	case numArith:
		return value{isConst: true, k: a.v, literal: true}, nil
	case lenArith:
		return value{code: []insn{ldLen()}}, nil
	case *negArith:
		x, err := g.arith(at, a.x)
		if err != nil {
			return value{}, err
		}
		if x.isConst {
			return value{isConst: true, k: -x.k, checks: x.checks}, nil
		}
		// 0 - A rather than BPF_NEG, which golang.org/x/net/bpf's VM cannot run.
		code := append(append([]insn{}, x.code...), tax(), ldImm(0), aluX(opSUB))
		return value{code: code, checks: x.checks}, nil
	case *binArith:
		return g.binary(at, a)
	case *loadArith:
		return g.load(a)
	}
	panic("bpf: unknown arithmetic node")
}

func (g *codegen) binary(at int, a *binArith) (value, error) {
	l, err := g.arith(at, a.l)
	if err != nil {
		return value{}, err
	}
	r, err := g.arith(at, a.r)
	if err != nil {
		return value{}, err
	}
	if r.isConst {
		switch {
		case (a.op == opDIV) && r.k == 0:
			return value{}, g.errorf(at, "division by zero")
		case a.op == opMOD && r.k == 0:
			return value{}, g.errorf(at, "modulus by zero")
		case (a.op == opLSH || a.op == opRSH) && r.literal && r.k > 31:
			return value{}, g.errorf(at, "shift by more than 31 bits")
		}
	}
	if l.isConst && r.isConst {
		return value{isConst: true, k: alu(a.op, l.k, r.k), checks: l.checks}, nil
	}
	var code []insn
	switch {
	case r.isConst:
		code = append(append([]insn{}, l.code...), aluK(a.op, r.k))
	case l.isConst:
		code = append(append([]insn{}, r.code...), tax(), ldImm(l.k), aluX(a.op))
	default:
		reg, err := g.alloc(at)
		if err != nil {
			return value{}, err
		}
		code = append(append([]insn{}, l.code...), st(reg))
		code = append(code, r.code...)
		code = append(code, tax(), ldMem(reg), aluX(a.op))
		g.free()
	}
	return value{code: code, checks: l.checks}, nil
}

// alu computes op on constants as the BPF machine does.
func alu(op uint16, a, b uint32) uint32 {
	switch op {
	case opADD:
		return a + b
	case opSUB:
		return a - b
	case opMUL:
		return a * b
	case opDIV:
		return a / b
	case opMOD:
		return a % b
	case opAND:
		return a & b
	case opOR:
		return a | b
	case opXOR:
		return a ^ b
	case opLSH:
		if b > 31 {
			return 0
		}
		return a << b
	case opRSH:
		if b > 31 {
			return 0
		}
		return a >> b
	}
	panic("bpf: bad ALU op")
}

// maxFoldedOffset bounds offsets folded into a load instruction; larger
// ones are computed at run time, as libpcap does, so that the same bytes
// (or the same out-of-bounds rejection) result.
const maxFoldedOffset = 0xffff

// load is gen_load: proto[idx:size] with libpcap's protocol checks.
func (g *codegen) load(a *loadArith) (value, error) {
	idx, err := g.arith(a.at, a.idx)
	if err != nil {
		return value{}, err
	}
	size := map[uint32]uint16{1: szB, 2: szH, 4: szW}[a.size]
	l := g.l
	var v value
	switch a.proto {
	case kwLink:
		// On a live cooked socket only constant offsets can be moved.
		if g.liveCooked() && !(idx.isConst && idx.k <= maxFoldedOffset && g.cookedLoadOK(l.linkHdr+idx.k, size)) {
			return value{}, g.errCookedLoad(a.at)
		}
		v.code = g.indexed(idx, l.linkHdr, size, false)
		v.checks = idx.checks
	case kwIP, kwARP, kwRARP, kwATalk, kwSCA, kwLAT, kwMOPRC, kwMOPDL, kwIP6:
		v.code = g.indexed(idx, l.linkPL+l.nl, size, g.varOff)
		abbrev, err := g.protoAbbrev(a.at, a.proto)
		if err != nil {
			return value{}, err
		}
		v.checks = and(idx.checks, abbrev)
	case kwICMP6:
		v.code = g.indexed(idx, l.linkPL+l.nl+40, size, g.varOff)
		ip6, _ := g.protoAbbrev(a.at, kwIP6)
		v.checks = and(and(idx.checks, ip6), g.cmp(orLinkPL, 6, szB, ipprotoICMP6))
	default: // transport: tcp udp sctp icmp igmp igrp pim vrrp carp (IPv4 only)
		hdr := l.linkPL + l.nl
		x := g.loadxIPHdrLen()
		switch {
		case idx.isConst && idx.k <= maxFoldedOffset:
			v.code = append(x, ldInd(size, hdr+idx.k))
		case idx.isConst:
			v.code = append(x, insn{op: clsMISC | miscTXA}, aluK(opADD, idx.k), tax(), ldInd(size, hdr))
		default:
			reg, err := g.alloc(a.at)
			if err != nil {
				return value{}, err
			}
			v.code = append(append([]insn{}, idx.code...), st(reg))
			v.code = append(append(v.code, x...), ldMem(reg), aluX(opADD), tax(), ldInd(size, hdr))
			g.free()
		}
		ip, _ := g.protoAbbrev(a.at, kwIP)
		abbrev, err := g.protoAbbrev(a.at, a.proto)
		if err != nil {
			return value{}, err
		}
		v.checks = and(ip, and(idx.checks, and(abbrev, g.ipfrag())))
	}
	return v, nil
}

// indexed loads size bytes at base+idx; with variable, base also has the
// run-time part of a live "vlan" (libpcap's gen_abs_offset_varpart).
func (g *codegen) indexed(idx value, base uint32, size uint16, variable bool) []insn {
	switch {
	case idx.isConst && idx.k <= maxFoldedOffset && variable:
		return []insn{ldxMem(vlanReg), ldInd(size, base+idx.k)}
	case idx.isConst && idx.k <= maxFoldedOffset:
		return []insn{ldAbs(size, base+idx.k)}
	case variable:
		return append(append([]insn{}, idx.materialize()...), ldxMem(vlanReg), aluX(opADD), tax(), ldInd(size, base))
	}
	return append(append([]insn{}, idx.materialize()...), tax(), ldInd(size, base))
}
