package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// vm is a small interpreter for classic BPF, faster than
// golang.org/x/net/bpf's (no interface dispatch, one dense switch) and,
// like libpcap's bpf_filter, giving "len" the wire length. A load past the
// end of the packet, or a division by zero, rejects the packet, as in the
// kernel. Ancillary loads (Linux SKF_AD_*) are not supported.
type vm []vmInsn

type vmInsn struct {
	op     vmOp
	jt, jf uint8
	k      uint32
	k2     uint32 // the compared constant of a fused load-and-jump
}

type vmOp uint8

const (
	vLdAbsW vmOp = iota
	vLdAbsH
	vLdAbsB
	vLdIndW
	vLdIndH
	vLdIndB
	vLdLen
	vLdImm
	vLdMem
	vLdxImm
	vLdxMem
	vLdxLen
	vLdxMSH
	vSt
	vStx
	vAddK
	vSubK
	vMulK
	vDivK
	vModK
	vAndK
	vOrK
	vXorK
	vLshK
	vRshK
	vAddX
	vSubX
	vMulX
	vDivX
	vModX
	vAndX
	vOrX
	vXorX
	vLshX
	vRshX
	vNeg
	vJa
	vJeqK
	vJgtK
	vJgeK
	vJsetK
	vJeqX
	vJgtX
	vJgeX
	vJsetX
	vRetK
	vRetA
	vTax
	vTxa

	// Fused "load; jeq/jset #k2", the commonest pair, one dispatch instead
	// of two. A still gets the loaded value.
	vJeqAbsW
	vJeqAbsH
	vJeqAbsB
	vJeqIndH
	vJsetAbsH
)

var aluOps = map[uint16][2]vmOp{
	opADD: {vAddK, vAddX}, opSUB: {vSubK, vSubX}, opMUL: {vMulK, vMulX},
	opDIV: {vDivK, vDivX}, opMOD: {vModK, vModX}, opAND: {vAndK, vAndX},
	opOR: {vOrK, vOrX}, opXOR: {vXorK, vXorX}, opLSH: {vLshK, vLshX}, opRSH: {vRshK, vRshX},
}

var jmpOps = map[uint16][2]vmOp{
	opJEQ: {vJeqK, vJeqX}, opJGT: {vJgtK, vJgtX}, opJGE: {vJgeK, vJgeX}, opJSET: {vJsetK, vJsetX},
}

// errBadProgram reports a program the interpreter will not run.
var errBadProgram = errors.New("invalid BPF program")

