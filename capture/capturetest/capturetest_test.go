package capturetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// linkScenario returns a small scenario on link l with every IP-level
// feature that link can carry: fragments, IPv4 options, IPv6 extension
// headers, padding, TSO-style frames, VLAN tags on Ethernet.
func linkScenario(l Link) *Scenario {
	var cs []Conn
	if l != IPv6Raw {
		cs = append(cs, conns(2, false, 3000, 5000)...)
	}
	if l != IPv4Raw {
		cs = append(cs, conns(2, true, 3000, 5000)...)
	}
	for i := range cs {
		cs[i].Link = l
		if l == Ethernet && i%2 == 1 {
			cs[i].VLAN = []VLAN{{TPID: 0x88a8, TCI: 7}, {TCI: 100}}
		}
	}
	return &Scenario{Seed: 42, Conns: cs, Step: 1001 * time.Nanosecond, Fragment: 0.3, FragShuffle: true,
		IPv4Options: true, IPv6ExtHeaders: true, Pad: true, Reorder: 0.1}
}

func gopacketLink(l Link) layers.LinkType { return layers.LinkType(l.DLT()) }

// firstDecoder is what gopacket decodes a frame of link type lt with: it
// knows no LINKTYPE_IPV4/IPV6.
func firstDecoder(lt layers.LinkType) gopacket.Decoder {
	switch lt {
	case 228:
		return layers.LayerTypeIPv4
	case 229:
		return layers.LayerTypeIPv6
	}
	return lt
}

type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

func openReader(t *testing.T, data []byte, f Format) (packetReader, layers.LinkType) {
	t.Helper()
	if f.NG {
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		return r, r.LinkType()
	}
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return r, r.LinkType()
}

// TestReadBack reads every format and link type back with gopacket's
// readers: the packet count and every timestamp are the ones written, and
// every frame that is not a later IP fragment decodes to TCP.
func TestReadBack(t *testing.T) {
	for _, l := range Links {
		s := linkScenario(l)
		for _, f := range Formats {
			t.Run(l.String()+"/"+f.String(), func(t *testing.T) {
				var buf bytes.Buffer
				st, err := s.Write(&buf, f)
				if err != nil {
					t.Fatal(err)
				}
				if st.Fragmented == 0 || st.Packets <= st.Segments {
					t.Fatalf("no fragments written: %+v", st)
				}
				r, lt := openReader(t, buf.Bytes(), f)
				if lt != gopacketLink(l) {
					t.Errorf("link type %v, want %v", lt, gopacketLink(l))
				}
				var n, tcp int64
				for {
					data, ci, err := r.ReadPacketData()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("packet %d: %v", n, err)
					}
					want := s.PacketTime(n)
					if !f.Nanos {
						want = want.Truncate(time.Microsecond)
					}
					if !ci.Timestamp.Equal(want) {
						t.Fatalf("packet %d at %v, want %v", n, ci.Timestamp.UTC(), want)
					}
					if ci.CaptureLength != len(data) || ci.Length != len(data) {
						t.Fatalf("packet %d: caplen %d len %d, %d bytes", n, ci.CaptureLength, ci.Length, len(data))
					}
					p := gopacket.NewPacket(data, firstDecoder(lt), gopacket.Default)
					if p.ErrorLayer() != nil {
						t.Fatalf("packet %d: %v", n, p.ErrorLayer().Error())
					}
					if p.Layer(layers.LayerTypeTCP) != nil {
						tcp++
					}
					n++
				}
				if n != st.Packets {
					t.Errorf("read %d packets, wrote %d", n, st.Packets)
				}
				if whole := st.Segments - st.Fragmented; tcp < whole {
					t.Errorf("%d frames decode to TCP, want at least %d", tcp, whole)
				}
			})
		}
	}
}

