package bpf

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// The differential test: every expression of testdata/bpf/expressions.txt,
// for every supported link type, compiled by flowcap and by tcpdump, both
// programs run over every packet of ../testdata/capture and of the
// generated mix; the accept/reject decisions must be identical.
//
// tcpdump's programs are cached in testdata/bpf/tcpdump/LINKTYPE.txt so
// that plain "go test" needs no tcpdump; "go test -run Diff -update"
// regenerates them with "tcpdump -ddd -r FILE -- EXPR", FILE an empty
// capture of the link type: compiling as for reading a capture file is
// what flowcap filters (with -y, tcpdump compiles for a live handle, which
// differs for NULL's IPv6 address families and inbound/outbound).

var update = flag.Bool("update", false, "regenerate golden files (runs tcpdump)")

// ambiguous counts packet decisions on which tcpdump's optimised and
// unoptimised programs disagree and flowcap agrees with the unoptimised one.
var ambiguous atomic.Int64

type exprCase struct {
	expr        string
	oracle      string // what tcpdump compiles
	section     string
	line        int
	isError     bool // in the section of expressions both must refuse
	unsupported bool // out of scope: flowcap must refuse, whatever tcpdump does
}

const exprFile = "../testdata/bpf/expressions.txt"

func loadExpressions(t testing.TB) []exprCase {
	f, err := os.Open(exprFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []exprCase
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			section = line[3:]
			continue
		case strings.TrimSpace(line) == "", strings.HasPrefix(line, "#"):
			continue
		}
		c := exprCase{expr: line, oracle: line, section: section, line: n,
			isError: strings.HasPrefix(section, "errors"), unsupported: strings.HasPrefix(section, "unsupported")}
		if e, o, ok := strings.Cut(line, "#oracle:"); ok {
			c.expr, c.oracle = strings.TrimSpace(e), strings.TrimSpace(o)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// oracleLinkTypes are the link types the test compares, by tcpdump name.
var oracleLinkTypes = []string{"EN10MB", "LINUX_SLL", "LINUX_SLL2", "RAW", "IPV4", "IPV6", "NULL", "LOOP"}

func oraclePath(name string) string { return filepath.Join("../testdata/bpf/tcpdump", name+".txt") }

// oracleResult is tcpdump's program for an expression, or its error.
type oracleResult struct {
	raw   []bpf.RawInstruction
	unopt []bpf.RawInstruction // tcpdump -O, kept only where it decides some packet differently
	err   string
	text  string // as cached
}

func loadOracle(t testing.TB, name string) map[string]oracleResult {
	data, err := os.ReadFile(oraclePath(name))
	if err != nil {
		t.Fatalf("%v (regenerate with: go test ./bpf -run Diff -update)", err)
	}
	out := map[string]oracleResult{}
	for _, rec := range strings.Split(string(data), "\n## ")[1:] {
		expr, body, _ := strings.Cut(rec, "\n")
		body = strings.TrimRight(body, "\n")
		var unopt []bpf.RawInstruction
		if b, u, ok := strings.Cut(body, "\n-- unoptimised\n"); ok {
			body = b
			var err error
			if unopt, err = parseDDD(u); err != nil {
				t.Fatalf("%s: %q: %v", oraclePath(name), expr, err)
			}
		}
		out[expr] = oracleResult{text: body}
		if msg, ok := strings.CutPrefix(body, "error: "); ok {
			if msg == "expression rejects all packets" {
				// libpcap's optimiser refuses a program that is just "ret #0";
				// flowcap compiles it (a pcapng file may mix link types).
				out[expr] = oracleResult{raw: []bpf.RawInstruction{{Op: clsRET | retK}}, unopt: unopt, text: body}
				continue
			}
			out[expr] = oracleResult{err: msg, text: body}
			continue
		}
		raw, err := parseDDD(body)
		if err != nil {
			t.Fatalf("%s: %q: %v", oraclePath(name), expr, err)
		}
		out[expr] = oracleResult{raw: raw, unopt: unopt, text: body}
	}
	return out
}

// parseDDD reads tcpdump -ddd output.
func parseDDD(s string) ([]bpf.RawInstruction, error) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	n, err := strconv.Atoi(lines[0])
	if err != nil || n != len(lines)-1 {
		return nil, fmt.Errorf("bad -ddd listing: %q", lines[0])
	}
	raw := make([]bpf.RawInstruction, n)
	for i, l := range lines[1:] {
		var op, jt, jf, k uint64
		if _, err := fmt.Sscanf(l, "%d %d %d %d", &op, &jt, &jf, &k); err != nil {
			return nil, fmt.Errorf("line %q: %v", l, err)
		}
		raw[i] = bpf.RawInstruction{Op: uint16(op), Jt: uint8(jt), Jf: uint8(jf), K: uint32(k)}
	}
	return raw, nil
}

// needTcpdump fails the test when tcpdump is missing.
func needTcpdump(t testing.TB) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Fatal("tcpdump is needed as the reference for this test and is not installed: run `make deps`")
	}
}