// newVM checks a program as the kernel's bpf_check_classic does (known
// opcodes, jumps forward and in range, scratch words 0-15, no constant
// division by zero, a return at the end) and decodes it.
func newVM(raw []bpf.RawInstruction) (vm, error) {
	if len(raw) == 0 || len(raw) > maxInsns {
		return nil, fmt.Errorf("%w: %d instructions", errBadProgram, len(raw))
	}
	v := make(vm, len(raw))
	for i, r := range raw {
		bad := func(why string) error {
			return fmt.Errorf("%w: instruction %d (%#x): %s", errBadProgram, i, r.Op, why)
		}
		in := vmInsn{jt: r.Jt, jf: r.Jf, k: r.K}
		op := r.Op
		switch op & 0x07 {
		case clsLD:
			switch op {
			case clsLD | szW | modeABS:
				in.op = vLdAbsW
			case clsLD | szH | modeABS:
				in.op = vLdAbsH
			case clsLD | szB | modeABS:
				in.op = vLdAbsB
			case clsLD | szW | modeIND:
				in.op = vLdIndW
			case clsLD | szH | modeIND:
				in.op = vLdIndH
			case clsLD | szB | modeIND:
				in.op = vLdIndB
			case clsLD | szW | modeLEN:
				in.op = vLdLen
			case clsLD | modeIMM:
				in.op = vLdImm
			case clsLD | modeMEM:
				in.op = vLdMem
			default:
				return nil, bad("unknown load")
			}
			if (in.op == vLdAbsW || in.op == vLdAbsH || in.op == vLdAbsB) && r.K >= 0xfffff000 {
				return nil, bad("ancillary (SKF_AD) loads are not supported")
			}
		case clsLDX:
			switch op {
			case clsLDX | modeIMM:
				in.op = vLdxImm
			case clsLDX | modeMEM:
				in.op = vLdxMem
			case clsLDX | szW | modeLEN:
				in.op = vLdxLen
			case clsLDX | szB | modeMSH:
				in.op = vLdxMSH
			default:
				return nil, bad("unknown load into X")
			}
		case clsST:
			if op != clsST {
				return nil, bad("unknown store")
			}
			in.op = vSt
		case clsSTX:
			if op != clsSTX {
				return nil, bad("unknown store")
			}
			in.op = vStx
		case clsALU:
			if op == clsALU|opNEG {
				in.op = vNeg
				break
			}
			ops, ok := aluOps[op&0xf0]
			if !ok {
				return nil, bad("unknown ALU operation")
			}
			if op&srcX != 0 {
				in.op = ops[1]
			} else {
				in.op = ops[0]
				if (op&0xf0 == opDIV || op&0xf0 == opMOD) && r.K == 0 {
					return nil, bad("division by zero")
				}
			}
		case clsJMP:
			if op&0xf0 == opJA {
				if op != clsJMP|opJA {
					return nil, bad("unknown jump")
				}
				in.op = vJa
				if uint64(i)+1+uint64(r.K) >= uint64(len(raw)) {
					return nil, bad("jump out of range")
				}
				break
			}
			ops, ok := jmpOps[op&0xf0]
			if !ok {
				return nil, bad("unknown jump")
			}
			in.op = ops[0]
			if op&srcX != 0 {
				in.op = ops[1]
			}
			if i+1+int(r.Jt) >= len(raw) || i+1+int(r.Jf) >= len(raw) {
				return nil, bad("jump out of range")
			}
		case clsRET:
			switch op {
			case clsRET | retK:
				in.op = vRetK
			case clsRET | retA:
				in.op = vRetA
			default:
				return nil, bad("unknown return")
			}
		case clsMISC:
			switch op {
			case clsMISC | miscTAX:
				in.op = vTax
			case clsMISC | miscTXA:
				in.op = vTxa
			default:
				return nil, bad("unknown misc operation")
			}
		}
		if (in.op == vLdMem || in.op == vLdxMem || in.op == vSt || in.op == vStx) && r.K >= numScratch {
			return nil, bad("scratch word out of range")
		}
		v[i] = in
	}
	if last := v[len(v)-1].op; last != vRetK && last != vRetA {
		return nil, fmt.Errorf("%w: does not end with a return", errBadProgram)
	}
	v.fuse()
	return v, nil
}

// fuse turns "load; jeq #k" (and "ldh [k]; jset #k") into one instruction
// where no jump lands on the second. The second stays in place, never run,
// so that every offset keeps its meaning.
func (v vm) fuse() {
	target := make([]bool, len(v))
	for i, in := range v {
		switch {
		case in.op == vJa:
			target[i+1+int(in.k)] = true
		case in.op >= vJeqK && in.op <= vJsetX:
			target[i+1+int(in.jt)] = true
			target[i+1+int(in.jf)] = true
		}
	}
	for i := 0; i+1 < len(v); i++ {
		j := v[i+1]
		if target[i+1] || j.jt == 255 || j.jf == 255 {
			continue
		}
		var op vmOp
		switch {
		case j.op == vJeqK && v[i].op == vLdAbsW:
			op = vJeqAbsW
		case j.op == vJeqK && v[i].op == vLdAbsH:
			op = vJeqAbsH
		case j.op == vJeqK && v[i].op == vLdAbsB:
			op = vJeqAbsB
		case j.op == vJeqK && v[i].op == vLdIndH:
			op = vJeqIndH
		case j.op == vJsetK && v[i].op == vLdAbsH:
			op = vJsetAbsH
		default:
			continue
		}
		v[i] = vmInsn{op: op, jt: j.jt + 1, jf: j.jf + 1, k: v[i].k, k2: j.k}
	}
}

