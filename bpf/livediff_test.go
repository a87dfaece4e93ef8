package bpf

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/bpf"
)

// The live differential test: every expression of expressions.txt,
// compiled with Options.Live for an Ethernet interface (EN10MB) and for the
// cooked socket of "any" (LINUX_SLL2), runs in the test interpreter
// (livevm_test.go) over every test packet as the kernel's filter would see
// it, beside libpcap's live program for the same expression:
//
//   - EN10MB: tcpdump -i IF -ddd on a veth of a throwaway namespace,
//     cached in testdata/bpf/tcpdump/live-EN10MB.txt. Each Ethernet frame
//     comes as the kernel gives it after taking an outer 802.1Q or 802.1ad
//     tag off (the tag in the metadata), and as it is (a tag left in).
//   - any: tcpdump -i any -ddd prints the program for the cooked header,
//     cached in live-any.txt; libpcap moves its loads when it attaches it
//     (pcap-linux.c fix_program), which libpcapFix does again here. Each
//     LINUX_SLL2 test packet, and each Ethernet frame as the any socket
//     would see it, comes as network-layer data with the protocol, packet
//     type and interface index as metadata.
//
// The decisions must be identical, and both sides must refuse the same
// expressions (on any, flowcap refuses what libpcap cannot do in the
// kernel). The test also compares each live decision with flowcap's
// program for files on the packet as a capture file holds it: where they
// differ, libpcap's live and file programs must differ too (a difference of
// libpcap's live semantics, such as "len" without the tag the kernel took
// off); these are counted and reported.
//
// "go test ./bpf -run LiveDiff -update" regenerates the cached programs
// (as root: it makes a network namespace).

const (
	liveEtherOracle = "live-EN10MB"
	liveAnyOracle   = "live-any"
)

// liveView is a test packet as a live socket's filter sees it, and as a
// capture file holds it.
type liveView struct {
	name    string
	data    []byte
	wireLen int
	m       kernelMeta
	file    []byte
	fileLen int
}

// hashMeta gives a packet a packet type and an interface index, from its
// name so that runs repeat. Broadcast and multicast frames get the kernel's
// types for them.
func hashMeta(name string, dst []byte) kernelMeta {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	m := kernelMeta{pktType: []uint8{0, 3, 4}[v%3], ifindex: 1 + v/3%3}
	switch {
	case len(dst) >= 6 && string(dst[:6]) == "\xff\xff\xff\xff\xff\xff":
		m.pktType = 1
	case len(dst) >= 1 && dst[0]&1 != 0:
		m.pktType = 2
	}
	return m
}

// etherProtocol is eth_type_trans's skb->protocol for a frame's type field.
func etherProtocol(typ uint16, payload []byte) uint16 {
	switch {
	case typ >= 0x600:
		return typ
	case len(payload) >= 2 && payload[0] == 0xff && payload[1] == 0xff:
		return 0x0001 // ETH_P_802_3: Novell raw 802.3
	}
	return 0x0004 // ETH_P_802_2
}

// untag is skb_vlan_untag: the kernel takes an outer 802.1Q or 802.1ad
// tag off a received frame (not the old 0x9100). ok is false for a frame
// without such a tag; a frame too short for one would be dropped.
func untag(p []byte) (frame []byte, tci uint16, ok bool) {
	if len(p) < 18 {
		return nil, 0, false
	}
	if t := binary.BigEndian.Uint16(p[12:]); t != 0x8100 && t != 0x88a8 {
		return nil, 0, false
	}
	frame = append(append([]byte{}, p[:12]...), p[16:]...)
	return frame, binary.BigEndian.Uint16(p[14:]), true
}

// etherViews are the Ethernet test frames as an Ethernet interface's
// filter sees them: without the outer tag (in the metadata instead) where
// the kernel takes it off, and also as they are.
func etherViews(pkts []testPacket) []liveView {
	var out []liveView
	for _, p := range pkts {
		m := hashMeta(p.name, p.data)
		if len(p.data) >= 14 {
			m.protocol = etherProtocol(binary.BigEndian.Uint16(p.data[12:]), p.data[14:])
		}
		if f, tci, ok := untag(p.data); ok {
			s := m
			s.vlanPresent, s.vlanTCI = true, tci
			s.protocol = etherProtocol(binary.BigEndian.Uint16(f[12:]), f[14:])
			out = append(out, liveView{p.name + "/untagged", f, p.wireLen - 4, s, p.data, p.wireLen})
		}
		out = append(out, liveView{p.name, p.data, p.wireLen, m, p.data, p.wireLen})
	}
	return out
}

