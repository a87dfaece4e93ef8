package bpf

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Classic BPF opcodes (linux/filter.h, pcap/bpf.h).
const (
	clsLD   = 0x00
	clsLDX  = 0x01
	clsST   = 0x02
	clsSTX  = 0x03
	clsALU  = 0x04
	clsJMP  = 0x05
	clsRET  = 0x06
	clsMISC = 0x07

	szW = 0x00
	szH = 0x08
	szB = 0x10

	modeIMM = 0x00
	modeABS = 0x20
	modeIND = 0x40
	modeMEM = 0x60
	modeLEN = 0x80
	modeMSH = 0xa0

	opADD = 0x00
	opSUB = 0x10
	opMUL = 0x20
	opDIV = 0x30
	opOR  = 0x40
	opAND = 0x50
	opLSH = 0x60
	opRSH = 0x70
	opNEG = 0x80
	opMOD = 0x90
	opXOR = 0xa0

	opJA   = 0x00
	opJEQ  = 0x10
	opJGT  = 0x20
	opJGE  = 0x30
	opJSET = 0x40

	srcK = 0x00
	srcX = 0x08

	retK = 0x00
	retA = 0x10

	miscTAX = 0x00
	miscTXA = 0x80
)

// Limits the kernel puts on a classic BPF program (BPF_MAXINSNS, and
// 8-bit conditional jump offsets).
const (
	maxInsns   = 4096
	maxCondJmp = 255

	// maxUnoptimized bounds the code handed to the optimiser.
	maxUnoptimized = 3 * maxInsns
)

// label names a position in a program under construction; 0 is no label.
type label int32

// insn is one instruction of a program under construction. A conditional
// jump goes to labels jt/jf and "ja" to jt; everything else falls through.
type insn struct {
	op     uint16
	k      uint32
	jt, jf label
}

func (i insn) class() uint16 { return i.op & 0x07 }

// isJump reports whether i transfers control (jumps and returns).
func (i insn) isJump() bool { return i.class() == clsJMP || i.class() == clsRET }

func (i insn) isCondJump() bool { return i.class() == clsJMP && i.op&0xf0 != opJA }

// Constructors for the instructions the code generator uses.
func ldAbs(size uint16, k uint32) insn { return insn{op: clsLD | size | modeABS, k: k} }
func ldInd(size uint16, k uint32) insn { return insn{op: clsLD | size | modeIND, k: k} }
func ldImm(k uint32) insn              { return insn{op: clsLD | modeIMM, k: k} }
func ldLen() insn                      { return insn{op: clsLD | szW | modeLEN} }
func ldMem(n uint32) insn              { return insn{op: clsLD | modeMEM, k: n} }
func ldxMSH(k uint32) insn             { return insn{op: clsLDX | szB | modeMSH, k: k} }
func st(n uint32) insn                 { return insn{op: clsST, k: n} }
func aluK(op uint16, k uint32) insn    { return insn{op: clsALU | op | srcK, k: k} }
func aluX(op uint16) insn              { return insn{op: clsALU | op | srcX} }
func tax() insn                        { return insn{op: clsMISC | miscTAX} }
func ja(l label) insn                  { return insn{op: clsJMP | opJA, jt: l} }
func ret(k uint32) insn                { return insn{op: clsRET | retK, k: k} }

// assembler turns a condition tree into straight-line code with symbolic
// labels ("jumping code": each test jumps to the code for its true or
// false outcome), then resolves the labels in one final pass.
type assembler struct {
	code   []insn
	labels []int // labels[l] = index of the instruction the label is placed before
}

func (a *assembler) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels)) // label 0 stays "none"
}

func (a *assembler) place(l label) { a.labels[l-1] = len(a.code) }

func (a *assembler) emit(is ...insn) { a.code = append(a.code, is...) }

