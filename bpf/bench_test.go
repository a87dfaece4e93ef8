package bpf

import (
	"testing"

	"golang.org/x/net/bpf"
)

var benchExprs = []string{
	"tcp port 80",
	"tcp port 80 and host 10.0.0.1",
	"port 443 or port 8443",
	"tcp[tcpflags] & tcp-syn != 0",
	"(port 80 or port 443 or portrange 8000-8080)",
	"net 192.168.0.0/16 and not port 22",
	"tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420",
}

// benchPackets is every packet of ../testdata/capture whose link type the
// compiler supports, grouped by link type.
func benchPackets(b *testing.B) map[uint32][]testPacket {
	out := map[uint32][]testPacket{}
	for lt, ps := range capturePackets(b) {
		if supported(lt) {
			out[lt] = ps
		}
	}
	return out
}

// BenchmarkMatch filters every packet of the test captures; the metric
// that matters is ns/packet.
func BenchmarkMatch(b *testing.B) {
	pkts := benchPackets(b)
	for _, expr := range benchExprs {
		f, err := NewFilter(expr, Options{})
		if err != nil {
			b.Fatal(err)
		}
		progs := map[uint32]*Program{}
		for lt := range pkts {
			if progs[lt], err = f.Program(lt); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(expr, func(b *testing.B) {
			b.ReportAllocs()
			n, matched := 0, 0
			for b.Loop() {
				for lt, ps := range pkts {
					p := progs[lt]
					for i := range ps {
						if p.Match(ps[i].data, ps[i].wireLen) {
							matched++
						}
					}
					n += len(ps)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
			b.ReportMetric(float64(matched)/float64(n), "matched/packet")
		})
	}
}

// BenchmarkMatchOne filters one packet again and again: the interpreter's
// own cost, with the packet in cache as it is right after it was read.
func BenchmarkMatchOne(b *testing.B) {
	var pkt testPacket
	for _, p := range capturePackets(b)[LinkTypeEthernet] {
		if len(p.data) > 60 && p.data[23] == 6 { // an IPv4 TCP segment
			pkt = p
			break
		}
	}
	for _, expr := range benchExprs[:3] {
		p, err := Compile(expr, LinkTypeEthernet, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(expr, func(b *testing.B) {
			for b.Loop() {
				p.Match(pkt.data, pkt.wireLen)
			}
		})
	}
}

// BenchmarkMatchXNet is the same work in golang.org/x/net/bpf's VM, for
// comparison.
func BenchmarkMatchXNet(b *testing.B) {
	pkts := benchPackets(b)
	for _, expr := range benchExprs[:2] {
		vms := map[uint32]*bpf.VM{}
		for lt := range pkts {
			p, err := Compile(expr, lt, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if vms[lt], err = xnetVM(p.Raw()); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(expr, func(b *testing.B) {
			n := 0
			for b.Loop() {
				for lt, ps := range pkts {
					for i := range ps {
						vms[lt].Run(ps[i].data)
					}
					n += len(ps)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
		})
	}
}

// BenchmarkCompile is the cost of compiling one expression for one link type.
func BenchmarkCompile(b *testing.B) {
	for _, expr := range []string{"tcp port 80 and host 10.0.0.1", longExpr(40)} {
		name := expr
		if len(name) > 40 {
			name = "40-terms"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Compile(expr, LinkTypeEthernet, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