func TestMixedLinks(t *testing.T) {
	cs := conns(3, false, 100, 100)
	cs[1].Link, cs[2].Link = SLL, Null
	s := &Scenario{Conns: cs}
	if _, err := s.Write(io.Discard, Format{}); !errors.Is(err, ErrMixedLinks) {
		t.Fatalf("pcap with three link types: %v, want ErrMixedLinks", err)
	}
	var buf bytes.Buffer
	st, err := s.Write(&buf, Format{NG: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[layers.LinkType]int{}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		iface, _ := r.Interface(ci.InterfaceIndex)
		if p := gopacket.NewPacket(data, iface.LinkType, gopacket.Default); p.Layer(layers.LayerTypeTCP) == nil {
			t.Fatalf("frame on %v does not decode to TCP", iface.LinkType)
		}
		seen[iface.LinkType]++
	}
	if r.NInterfaces() != 3 {
		t.Fatalf("%d interfaces, want 3", r.NInterfaces())
	}
	if len(seen) != 3 || int64(seen[layers.LinkTypeEthernet]+seen[layers.LinkTypeLinuxSLL]+seen[layers.LinkTypeNull]) != st.Packets {
		t.Fatalf("packets per link type %v, %d written", seen, st.Packets)
	}
}

// TestDeterministic: the seed alone decides the capture.
func TestDeterministic(t *testing.T) {
	s := tcpflowScenarios()["everything"]
	sums := map[[32]byte]bool{}
	for range 2 {
		var buf bytes.Buffer
		if _, err := s.Write(&buf, Format{NG: true}); err != nil {
			t.Fatal(err)
		}
		sums[sha256.Sum256(buf.Bytes())] = true
	}
	if len(sums) != 1 {
		t.Fatal("two writes of one scenario differ")
	}
	s2 := *s
	s2.Seed++
	var buf bytes.Buffer
	if _, err := s2.Write(&buf, Format{NG: true}); err != nil {
		t.Fatal(err)
	}
	if sums[sha256.Sum256(buf.Bytes())] {
		t.Fatal("another seed wrote the same capture")
	}
}

func streamBytes(d Data) []byte {
	b := make([]byte, d.Len())
	d.Fill(b, 0)
	return b
}

// TestExpectedModel checks Expected against the streams themselves.
func TestExpectedModel(t *testing.T) {
	t.Run("clean copies give the streams", func(t *testing.T) {
		s := &Scenario{Seed: 1, Conns: conns(20, false, 5000, 7000), Reorder: 0.3, Duplicate: 0.2, Retransmit: 0.2, WrapISN: true}
		st, _ := s.Write(io.Discard, Format{})
		if st.Reordered == 0 || st.Duplicated == 0 || st.Retransmits == 0 {
			t.Fatalf("scenario did not exercise its options: %+v", st)
		}
		files := s.Expected()
		if len(files) != 40 {
			t.Fatalf("%d files, want 40", len(files))
		}
		for i := range s.Conns {
			c := &s.Conns[i]
			if !bytes.Equal(files[c.Name(ClientToServer)], streamBytes(c.ClientData)) ||
				!bytes.Equal(files[c.Name(ServerToClient)], streamBytes(c.ServerData)) {
				t.Fatalf("conn %d: files differ from the streams", i)
			}
		}
	})
	t.Run("holes are zeros", func(t *testing.T) {
		s := &Scenario{Seed: 2, Conns: conns(10, false, 20000, 20000), Drop: 0.3}
		st, _ := s.Write(io.Discard, Format{})
		files := s.Expected()
		var zeros int
		for i := range s.Conns {
			c := &s.Conns[i]
			for _, d := range []Dir{ClientToServer, ServerToClient} {
				got, want := files[c.Name(d)], streamBytes(c.data(int(d)))
				if len(got) > len(want) || st.Dropped == 0 {
					t.Fatalf("conn %d: %d bytes of %d, %d dropped", i, len(got), len(want), st.Dropped)
				}
				for k := range got {
					if got[k] != want[k] && got[k] != 0 {
						t.Fatalf("conn %d dir %d: byte %d is %#x, want %#x or a hole", i, d, k, got[k], want[k])
					}
					if got[k] == 0 && want[k] != 0 {
						zeros++
					}
				}
			}
		}
		if zeros == 0 {
			t.Fatal("no zero-filled hole")
		}
	})
	t.Run("conflicts: first copy is the stream, later copies win", func(t *testing.T) {
		s := &Scenario{Seed: 3, Conns: conns(10, false, 20000, 20000), Conflict: 0.3}
		st, _ := s.Write(io.Discard, Format{})
		last, first := s.Expected(), s.ExpectedFirstWins()
		var differ int
		for i := range s.Conns {
			c := &s.Conns[i]
			for _, d := range []Dir{ClientToServer, ServerToClient} {
				want := streamBytes(c.data(int(d)))
				if !bytes.Equal(first[c.Name(d)], want) {
					t.Fatalf("conn %d dir %d: first-wins file is not the stream", i, d)
				}
				l := last[c.Name(d)]
				for k := range l {
					if l[k] != want[k] {
						if l[k] != ^want[k] {
							t.Fatalf("conn %d dir %d byte %d: %#x is neither the stream's nor its conflict", i, d, k, l[k])
						}
						differ++
					}
				}
			}
		}
		if st.Conflicts == 0 || differ == 0 {
			t.Fatalf("%d conflicts, %d bytes differ", st.Conflicts, differ)
		}
	})
	t.Run("midstream starts at the lowest sequence seen", func(t *testing.T) {
		cs := conns(10, false, 9000, 9000)
		for i := range cs {
			cs[i].Midstream = true
		}
		s := &Scenario{Seed: 4, Conns: cs, Drop: 0.15}
		s.Write(io.Discard, Format{})
		files := s.Expected()
		var shorter int
		for i := range cs {
			c := &cs[i]
			got, want := files[c.Name(ClientToServer)], streamBytes(c.ClientData)
			// The file starts at the first byte of some segment and
			// matches the stream but for holes.
			start := -1
			for at := 0; at+len(got) <= len(want) && start < 0; at += defaultMSS {
				start = at
				for k := range got {
					if got[k] != 0 && got[k] != want[at+k] {
						start = -1
						break
					}
				}
			}
			if start < 0 || len(got) == 0 {
				t.Fatalf("conn %d: %d bytes that are not the stream from a segment", i, len(got))
			}
			if start > 0 {
				shorter++
			}
		}
		if shorter == 0 {
			t.Fatal("no midstream file lost its first segment")
		}
	})
	t.Run("keep-alive is not data", func(t *testing.T) {
		s := &Scenario{Seed: 5, Conns: conns(2, false, 3000, 3000), KeepAlive: true}
		st, _ := s.Write(io.Discard, Format{})
		if st.KeepAlives == 0 {
			st.KeepAlives = -1
		}
		files := s.Expected()
		c := &s.Conns[0]
		if !bytes.Equal(files[c.Name(ClientToServer)], streamBytes(c.ClientData)) {
			t.Fatal("keep-alive changed the file")
		}
	})
	t.Run("SYN data, port reuse, new SYN while open", func(t *testing.T) {
		cs := conns(1, false, 3000, 1000)
		cs[0].SYNData = 100
		cs[0].Close = CloseNone
		cs = append(cs, cs[0], cs[0])
		cs[1].SYNData, cs[1].ClientData, cs[1].Close = 0, Bytes("two"), CloseFIN
		cs[2].SYNData, cs[2].ClientData, cs[2].ServerData = 0, nil, Bytes("three")
		s := &Scenario{Seed: 6, Conns: cs}
		files := s.Expected()
		cli, srv := cs[0].Name(ClientToServer), cs[0].Name(ServerToClient)
		want := map[string]string{
			cli:        string(streamBytes(cs[0].ClientData)),
			srv:        string(streamBytes(cs[0].ServerData)),
			cli + "c1": "two",
			srv + "c1": string(streamBytes(cs[1].ServerData)),
			srv + "c2": "three",
		}
		if len(files) != len(want) {
			t.Errorf("%d files, want %d", len(files), len(want))
		}
		for name, w := range want {
			if string(files[name]) != w {
				t.Errorf("%s: %d bytes, want %d", name, len(files[name]), len(w))
			}
		}
	})
}

func TestName(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		c    Conn
		d    Dir
		want string
	}{
		{Conn{Client: ap("10.0.0.1:1234"), Server: ap("10.0.0.2:80")}, ClientToServer, "010.000.000.001.01234-010.000.000.002.00080"},
		{Conn{Client: ap("10.0.0.1:1234"), Server: ap("192.168.100.2:80")}, ServerToClient, "192.168.100.002.00080-010.000.000.001.01234"},
		{Conn{Client: ap("10.0.0.1:1"), Server: ap("10.0.0.2:65535"), VLAN: []VLAN{{TCI: 10}}}, ClientToServer, "010.000.000.001.00001-010.000.000.002.65535--10"},
		{Conn{Client: ap("10.0.0.1:1"), Server: ap("10.0.0.2:2"), VLAN: []VLAN{{TCI: 5<<13 | 10}}}, ClientToServer, "010.000.000.001.00001-010.000.000.002.00002--40970"},
		{Conn{Client: ap("10.0.0.1:1"), Server: ap("10.0.0.2:2"), VLAN: []VLAN{{TPID: 0x88a8, TCI: 10}, {TCI: 20}}}, ClientToServer, "010.000.000.001.00001-010.000.000.002.00002"},
		{Conn{Client: ap("10.0.0.1:1"), Server: ap("10.0.0.2:2"), VLAN: []VLAN{{TCI: 10}}, Link: SLL}, ClientToServer, "010.000.000.001.00001-010.000.000.002.00002"},
		{Conn{Client: ap("[::1]:8002"), Server: ap("[::1]:37348")}, ClientToServer, "::1.08002-::1.37348"},
		{Conn{Client: ap("[2001:db8::1]:40000"), Server: ap("[2001:db8::2]:443")}, ClientToServer, "2001:db8::1.40000-2001:db8::2.00443"},
	}
	for _, tt := range tests {
		if got := tt.c.Name(tt.d); got != tt.want {
			t.Errorf("%v %v %d: %q, want %q", tt.c.Client, tt.c.Server, tt.d, got, tt.want)
		}
	}
}