// anyViews are packets as the cooked socket of "any" sees them: the
// LINUX_SLL2 test packets without their header (its fields in the
// metadata), and the Ethernet test frames after the kernel took the tag
// and the Ethernet header off, with the LINUX_SLL2 header a file would
// give them.
func anyViews(sll2, ether []testPacket) []liveView {
	var out []liveView
	for _, p := range sll2 {
		if len(p.data) < 20 {
			continue
		}
		h := p.data
		m := kernelMeta{protocol: binary.BigEndian.Uint16(h), ifindex: binary.BigEndian.Uint32(h[4:]), pktType: h[10]}
		out = append(out, liveView{p.name, h[20:], p.wireLen - 20, m, p.data, p.wireLen})
	}
	for _, p := range ether {
		f, wire := p.data, p.wireLen
		m := hashMeta(p.name, f)
		if u, tci, ok := untag(f); ok {
			f, wire = u, wire-4
			m.vlanPresent, m.vlanTCI = true, tci
		}
		if len(f) < 14 {
			continue
		}
		m.protocol = etherProtocol(binary.BigEndian.Uint16(f[12:]), f[14:])
		hdr := binary.BigEndian.AppendUint16(nil, m.protocol)
		hdr = binary.BigEndian.AppendUint16(hdr, 0)
		hdr = binary.BigEndian.AppendUint32(hdr, m.ifindex)
		hdr = append(hdr, 0, 1, m.pktType, 6)
		hdr = append(append(hdr, f[6:12]...), 0, 0)
		out = append(out, liveView{p.name + "/any", f[14:], wire - 14, m, append(hdr, f[14:]...), wire - 14 + 20})
	}
	return out
}

// fixResult says what libpcap's fix_program makes of a program for the
// cooked header.
type fixResult int

const (
	fixOK        fixResult = iota
	fixUserland            // a header byte the kernel lacks: libpcap filters in user space instead
	fixWrongSize           // a field loaded with another size: the kernel's value differs from the header's
)

// libpcapFix is libpcap 1.10's fix_program/fix_offset for LINUX_SLL2.
func libpcapFix(raw []bpf.RawInstruction) ([]bpf.RawInstruction, fixResult) {
	out := append([]bpf.RawInstruction(nil), raw...)
	res := fixOK
	for i := range out {
		r := &out[i]
		class, mode := r.Op&0x07, r.Op&0xe0
		if (class != clsLD && class != clsLDX) || (mode != modeABS && mode != modeIND && mode != modeMSH) {
			continue
		}
		size := r.Op & 0x18
		switch {
		case r.K >= skfOff:
		case r.K >= 20:
			r.K -= 20
		case r.K == 0:
			r.K = skfOff + skfProtocol
			if size != szH || mode != modeABS {
				res = max(res, fixWrongSize)
			}
		case r.K == 4:
			r.K = skfOff + skfIfindex
			if size != szW || mode != modeABS {
				res = max(res, fixWrongSize)
			}
		case r.K == 10:
			r.K = skfOff + skfPktType
			if size != szB || mode != modeABS {
				res = max(res, fixWrongSize)
			}
		default:
			return nil, fixUserland
		}
	}
	return out, res
}

// liveOracle is libpcap's live program for an expression, ready to run.
type liveOracle struct {
	raw, unopt []bpf.RawInstruction
	err        string // tcpdump refused it, or libpcap cannot filter it in the kernel
	// optimisedAway: on any, libpcap's unoptimised program reads a
	// cooked-header byte the kernel lacks and its optimiser found the
	// verdict does not depend on it (or that nothing matches: tcpdump then
	// refuses the expression). flowcap keeps every load and refuses these.
	optimisedAway bool
}

