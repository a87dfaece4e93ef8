package bpf

import (
	"errors"
	"strings"
	"testing"
)

// FuzzCompile: any input string either fails with a located error (or
// ErrTooLong) or yields, for every link type, a program the kernel would
// accept and that golang.org/x/net/bpf's VM runs without error on the
// corpus packets, deciding each as flowcap's own VM does; compiled with
// Options.Live, it fails alike or yields programs the test interpreter of
// the kernel runs without error on the packets as live sockets see them
// (livediff_test.go compares their decisions with libpcap's). Seeds: every
// expression of testdata/bpf/expressions.txt, and crashers kept in
// testdata/fuzz/FuzzCompile.
func FuzzCompile(f *testing.F) {
	for _, c := range loadExpressions(f) {
		f.Add(c.expr)
	}
	for _, s := range []string{
		"", "(", ")", "((((", "!", "not not not", "-", "--1=1", "ip[", "ip[0:", "tcp[tcp[tcp[0]]] = 1",
		"len - len = 0", "ether[0xffffffff] = 1", "tcp[0xfffffff0:4] = 1", "ip[0] / (1 - 1) = 0",
		"host 1.2.3.4 mask 255.255.255.0", "\\", "\\\\", "$", "1::", "::1/129", "port 1-2-3",
	} {
		f.Add(s)
	}
	all := corpus(f)
	// A sample of each link type keeps an iteration fast.
	sample := map[uint32][]testPacket{}
	for lt, ps := range all {
		step := max(1, len(ps)/80)
		for i := 0; i < len(ps); i += step {
			sample[lt] = append(sample[lt], ps[i])
		}
	}
	liveViews := map[uint32][]liveView{
		LinkTypeEthernet:  etherViews(sample[LinkTypeEthernet]),
		LinkTypeLinuxSLL2: anyViews(sample[LinkTypeLinuxSLL2], nil),
		LinkTypeLinuxSLL:  nil,
	}
	f.Fuzz(func(t *testing.T, expr string) {
		filter, err := NewFilter(expr, Options{})
		if err != nil {
			checkLocated(t, expr, err)
			return
		}
		live, err := NewFilter(expr, Options{Live: true})
		if err != nil {
			t.Fatalf("%q: parses for files, not live: %v", expr, err)
		}
		for lt, views := range liveViews {
			p, err := live.Program(lt)
			if err != nil {
				if !errors.Is(err, ErrTooLong) {
					checkLocated(t, expr, err)
				}
				continue
			}
			kernelRules(t, p.Raw())
			for _, v := range views {
				if _, err := runKernel(p.Raw(), v.data, uint32(v.wireLen), v.m); err != nil {
					t.Fatalf("%q live %s: %v\n%s", expr, linkTypeName(lt), err, Format(p, Listing))
				}
			}
		}
		for _, name := range oracleLinkTypes {
			lt, _ := LinkTypeByName(name)
			p, err := filter.Program(lt)
			if err != nil {
				if !errors.Is(err, ErrTooLong) {
					checkLocated(t, expr, err)
				}
				continue
			}
			raw := p.Raw()
			kernelRules(t, raw)
			if raw[len(raw)-1].Op&0x07 != clsRET {
				t.Fatalf("%q: does not end in a return", expr)
			}
			x, err := xnetVM(raw)
			if err != nil {
				t.Fatalf("%q %s: x/net refuses the program: %v\n%s", expr, name, err, Format(p, Listing))
			}
			for _, pkt := range sample[lt] {
				got, err := x.Run(pkt.data)
				if err != nil {
					t.Fatalf("%q %s: x/net VM: %v\n%s", expr, name, err, Format(p, Listing))
				}
				if (got != 0) != (p.vm.run(pkt.data, uint32(len(pkt.data))) != 0) {
					t.Fatalf("%q %s: packet %s: VMs disagree\n%s", expr, name, pkt.name, Format(p, Listing))
				}
				_ = p.Match(pkt.data, pkt.wireLen)
			}
		}
	})
}

// checkLocated requires a *SyntaxError pointing into the expression.
func checkLocated(t *testing.T, expr string, err error) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("%q: error %v (%T) is not a *SyntaxError", expr, err, err)
	}
	if se.Offset < 0 || se.Offset > len(expr) || se.Expr != expr || se.Msg == "" {
		t.Fatalf("%q: bad error %#v", expr, se)
	}
	if !strings.Contains(se.Error(), se.Msg) {
		t.Fatalf("%q: Error() %q lacks the message", expr, se.Error())
	}
}