// TestNtop6 holds glibc inet_ntop's outputs.
func TestNtop6(t *testing.T) {
	for in, want := range map[string]string{
		"::":                      "::",
		"::1":                     "::1",
		"1::":                     "1::",
		"2001:db8::1":             "2001:db8::1",
		"2001:db8:0:0:1:0:0:1":    "2001:db8::1:0:0:1",
		"2001:0:0:1:0:0:0:1":      "2001:0:0:1::1",
		"2001:db8:0:1:1:1:1:1":    "2001:db8:0:1:1:1:1:1",
		"fe80::abcd:ef01":         "fe80::abcd:ef01",
		"::ffff:10.0.0.1":         "::ffff:10.0.0.1",
		"::10.0.0.1":              "::10.0.0.1",
		"::ffff:0:a00:1":          "::ffff:0:a00:1",
		"1:2:3:4:5:6:7:8":         "1:2:3:4:5:6:7:8",
		"1:0:0:2:0:0:0:3":         "1:0:0:2::3",
		"ABCD:0:0:0:0:0:0:1":      "abcd::1",
		"0:0:1:0:0:0:0:0":         "0:0:1::",
		"0:0:0:0:0:1:0:0":         "::1:0:0",
		"0:0:0:0:0:ffff:0102:304": "::ffff:1.2.3.4",
	} {
		if got := ntop6(netip.MustParseAddr(in).As16()); got != want {
			t.Errorf("ntop6(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteFileGzip(t *testing.T) {
	s := &Scenario{Conns: conns(2, false, 1000, 1000)}
	dir := t.TempDir()
	plain, gz := filepath.Join(dir, "c.pcap"), filepath.Join(dir, "c.pcap.gz")
	if _, err := s.WriteFile(plain, Format{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteFile(gz, Format{}); err != nil {
		t.Fatal(err)
	}
	p, _ := os.ReadFile(plain)
	z, _ := os.ReadFile(gz)
	if len(z) < 2 || z[0] != 0x1f || z[1] != 0x8b || bytes.Equal(p, z) {
		t.Fatal("the .gz file is not gzip")
	}
	if _, err := s.WriteFile(filepath.Join(dir, "missing", "c.pcap"), Format{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("writing into a missing directory: %v", err)
	}
}

// TestEncodeAllocs: once its buffers have grown, the encoder allocates
// nothing per packet.
func TestEncodeAllocs(t *testing.T) {
	s := &Scenario{Conns: conns(1, false, 1<<20, 0), Fragment: 1, IPv4Options: true}
	var ps []pkt
	var st Stats
	s.schedule(&st, func(c *Conn, p *pkt) error { ps = append(ps, *p); return nil })
	e := newEncoder(s, Format{}.order())
	emit := func([]byte) error { return nil }
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		e.encode(&s.Conns[0], &ps[3+i%500], emit)
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
}

func BenchmarkWrite(b *testing.B) {
	s := &Scenario{Conns: conns(100, false, 0, 10<<20)}
	var st Stats
	for b.Loop() {
		st, _ = s.Write(io.Discard, Format{})
	}
	b.SetBytes(st.Bytes)
	b.ReportMetric(float64(st.Packets), "packets/op")
}