// run returns what the program returns for pkt (0: reject).
func (v vm) run(pkt []byte, wireLen uint32) uint32 {
	var a, x uint32
	var mem [numScratch]uint32
	n := uint(len(pkt))
	for pc := 0; pc < len(v); pc++ {
		in := &v[pc]
		switch in.op {
		case vLdAbsW:
			k := uint(in.k)
			if k+4 > n {
				return 0
			}
			a = binary.BigEndian.Uint32(pkt[k : k+4])
		case vLdAbsH:
			k := uint(in.k)
			if k+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(pkt[k : k+2]))
		case vLdAbsB:
			k := uint(in.k)
			if k >= n {
				return 0
			}
			a = uint32(pkt[k])
		case vLdIndW:
			k := uint(x) + uint(in.k)
			if k+4 > n {
				return 0
			}
			a = binary.BigEndian.Uint32(pkt[k : k+4])
		case vLdIndH:
			k := uint(x) + uint(in.k)
			if k+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(pkt[k : k+2]))
		case vLdIndB:
			k := uint(x) + uint(in.k)
			if k >= n {
				return 0
			}
			a = uint32(pkt[k])
		case vLdLen:
			a = wireLen
		case vLdImm:
			a = in.k
		case vLdMem:
			a = mem[in.k&(numScratch-1)]
		case vLdxImm:
			x = in.k
		case vLdxMem:
			x = mem[in.k&(numScratch-1)]
		case vLdxLen:
			x = wireLen
		case vLdxMSH:
			k := uint(in.k)
			if k >= n {
				return 0
			}
			x = uint32(pkt[k]&0xf) << 2
		case vSt:
			mem[in.k&(numScratch-1)] = a
		case vStx:
			mem[in.k&(numScratch-1)] = x
		case vAddK:
			a += in.k
		case vSubK:
			a -= in.k
		case vMulK:
			a *= in.k
		case vDivK:
			a /= in.k
		case vModK:
			a %= in.k
		case vAndK:
			a &= in.k
		case vOrK:
			a |= in.k
		case vXorK:
			a ^= in.k
		case vLshK:
			a = shl(a, in.k)
		case vRshK:
			a = shr(a, in.k)
		case vAddX:
			a += x
		case vSubX:
			a -= x
		case vMulX:
			a *= x
		case vDivX:
			if x == 0 {
				return 0
			}
			a /= x
		case vModX:
			if x == 0 {
				return 0
			}
			a %= x
		case vAndX:
			a &= x
		case vOrX:
			a |= x
		case vXorX:
			a ^= x
		case vLshX:
			a = shl(a, x)
		case vRshX:
			a = shr(a, x)
		case vNeg:
			a = -a
		case vJa:
			pc += int(in.k)
		case vJeqK:
			pc += jump(a == in.k, in)
		case vJgtK:
			pc += jump(a > in.k, in)
		case vJgeK:
			pc += jump(a >= in.k, in)
		case vJsetK:
			pc += jump(a&in.k != 0, in)
		case vJeqX:
			pc += jump(a == x, in)
		case vJgtX:
			pc += jump(a > x, in)
		case vJgeX:
			pc += jump(a >= x, in)
		case vJsetX:
			pc += jump(a&x != 0, in)
		case vRetK:
			return in.k
		case vRetA:
			return a
		case vTax:
			x = a
		case vTxa:
			a = x
		case vJeqAbsW:
			k := uint(in.k)
			if k+4 > n {
				return 0
			}
			a = binary.BigEndian.Uint32(pkt[k : k+4])
			pc += jump(a == in.k2, in)
		case vJeqAbsH:
			k := uint(in.k)
			if k+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(pkt[k : k+2]))
			pc += jump(a == in.k2, in)
		case vJeqAbsB:
			k := uint(in.k)
			if k >= n {
				return 0
			}
			a = uint32(pkt[k])
			pc += jump(a == in.k2, in)
		case vJeqIndH:
			k := uint(x) + uint(in.k)
			if k+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(pkt[k : k+2]))
			pc += jump(a == in.k2, in)
		case vJsetAbsH:
			k := uint(in.k)
			if k+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(pkt[k : k+2]))
			pc += jump(a&in.k2 != 0, in)
		}
	}
	return 0
}

func jump(cond bool, in *vmInsn) int {
	if cond {
		return int(in.jt)
	}
	return int(in.jf)
}

// Shifts by 32 or more give 0, as in golang.org/x/net/bpf.
func shl(a, s uint32) uint32 {
	if s > 31 {
		return 0
	}
	return a << s
}

func shr(a, s uint32) uint32 {
	if s > 31 {
		return 0
	}
	return a >> s
}