func loadLiveOracles(t testing.TB, name string) map[string]liveOracle {
	out := map[string]liveOracle{}
	for expr, o := range loadOracle(t, name) {
		lo := liveOracle{raw: o.raw, unopt: o.unopt, err: o.err}
		if name == liveAnyOracle && o.err == "" {
			var res, unoptRes fixResult
			lo.raw, res = libpcapFix(o.raw)
			switch res {
			case fixUserland:
				lo.err = "libpcap filters it in user space"
			case fixWrongSize:
				lo.err = "libpcap loads a cooked-header field with the wrong size"
			}
			if lo.unopt != nil {
				lo.unopt, unoptRes = libpcapFix(lo.unopt)
				if unoptRes != fixOK {
					lo.unopt, lo.optimisedAway = nil, res == fixOK
				}
			}
		}
		out[expr] = lo
	}
	return out
}

// decide runs a program in the test interpreter; a program it cannot
// run fails the test.
func decide(t *testing.T, raw []bpf.RawInstruction, data []byte, wireLen int, m kernelMeta) bool {
	v, err := runKernel(raw, data, uint32(wireLen), m)
	if err != nil {
		t.Fatalf("%v\n%s", err, FormatRaw(raw, Listing))
	}
	return v != 0
}

// liveCounts sums what TestLiveDiff compared. A live program may take
// a packet its program for files rejects (liveOnly: mostly tagged frames,
// which the kernel hands over untagged) or reject one it takes (fileOnly).
type liveCounts struct {
	programs, refused, decisions, ambiguous int
	liveOnly, fileOnly                      int
	liveOnlyExprs, fileOnlyExprs            []string
}

func TestLiveDiff(t *testing.T) {
	cases := loadExpressions(t)
	if *update {
		updateLiveOracles(t, cases)
	}
	packets := corpus(t)
	ether := packets[LinkTypeEthernet]
	for _, tt := range []struct {
		name, oracle, fileOracle string
		lt                       uint32
		views                    []liveView
	}{
		{"EN10MB", liveEtherOracle, "EN10MB", LinkTypeEthernet, etherViews(ether)},
		{"any", liveAnyOracle, "LINUX_SLL2", LinkTypeLinuxSLL2, anyViews(packets[LinkTypeLinuxSLL2], ether)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			oracle := loadLiveOracles(t, tt.oracle)
			fileOracle := loadOracle(t, tt.fileOracle)
			var n liveCounts
			for _, c := range cases {
				want, ok := oracle[c.oracle]
				if !ok {
					t.Fatalf("%s:%d: %q has no tcpdump result in %s (regenerate with -update as root)", exprFile, c.line, c.oracle, tt.oracle)
				}
				prog, err := Compile(c.expr, tt.lt, Options{Live: true})
				if c.unsupported {
					if err == nil || !strings.Contains(err.Error(), "not supported") {
						t.Errorf("%s:%d %s: %q: want a \"not supported\" error, got %v", exprFile, c.line, tt.name, c.expr, err)
					}
					n.refused++
					continue
				}
				if want.err != "" || err != nil {
					if err != nil && want.optimisedAway && strings.Contains(err.Error(), "cannot be filtered in the kernel") {
						n.refused++
						continue
					}
					if want.err == "" || err == nil {
						t.Errorf("%s:%d live %s: %q: flowcap error %v, libpcap %q", exprFile, c.line, tt.name, c.expr, err, want.err)
					}
					n.refused++
					continue
				}
				if !prog.Live() {
					t.Fatalf("%q: not a live program", c.expr)
				}
				n.programs++
				var file *Program
				fileWant := fileOracle[c.oracle]
				if fileWant.err == "" {
					file, _ = Compile(c.expr, tt.lt, Options{})
				}
				compareLive(t, tt.name, c, prog, want, file, fileWant.raw, tt.views, &n)
			}
			fmt.Printf("bpf live difftest %s: %d live programs compiled by both, %d refused by both; %d decisions compared, 0 mismatches unless reported above; "+
				"%d where libpcap's optimiser changes its verdict on a short packet and flowcap agrees with tcpdump -O; "+
				"against the programs for files, as libpcap's: %d packets taken only live (%d expressions, e.g. %s), %d only from files (%d expressions, e.g. %s)\n",
				tt.name, n.programs, n.refused, n.decisions, n.ambiguous,
				n.liveOnly, len(n.liveOnlyExprs), strings.Join(n.liveOnlyExprs[:min(4, len(n.liveOnlyExprs))], ", "),
				n.fileOnly, len(n.fileOnlyExprs), strings.Join(n.fileOnlyExprs[:min(4, len(n.fileOnlyExprs))], ", "))
		})
	}
}

