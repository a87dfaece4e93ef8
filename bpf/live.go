package bpf

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// Code for live Linux AF_PACKET sockets (Options.Live), as libpcap 1.10
// makes it for a capture on Linux:
//
//   - On an Ethernet interface the kernel takes the outer 802.1Q or
//     802.1ad tag off before the filter runs and keeps it beside the
//     packet. The first "vlan" tests that metadata (SKF_AD_VLAN_TAG_PRESENT,
//     SKF_AD_VLAN_TAG), and falls back to the tag types in the frame for a
//     tag left in place (0x9100, or a tag the kernel did not take off). The
//     offsets after it get a part known only at run time, kept in scratch
//     word vlanReg: 0 when the tag is in the metadata, 4 when it is in the
//     frame (gencode.c gen_vlan_bpf_extensions).
//   - The cooked socket of "any" (LINUX_SLL, LINUX_SLL2) hands the filter
//     the network-layer packet: the program is compiled for the cooked
//     header, then its loads are moved (pcap-linux.c fix_program): header
//     fields become ancillary loads, payload offsets lose the header length.
//   - "inbound", "outbound" and "ifindex" test the packet type and interface
//     index the kernel keeps with each packet, on every link type.

// Linux ancillary data offsets (linux/filter.h): a load at skfOff+n
// reads packet metadata instead of packet bytes.
const (
	skfOff         = 0xfffff000 // SKF_AD_OFF, -0x1000
	skfProtocol    = 0          // the link-layer protocol (EtherType), host order
	skfPktType     = 4          // PACKET_HOST, ... PACKET_OUTGOING
	skfIfindex     = 8          // the interface's index
	skfVlanTag     = 44         // the outer VLAN tag's TCI
	skfVlanPresent = 48         // 1 if the kernel took a VLAN tag off
	skfMax         = 64         // SKF_AD_MAX: the ancillary offsets the kernel knows end here

	// linuxPacketOutgoing is PACKET_OUTGOING, the packet type of what the
	// host sends.
	linuxPacketOutgoing = 4
)

// vlanReg is the scratch word that holds the run-time part of the
// offsets after a live "vlan" (libpcap keeps two equal words, for the type
// field and the payload). It is reserved for the whole program, the
// arithmetic's temporaries start above it: one of them in the same word
// could overwrite the 0 stored at the start on a path that has not yet
// run the "vlan".
const vlanReg = 0

// effect is a condition that is always true and runs stmts for what they
// store. The optimiser never skips it: it only jumps past tests.
type effect struct{ stmts []insn }

func ldxMem(n uint32) insn { return insn{op: clsLDX | modeMEM, k: n} }

// liveVlan is gen_vlan_bpf_extensions: the outermost tag, in the
// kernel's metadata or still in the frame.
func (g *codegen) liveVlan(n *vlanNode) cond {
	present := &test{stmts: []insn{ldAbs(szB, skfOff+skfVlanPresent)}, op: opJEQ, k: 1}
	inFrame := g.vlanTPID() // at the offsets before the tag: this is the outermost one
	var id cond
	if n.hasID {
		tci := g.ncmp(orPacket, skfOff+skfVlanTag, szB, 0x0fff, opJEQ, false, n.id)
		id = or(and(present, tci), and(not(present), g.mcmp(orLinkPL, 0, szH, n.id, 0x0fff)))
	}
	shift := &effect{[]insn{ldMem(vlanReg), aluK(opADD, 4), st(vlanReg)}}
	g.varOff = true
	return and(or(present, and(shift, inFrame)), id)
}

// vlanTPID is gen_vlan_tpid_test: 802.1Q, 802.1ad or the old QinQ type.
func (g *codegen) vlanTPID() cond {
	b := or(g.linktype(ethertype8021Q), g.linktype(ethertype8021AD))
	return or(b, g.linktype(ethertype8021QinQ))
}

// hasVlan reports whether a syntax tree uses "vlan".
func hasVlan(n node) bool {
	switch n := n.(type) {
	case *andNode:
		return hasVlan(n.l) || hasVlan(n.r)
	case *orNode:
		return hasVlan(n.l) || hasVlan(n.r)
	case *notNode:
		return hasVlan(n.x)
	case *vlanNode:
		return true
	}
	return false
}