// gen emits code for c that continues at t when c holds and at f when not.
// Operands are evaluated left to right, as libpcap's backpatched blocks are.
func (a *assembler) gen(c cond, t, f label) {
	switch c := c.(type) {
	case *test:
		a.emit(c.stmts...)
		a.emit(insn{op: clsJMP | c.op, k: c.k, jt: t, jf: f})
	case *andCond:
		mid := a.newLabel()
		a.gen(c.a, mid, f)
		a.place(mid)
		a.gen(c.b, t, f)
	case *orCond:
		mid := a.newLabel()
		a.gen(c.a, t, mid)
		a.place(mid)
		a.gen(c.b, t, f)
	case *notCond:
		a.gen(c.x, f, t)
	case *effect:
		a.emit(c.stmts...)
		a.emit(ja(t))
	case constCond:
		if c {
			a.emit(ja(t))
		} else {
			a.emit(ja(f))
		}
	default:
		panic(fmt.Sprintf("bpf: unknown condition %T", c))
	}
}

// assemble generates the whole program for c: accept returns snaplen,
// reject returns 0.
func assemble(c cond, snaplen uint32) ([]bpf.RawInstruction, error) {
	var a assembler
	accept, reject := a.newLabel(), a.newLabel()
	a.gen(c, accept, reject)
	a.place(accept)
	a.emit(ret(snaplen))
	a.place(reject)
	a.emit(ret(0))
	if len(a.code) > maxUnoptimized {
		// The optimiser rarely saves more than half: refuse early rather
		// than spend seconds on a program that cannot fit.
		return nil, fmt.Errorf("%w: %d instructions before optimisation, the kernel accepts at most %d", ErrTooLong, len(a.code), maxInsns)
	}
	code := optimize(a.code, a.labels)
	return resolve(code)
}

// target returns the instruction index a label stands for.
func target(labels []int, l label) int { return labels[l-1] }

// resolve replaces labels by offsets, inserting "ja" trampolines after a
// conditional jump whose target is more than 255 instructions away (as
// libpcap's optimiser does), and checks the kernel's limits. code is in
// final order with jumps expressed as instruction indexes (see optimize).
func resolve(code []jinsn) ([]bpf.RawInstruction, error) {
	for {
		var far []int
		for i, in := range code {
			if in.isCondJump() && (in.t-i-1 > maxCondJmp || in.f-i-1 > maxCondJmp) {
				far = append(far, i)
			}
		}
		if len(far) == 0 {
			break
		}
		// Insert the trampolines, renumbering every target.
		extra := make([]int, len(code)+1) // extra[i]: instructions inserted before old index i
		for _, i := range far {
			n := 0
			if code[i].t-i-1 > maxCondJmp {
				n++
			}
			if code[i].f-i-1 > maxCondJmp && code[i].f != code[i].t {
				n++
			}
			extra[i+1] += n
		}
		for i := 1; i < len(extra); i++ {
			extra[i] += extra[i-1]
		}
		remap := func(j int) int { return j + extra[j] }
		out := make([]jinsn, 0, len(code)+extra[len(code)])
		for i, in := range code {
			nt, nf := remap(in.t), remap(in.f)
			if !in.isJump() {
				out = append(out, in)
				continue
			}
			if !in.isCondJump() {
				in.t = nt
				out = append(out, in)
				continue
			}
			pos := len(out)
			tFar, fFar := in.t-i-1 > maxCondJmp, in.f-i-1 > maxCondJmp
			in.t, in.f = nt, nf
			var tramps []jinsn
			if tFar {
				tramps = append(tramps, jinsn{insn: insn{op: clsJMP | opJA}, t: nt})
				in.t = pos + 1
			}
			if fFar {
				if tFar && nf == nt {
					in.f = pos + 1
				} else {
					tramps = append(tramps, jinsn{insn: insn{op: clsJMP | opJA}, t: nf})
					in.f = pos + len(tramps)
				}
			}
			out = append(out, in)
			out = append(out, tramps...)
		}
		code = out
	}
	if len(code) > maxInsns {
		return nil, fmt.Errorf("%w: %d instructions, the kernel accepts at most %d", ErrTooLong, len(code), maxInsns)
	}
	raw := make([]bpf.RawInstruction, len(code))
	for i, in := range code {
		r := bpf.RawInstruction{Op: in.op, K: in.k}
		switch {
		case in.isCondJump():
			r.Jt, r.Jf = uint8(in.t-i-1), uint8(in.f-i-1)
		case in.class() == clsJMP:
			r.K = uint32(in.t - i - 1)
		}
		raw[i] = r
	}
	return raw, nil
}