// compareLive runs flowcap's and libpcap's live programs over the views,
// and counts where the live verdict differs from the verdict for files.
func compareLive(t *testing.T, kind string, c exprCase, ours *Program, want liveOracle, file *Program, fileWant []bpf.RawInstruction, views []liveView, n *liveCounts) {
	t.Helper()
	bad, liveOnly, fileOnly := 0, 0, 0
	for _, v := range views {
		o := decide(t, ours.Raw(), v.data, v.wireLen, v.m)
		th := decide(t, want.raw, v.data, v.wireLen, v.m)
		n.decisions++
		if o != th && want.unopt != nil && o == decide(t, want.unopt, v.data, v.wireLen, v.m) {
			n.ambiguous++
			continue
		}
		if o != th {
			bad++
			if bad <= 3 {
				t.Errorf("live %s %q (%s:%d): packet %s (%d bytes, wire %d, %+v): flowcap %v, libpcap %v\n% x\nflowcap:\n%slibpcap:\n%s",
					kind, c.expr, exprFile, c.line, v.name, len(v.data), v.wireLen, v.m, o, th,
					v.data[:min(len(v.data), 64)], Format(ours, Listing), FormatRaw(want.raw, Listing))
			}
			continue
		}
		if file == nil {
			continue
		}
		f := file.Match(v.file, v.fileLen)
		if f == o {
			continue
		}
		if tf := decide(t, fileWant, v.file, v.fileLen, kernelMeta{}); f != tf {
			continue // the file programs' own disagreements are TestDiff's
		}
		// Here flowcap's live program agrees with libpcap's and its
		// program for files with libpcap's: libpcap's differ alike.
		if o {
			liveOnly++
		} else {
			fileOnly++
		}
	}
	if bad > 3 {
		t.Errorf("live %s %q: %d packets differ in all", kind, c.expr, bad)
	}
	if liveOnly > 0 {
		n.liveOnly += liveOnly
		n.liveOnlyExprs = append(n.liveOnlyExprs, fmt.Sprintf("%q (%d)", c.expr, liveOnly))
	}
	if fileOnly > 0 {
		n.fileOnly += fileOnly
		n.fileOnlyExprs = append(n.fileOnlyExprs, fmt.Sprintf("%q (%d)", c.expr, fileOnly))
	}
}

// liveUnoptNeeded reports whether tcpdump -O's program decides some view
// differently from tcpdump's, so that the cache must keep it.
func liveUnoptNeeded(raw, unopt []bpf.RawInstruction, views []liveView) bool {
	for _, v := range views {
		a, err1 := runKernel(raw, v.data, uint32(v.wireLen), v.m)
		b, err2 := runKernel(unopt, v.data, uint32(v.wireLen), v.m)
		if err1 != nil || err2 != nil || (a != 0) != (b != 0) {
			return true
		}
	}
	return false
}

// writeLiveOracle writes tcpdump's results in loadOracle's format.
func writeLiveOracle(t *testing.T, name, how string, exprs, results []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s, per expression of expressions.txt.\n", how)
	fmt.Fprintf(&b, "# Regenerate (as root): go test ./bpf -run LiveDiff -update\n")
	for i, e := range exprs {
		fmt.Fprintf(&b, "\n## %s\n%s\n", e, results[i])
	}
	writeFile(t, oraclePath(name), b.String())
}

// oracleExprs are the distinct expressions tcpdump compiles for the cases.
func oracleExprs(cases []exprCase) []string {
	var out []string
	for _, c := range cases {
		if !slices.Contains(out, c.oracle) {
			out = append(out, c.oracle)
		}
	}
	return out
}

// parallel runs fn for 0..n-1 on four goroutines.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				fn(i)
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
