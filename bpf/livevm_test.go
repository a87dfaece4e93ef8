package bpf

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/net/bpf"
)

// A test interpreter for live programs: classic BPF as the Linux kernel
// runs a socket filter, with the ancillary loads flowcap's live code uses
// answered from per-packet metadata. Neither golang.org/x/net/bpf's VM nor
// flowcap's (vm.go, kept lean for files) implements them. Its loop is
// written apart from vm.go's, so the two also check each other.

// kernelMeta is what the kernel keeps beside a packet (struct sk_buff)
// and a socket filter reads through SKF_AD_* loads.
type kernelMeta struct {
	protocol    uint16 // skb->protocol, host order (after a VLAN tag came off: the inner type)
	pktType     uint8  // PACKET_HOST 0, BROADCAST 1, MULTICAST 2, OTHERHOST 3, OUTGOING 4
	ifindex     uint32
	vlanPresent bool // the kernel took the outer VLAN tag off the frame
	vlanTCI     uint16
}

// runKernel returns what raw returns for pkt. wireLen is skb->len, what
// "len" reads. A load past the end of pkt, or a division by zero, rejects.
func runKernel(raw []bpf.RawInstruction, pkt []byte, wireLen uint32, m kernelMeta) (uint32, error) {
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(raw); pc++ {
		r := raw[pc]
		k := r.K
		switch r.Op & 0x07 {
		case clsLD, clsLDX:
			var v uint32
			size := r.Op & 0x18
			switch r.Op & 0xe0 {
			case modeIMM:
				v = k
			case modeLEN:
				v = wireLen
			case modeMEM:
				v = mem[k&15]
			case modeABS:
				if k >= skfOff {
					// The kernel ignores the size of an ancillary load.
					switch k - skfOff {
					case skfProtocol:
						v = uint32(m.protocol)
					case skfPktType:
						v = uint32(m.pktType)
					case skfIfindex:
						v = m.ifindex
					case skfVlanTag:
						v = uint32(m.vlanTCI)
					case skfVlanPresent:
						if m.vlanPresent {
							v = 1
						}
					default:
						return 0, fmt.Errorf("instruction %d: ancillary load %#x not simulated", pc, k)
					}
					break
				}
				var ok bool
				if v, ok = loadBytes(pkt, uint64(k), size); !ok {
					return 0, nil
				}
			case modeIND:
				var ok bool
				if v, ok = loadBytes(pkt, uint64(x)+uint64(k), size); !ok {
					return 0, nil
				}
			case modeMSH:
				b, ok := loadBytes(pkt, uint64(k), szB)
				if !ok {
					return 0, nil
				}
				v = b & 0xf << 2
			default:
				return 0, fmt.Errorf("instruction %d: bad load %#x", pc, r.Op)
			}
			if r.Op&0x07 == clsLD {
				a = v
			} else {
				x = v
			}
		case clsST:
			mem[k&15] = a
		case clsSTX:
			mem[k&15] = x
		case clsALU:
			op := r.Op & 0xf0
			if op == opNEG {
				a = -a
				break
			}
			b := k
			if r.Op&srcX != 0 {
				b = x
			}
			if (op == opDIV || op == opMOD) && b == 0 {
				return 0, nil
			}
			a = alu(op, a, b)
		case clsJMP:
			op := r.Op & 0xf0
			if op == opJA {
				pc += int(k)
				break
			}
			b := k
			if r.Op&srcX != 0 {
				b = x
			}
			if test1(op, a, b) {
				pc += int(r.Jt)
			} else {
				pc += int(r.Jf)
			}
		case clsRET:
			if r.Op&0x18 == retA {
				return a, nil
			}
			return k, nil
		case clsMISC:
			if r.Op&0xf8 == miscTXA {
				a = x
			} else {
				x = a
			}
		}
	}
	return 0, fmt.Errorf("ran off the end of the program")
}

// loadBytes reads a big-endian value of size (szW, szH, szB) at off; ok is
// false past the end of pkt, or for an indirect offset X+k that overflows
// 32 bits (vm.go rejects those too; no program here makes one).
func loadBytes(pkt []byte, off uint64, size uint16) (v uint32, ok bool) {
	n := uint64(1)
	switch size {
	case szW:
		n = 4
	case szH:
		n = 2
	}
	if off > 0xffffffff || off+n > uint64(len(pkt)) {
		return 0, false
	}
	switch size {
	case szW:
		return binary.BigEndian.Uint32(pkt[off:]), true
	case szH:
		return uint32(binary.BigEndian.Uint16(pkt[off:])), true
	}
	return uint32(pkt[off]), true
}