// cookedField is a field of a Linux cooked header that the kernel has as
// packet metadata.
type cookedField struct {
	off  uint32
	size uint16
	skf  uint32
	name string
}

// cookedHeader describes the cooked header of LINUX_SLL or LINUX_SLL2 as
// the kernel sees it: what libpcap's fix_offset maps.
func cookedHeader(lt uint32) (hdrLen uint32, fields []cookedField, ok bool) {
	switch lt {
	case LinkTypeLinuxSLL:
		return 16, []cookedField{{0, szH, skfPktType, "packet type"}, {14, szH, skfProtocol, "protocol"}}, true
	case LinkTypeLinuxSLL2:
		return 20, []cookedField{{0, szH, skfProtocol, "protocol"}, {4, szW, skfIfindex, "interface index"}, {10, szB, skfPktType, "packet type"}}, true
	}
	return 0, nil, false
}

// cookedLoadOK reports whether size bytes at off into the link-layer
// header can be loaded in the kernel on a live cooked socket: a field the
// kernel keeps, whole, or bytes past the header.
func (g *codegen) cookedLoadOK(off uint32, size uint16) bool {
	if !g.liveCooked() {
		return true
	}
	hdrLen, fields, _ := cookedHeader(g.l.linkType)
	if off >= hdrLen {
		return true
	}
	for _, f := range fields {
		if f.off == off && f.size == size {
			return true
		}
	}
	return false
}

// liveCooked reports whether the code is for a live cooked socket.
func (g *codegen) liveCooked() bool {
	_, _, cooked := cookedHeader(g.l.linkType)
	return g.live && cooked
}

// errCookedLoad is the message for a header load cookedLoadOK refuses.
func (g *codegen) errCookedLoad(at int) error {
	_, fields, _ := cookedHeader(g.l.linkType)
	var names []string
	for _, f := range fields {
		names = append(names, fmt.Sprintf("link[%d:%d] (%s)", f.off, map[uint16]int{szB: 1, szH: 2, szW: 4}[f.size], f.name))
	}
	return g.errorf(at, "cannot be filtered in the kernel on a cooked socket (any): of the %s header it has only %s",
		linkTypeName(g.l.linkType), strings.Join(names, ", "))
}

// cook is libpcap's fix_program for a cooked socket, where the packet the
// filter sees starts at the network header: loads from the cooked header
// become ancillary loads, loads past it lose its length. Codegen has
// refused the loads that have no kernel equivalent (cookedLoadOK), so one
// here is a bug.
func cook(raw []bpf.RawInstruction, lt uint32) error {
	hdrLen, fields, _ := cookedHeader(lt)
	for i := range raw {
		r := &raw[i]
		class, mode := r.Op&0x07, r.Op&0xe0
		if (class != clsLD && class != clsLDX) || (mode != modeABS && mode != modeIND && mode != modeMSH) {
			continue
		}
		switch {
		case r.K >= skfOff:
		case r.K >= hdrLen:
			r.K -= hdrLen
		default:
			mapped := false
			for _, f := range fields {
				if class == clsLD && mode == modeABS && r.K == f.off && r.Op&0x18 == f.size {
					r.K, mapped = skfOff+f.skf, true
					break
				}
			}
			if !mapped {
				return fmt.Errorf("instruction %d (%s) reads the cooked header, which the kernel does not have", i, image(*r, i))
			}
		}
	}
	return nil
}

// checkLive checks a live program as newVM checks one for files, and its
// ancillary loads against the offsets the kernel knows.
func checkLive(raw []bpf.RawInstruction) error {
	c := append([]bpf.RawInstruction(nil), raw...)
	for i, r := range c {
		if r.Op&0x07 == clsLD && r.Op&0xe0 == modeABS && r.K >= skfOff {
			if r.K-skfOff >= skfMax || (r.K-skfOff)%4 != 0 {
				return fmt.Errorf("%w: instruction %d: unknown ancillary load %#x", errBadProgram, i, r.K)
			}
			c[i] = bpf.RawInstruction{Op: clsLD | modeIMM}
		}
	}
	_, err := newVM(c)
	return err
}