// emptyCapture writes a pcap file with no packets of link type lt.
func emptyCapture(t testing.TB, dir string, lt uint32) string {
	path := filepath.Join(dir, fmt.Sprintf("lt%d.pcap", lt))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pcapgo.NewWriter(f).WriteFileHeader(262144, layers.LinkType(lt)); err != nil {
		t.Fatal(err)
	}
	return path
}

// runTcpdump returns tcpdump's output for args, or its error line.
func runTcpdump(args ...string) (string, error) {
	return tcpdumpOutput(exec.Command("tcpdump", args...))
}

// tcpdumpOutput runs a tcpdump command and returns its output, or its
// error line.
func tcpdumpOutput(cmd *exec.Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var msg string
		for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if strings.HasPrefix(l, "tcpdump: ") {
				msg = strings.TrimPrefix(l, "tcpdump: ")
			}
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", errors.New(msg)
	}
	return stdout.String(), nil
}

func updateOracle(t *testing.T, cases []exprCase) {
	needTcpdump(t)
	dir := t.TempDir()
	packets := corpus(t)
	for _, name := range oracleLinkTypes {
		lt, _ := LinkTypeByName(name)
		file := emptyCapture(t, dir, lt)
		pkts := packets[lt]
		var oracles []string
		seen := map[string]bool{}
		unsupported := map[string]bool{}
		for _, c := range cases {
			if !seen[c.oracle] {
				seen[c.oracle] = true
				oracles = append(oracles, c.oracle)
			}
			unsupported[c.oracle] = c.unsupported
		}
		results := make([]string, len(oracles))
		var wg sync.WaitGroup
		work := make(chan int)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					out, err := runTcpdump("-ddd", "-r", file, "--", oracles[i])
					if err != nil {
						results[i] = "error: " + err.Error()
						continue
					}
					results[i] = strings.TrimRight(out, "\n")
					if unsupported[oracles[i]] {
						continue
					}
					// libpcap's optimiser may drop or reorder loads, which
					// changes the verdict on a packet cut short. Keep the
					// unoptimised program where that happens on the corpus.
					unopt, err := runTcpdump("-ddd", "-O", "-r", file, "--", oracles[i])
					if err != nil {
						continue
					}
					a, _ := parseDDD(out)
					b, _ := parseDDD(unopt)
					if !sameDecisions(a, b, pkts) {
						results[i] += "\n-- unoptimised\n" + strings.TrimRight(unopt, "\n")
					}
				}
			}()
		}
		for i := range oracles {
			work <- i
		}
		close(work)
		wg.Wait()
		var b strings.Builder
		fmt.Fprintf(&b, "# tcpdump -ddd -r <empty %s capture> -- EXPR, per expression of expressions.txt.\n", name)
		fmt.Fprintf(&b, "# Regenerate: go test ./bpf -run Diff -update\n")
		for i, o := range oracles {
			fmt.Fprintf(&b, "\n## %s\n%s\n", o, results[i])
		}
		if err := os.MkdirAll(filepath.Dir(oraclePath(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(oraclePath(name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// sameDecisions reports whether two programs decide every packet alike.
func sameDecisions(a, b []bpf.RawInstruction, pkts []testPacket) bool {
	va, err1 := newVM(a)
	vb, err2 := newVM(b)
	if err1 != nil || err2 != nil {
		return false
	}
	for _, p := range pkts {
		for _, l := range []int{len(p.data), p.wireLen} {
			if (va.run(p.data, uint32(l)) != 0) != (vb.run(p.data, uint32(l)) != 0) {
				return false
			}
		}
	}
	return true
}

// capturePackets reads every packet of ../testdata/capture, by link type.
func capturePackets(t testing.TB) map[uint32][]testPacket {
	files, err := filepath.Glob("../testdata/capture/*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32][]testPacket{}
	for _, path := range files {
		if strings.HasSuffix(path, ".md") || strings.HasSuffix(path, "SHA256SUMS") {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(path)
		readCapture(data, func(lt uint32, i int, pkt []byte, wireLen int) {
			out[lt] = append(out[lt], testPacket{name: fmt.Sprintf("%s#%d", base, i), data: pkt, wireLen: wireLen})
		})
	}
	return out
}

// readCapture calls fn for each packet of a pcap or pcapng file until the
// end or the first error (some test captures are deliberately damaged).
func readCapture(data []byte, fn func(lt uint32, i int, pkt []byte, wireLen int)) {
	if len(data) >= 4 && bytes.Equal(data[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return
		}
		for i := 0; ; i++ {
			pkt, ci, err := r.ReadPacketData()
			if err != nil {
				return
			}
			intf, err := r.Interface(ci.InterfaceIndex)
			if err != nil {
				return
			}
			fn(uint32(intf.LinkType), i, pkt, ci.Length)
		}
	}
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		return
	}
	lt := uint32(r.LinkType())
	for i := 0; ; i++ {
		pkt, ci, err := r.ReadPacketData()
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
		fn(lt, i, pkt, ci.Length)
	}
}

var (
	corpusOnce sync.Once
	corpusPkts map[uint32][]testPacket
)

// corpus is the packets of every link type: captures and generated mix.
func corpus(t testing.TB) map[uint32][]testPacket {
	corpusOnce.Do(func() {
		corpusPkts = capturePackets(t)
		for lt, ps := range mixPackets() {
			corpusPkts[lt] = append(corpusPkts[lt], ps...)
		}
	})
	return corpusPkts
}

// xnetAccepts runs raw in golang.org/x/net/bpf's VM ("len" is the
// captured length there).
func xnetVM(raw []bpf.RawInstruction) (*bpf.VM, error) {
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		return nil, errors.New("cannot disassemble")
	}
	return bpf.NewVM(ins)
}

func TestDiff(t *testing.T) {
	cases := loadExpressions(t)
	if *update {
		updateOracle(t, cases)
	}
	packets := corpus(t)
	var (
		mu                          sync.Mutex
		compared, programs, errBoth int
		acceptedAny                 = map[string]bool{}
	)
	for _, name := range oracleLinkTypes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lt, _ := LinkTypeByName(name)
			oracle := loadOracle(t, name)
			pkts := packets[lt]
			if len(pkts) == 0 {
				t.Fatalf("no packets of link type %s", name)
			}
			n, p, e := 0, 0, 0
			for _, c := range cases {
				want, ok := oracle[c.oracle]
				if !ok {
					t.Fatalf("%s:%d: %q has no tcpdump result (regenerate with -update)", exprFile, c.line, c.oracle)
				}
				prog, err := Compile(c.expr, lt, Options{})
				if c.unsupported {
					if err == nil || !strings.Contains(err.Error(), "not supported") {
						t.Errorf("%s:%d %s: %q: want a \"not supported\" error, got %v", exprFile, c.line, name, c.expr, err)
					}
					e++
					continue
				}
				if want.err != "" || err != nil {
					if want.err == "" || err == nil {
						t.Errorf("%s:%d %s: %q: flowcap error %v, tcpdump error %q", exprFile, c.line, name, c.expr, err, want.err)
					}
					e++
					continue
				}
				if c.isError && name == "EN10MB" {
					t.Errorf("%s:%d: %q is listed as an error but compiles", exprFile, c.line, c.expr)
				}
				p++
				n += compareDecisions(t, name, c, prog, want, pkts, func() {
					mu.Lock()
					acceptedAny[c.expr] = true
					mu.Unlock()
				})
			}
			mu.Lock()
			compared += n
			programs += p
			errBoth += e
			mu.Unlock()
		})
	}
	t.Cleanup(func() {
		fmt.Printf("bpf difftest: %d expressions x %d link types: %d programs compiled by both, %d refused by both; "+
			"%d packet decisions compared, 0 mismatches unless reported above; %d where libpcap's optimiser changes libpcap's verdict on a truncated packet and flowcap agrees with tcpdump -O; "+
			"%d expressions accept some packet\n",
			len(cases), len(oracleLinkTypes), programs, errBoth, compared, ambiguous.Load(), len(acceptedAny))
	})
}

// compareDecisions runs both programs over the packets and reports
// differences; it returns the number of packets compared.
func compareDecisions(t *testing.T, ltName string, c exprCase, ours *Program, want oracleResult, pkts []testPacket, accepted func()) int {
	t.Helper()
	theirs := want.raw
	var unoptVM vm
	if want.unopt != nil {
		var err error
		if unoptVM, err = newVM(want.unopt); err != nil {
			t.Fatalf("%s %q: tcpdump -O's program does not load: %v", ltName, c.expr, err)
		}
	}
	ourX, err := xnetVM(ours.Raw())
	if err != nil {
		t.Errorf("%s %q: golang.org/x/net/bpf refuses flowcap's program: %v\n%s", ltName, c.expr, err, Format(ours, Listing))
		return 0
	}
	theirX, xerr := xnetVM(theirs)
	theirVM, verr := newVM(theirs)
	if verr != nil {
		t.Fatalf("%s %q: tcpdump's program does not load: %v", ltName, c.expr, verr)
	}
	bad := 0
	for _, p := range pkts {
		// 1. Both in x/net's VM (len = captured length on both sides).
		o, err := ourX.Run(p.data)
		if err != nil {
			t.Fatalf("%s %q: x/net VM: %v", ltName, c.expr, err)
		}
		var th int
		if xerr == nil {
			th, err = theirX.Run(p.data)
		}
		if xerr != nil || err != nil {
			// tcpdump's program uses BPF_NEG, which x/net's VM lacks.
			th = int(theirVM.run(p.data, uint32(len(p.data))))
		}
		// 2. Both in flowcap's VM with the wire length, as libpcap runs them.
		ow, tw := ours.vm.run(p.data, uint32(p.wireLen)), theirVM.run(p.data, uint32(p.wireLen))
		// 3. flowcap's VM agrees with x/net's on flowcap's program.
		oc := ours.vm.run(p.data, uint32(len(p.data)))
		if o != 0 {
			accepted()
		}
		if (o != 0) != (th != 0) || (ow != 0) != (tw != 0) {
			// Where libpcap's optimiser changes libpcap's own verdict (a
			// packet cut short), flowcap may agree with either program.
			if unoptVM != nil && (o != 0) == (unoptVM.run(p.data, uint32(len(p.data))) != 0) &&
				(ow != 0) == (unoptVM.run(p.data, uint32(p.wireLen)) != 0) {
				ambiguous.Add(1)
				continue
			}
		}
		if (o != 0) != (th != 0) || (ow != 0) != (tw != 0) || (oc != 0) != (o != 0) {
			bad++
			if bad <= 3 {
				t.Errorf("%s %q (%s:%d): packet %s (caplen %d, wire %d): flowcap %v/%v/%v, tcpdump %v/%v\n% x\nflowcap:\n%stcpdump:\n%s",
					ltName, c.expr, exprFile, c.line, p.name, len(p.data), p.wireLen, o != 0, ow != 0, oc != 0, th != 0, tw != 0,
					p.data[:min(len(p.data), 80)], Format(ours, Listing), FormatRaw(theirs, Listing))
			}
		}
	}
	if bad > 3 {
		t.Errorf("%s %q: %d packets differ in all", ltName, c.expr, bad)
	}
	return len(pkts)
}

// TestOracleFresh checks a sample of the cached tcpdump programs against
// the installed tcpdump, so that a stale cache cannot hide a difference.
func TestOracleFresh(t *testing.T) {
	needTcpdump(t)
	cases := loadExpressions(t)
	dir := t.TempDir()
	sample := []string{}
	for i := 0; i < len(cases); i += len(cases) / 12 {
		sample = append(sample, cases[i].oracle)
	}
	sort.Strings(sample)
	for _, name := range []string{"EN10MB", "LINUX_SLL2", "NULL"} {
		lt, _ := LinkTypeByName(name)
		file := emptyCapture(t, dir, lt)
		oracle := loadOracle(t, name)
		for _, expr := range sample {
			out, err := runTcpdump("-ddd", "-r", file, "--", expr)
			got := strings.TrimRight(out, "\n")
			if err != nil {
				got = "error: " + err.Error()
			}
			wantText := oracle[expr].text
			if got != wantText {
				t.Errorf("%s %q: cached tcpdump result is stale (regenerate with -update):\ncached %s\nnow    %s", name, expr, wantText, got)
			}
		}
	}
}
