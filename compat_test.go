package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowcap/flowcap/capture/capturetest"
)

// The tests of docs/compat.md: for each deliberate difference, a capture
// written by capturetest, whose flow files are known by construction, on
// which tcpflow 1.6.1 is wrong in the way compat.md says and flowcap
// writes exactly the expected files.

// endpoints returns n client/server pairs (IPv4 or IPv6) with pattern data.
func compatConns(n int, v6 bool, client, server int64) []capturetest.Conn {
	cs := make([]capturetest.Conn, n)
	for i := range cs {
		c, s := capturetest.Endpoints(i, v6)
		cs[i] = capturetest.Conn{Client: c, Server: s,
			ClientData: capturetest.Pattern(uint64(2*i), client), ServerData: capturetest.Pattern(uint64(2*i+1), server)}
	}
	return cs
}

// writeCapture writes a scenario into a test directory.
func writeCapture(t *testing.T, s *capturetest.Scenario, f capturetest.Format) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c."+strings.SplitN(f.String(), "-", 2)[0])
	if _, err := s.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	return path
}

// sameFiles reports every difference between an output directory and the
// expected files.
func sameFiles(t *testing.T, who string, got map[string]outFile, want map[string][]byte) bool {
	t.Helper()
	ok := true
	for name, w := range want {
		g, found := got[name]
		switch {
		case !found:
			t.Errorf("%s: missing %s (%d bytes)", who, name, len(w))
			ok = false
		case !bytes.Equal(g.data, w):
			t.Errorf("%s: %s: %d bytes, want %d, first difference at %d", who, name, g.size, len(w), firstDifference(g.data, w))
			ok = false
		}
	}
	for name, g := range got {
		if _, found := want[name]; !found {
			t.Errorf("%s: unexpected %s (%d bytes)", who, name, g.size)
			ok = false
		}
	}
	return ok
}

func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// flowcapWrites runs flowcap on a capture and checks its files.
func flowcapWrites(t *testing.T, path string, want map[string][]byte) {
	t.Helper()
	dir, _, stderr, code := runFlowcap(t, path)
	if !sameFiles(t, "flowcap", readOutput(t, dir), want) || code != 0 {
		t.Logf("flowcap exit %d: %s", code, stderr)
	}
}

// tcpflowOutput runs tcpflow on a capture and returns its files.
func tcpflowOutput(t *testing.T, path string) (files map[string]outFile, stderr string, code int) {
	t.Helper()
	dir, stderr, code := runTcpflow(t, path)
	return readOutput(t, dir), stderr, code
}

func TestCompatPadding(t *testing.T) {
	cs := compatConns(4, false, 3000, 5000)
	cs[3].ServerData = nil // a direction that sends only ACKs
	s := &capturetest.Scenario{Seed: 1, Conns: cs, Pad: true}
	path := writeCapture(t, s, capturetest.Format{})
	want := s.Expected()

	// tcpflow: every expected file followed by up to 6 bytes of padding,
	// and padded ACKs as files of their own.
	tf, _, _ := tcpflowOutput(t, path)
	var garbage int
	for name, f := range tf {
		w := want[name]
		if !bytes.HasPrefix(f.data, w) || f.size-int64(len(w)) > 6 {
			t.Errorf("tcpflow: %s is not the expected %d bytes and some padding: %d bytes", name, len(w), f.size)
		}
		garbage += int(f.size) - len(w)
	}
	if garbage == 0 {
		t.Error("tcpflow appended no padding: the scenario does not show the difference")
	}
	flowcapWrites(t, path, want)

	t.Run("keep-alive", func(t *testing.T) {
		cs := compatConns(2, false, 12000, 12000)
		for i := range cs {
			cs[i].Turn = 3000
		}
		s := &capturetest.Scenario{Seed: 2, Conns: cs, Pad: true, KeepAlive: true}
		path := writeCapture(t, s, capturetest.Format{})
		want := s.Expected()
		tf, _, _ := tcpflowOutput(t, path)
		name := cs[0].Name(capturetest.ClientToServer)
		if changed := countChanged(tf[name].data, want[name]); changed == 0 {
			t.Errorf("tcpflow: %s: the padded keep-alive probes changed no byte", name)
		}
		flowcapWrites(t, path, want)
	})
}

func countChanged(a, b []byte) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func TestCompatTSO(t *testing.T) {
	s := &capturetest.Scenario{Seed: 3, Conns: compatConns(2, false, 40000, 60000), TSO: true, MSS: 16000}
	path := writeCapture(t, s, capturetest.Format{})
	tf, _, _ := tcpflowOutput(t, path)
	if len(tf) != 0 {
		t.Errorf("tcpflow wrote %d files from segments with IP total length 0, want none", len(tf))
	}
	flowcapWrites(t, path, s.Expected())
}

func TestCompatIPv4Fragments(t *testing.T) {
	s := &capturetest.Scenario{Seed: 4, Conns: compatConns(3, false, 6000, 9000), Fragment: 1, FragSize: 256}
	path := writeCapture(t, s, capturetest.Format{})
	want := s.Expected()
	tf, _, _ := tcpflowOutput(t, path)
	for name, w := range want {
		got := tf[name].data
		var kept int
		for i, b := range got {
			if i >= len(w) || (b != w[i] && b != 0) {
				t.Fatalf("tcpflow: %s byte %d is neither the stream's nor a hole", name, i)
			}
			if b == w[i] && b != 0 {
				kept++
			}
		}
		if kept >= len(w)-len(w)/20 {
			t.Errorf("tcpflow: %s kept %d of %d bytes: it should keep only first fragments", name, kept, len(w))
		}
	}
	flowcapWrites(t, path, want)

	s.FragShuffle = true
	flowcapWrites(t, writeCapture(t, s, capturetest.Format{}), s.Expected())
}

func TestCompatIPv6Headers(t *testing.T) {
	for name, s := range map[string]*capturetest.Scenario{
		"extension headers": {Seed: 5, Conns: compatConns(3, true, 4000, 6000), IPv6ExtHeaders: true},
		"fragments":         {Seed: 6, Conns: compatConns(3, true, 4000, 6000), Fragment: 1, FragShuffle: true},
		"both":              {Seed: 7, Conns: compatConns(3, true, 4000, 6000), Fragment: 0.5, IPv6ExtHeaders: true},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeCapture(t, s, capturetest.Format{})
			if tf, _, _ := tcpflowOutput(t, path); len(tf) != 0 {
				t.Errorf("tcpflow wrote %d files, want none (it drops IPv6 with extension headers)", len(tf))
			}
			flowcapWrites(t, path, s.Expected())
		})
	}
}

func TestCompatLinkTypes(t *testing.T) {
	for _, l := range []capturetest.Link{capturetest.SLL2, capturetest.IPv4Raw, capturetest.IPv6Raw} {
		t.Run(l.String(), func(t *testing.T) {
			cs := compatConns(3, l == capturetest.IPv6Raw, 3000, 7000)
			for i := range cs {
				cs[i].Link = l
			}
			s := &capturetest.Scenario{Seed: 8, Conns: cs}
			path := writeCapture(t, s, capturetest.Format{})
			tf, stderr, code := tcpflowOutput(t, path)
			if want := fmt.Sprintf("unknown datalink type %d", l.DLT()); code == 0 || len(tf) != 0 || !strings.Contains(stderr, want) {
				t.Errorf("tcpflow: exit %d, %d files, %q; want exit 1 saying %q", code, len(tf), stderr, want)
			}
			flowcapWrites(t, path, s.Expected())
		})
	}
}

func TestCompatMixedLinks(t *testing.T) {
	cs := append(compatConns(3, false, 3000, 5000), compatConns(1, true, 2000, 2000)...)
	cs[1].Link, cs[2].Link, cs[3].Link = capturetest.SLL, capturetest.Raw, capturetest.Null
	cs[3].Client = netip.MustParseAddrPort("[2001:db8::99]:5555")
	s := &capturetest.Scenario{Seed: 9, Conns: cs}
	path := writeCapture(t, s, capturetest.Format{NG: true})
	tf, stderr, code := tcpflowOutput(t, path)
	if code == 0 || len(tf) != 0 || !strings.Contains(stderr, "different from the type of the first interface") {
		t.Errorf("tcpflow: exit %d, %d files, %q; want it to refuse the file", code, len(tf), stderr)
	}
	flowcapWrites(t, path, s.Expected())
}

func TestCompatNullIPv6(t *testing.T) {
	for _, family := range []uint32{24, 28, 30} {
		for _, f := range []capturetest.Format{{}, {BigEndian: true}} {
			t.Run(fmt.Sprintf("AF_INET6=%d/%v", family, f), func(t *testing.T) {
				cs := append(compatConns(2, false, 3000, 4000), compatConns(2, true, 3000, 4000)...)
				for i := range cs {
					cs[i].Link = capturetest.Null
				}
				s := &capturetest.Scenario{Seed: 10, Conns: cs, NullFamily6: family}
				path := writeCapture(t, s, f)
				want := s.Expected()
				// tcpflow reads the family's first byte: IPv4 only from a
				// little-endian file, nothing from a big-endian one.
				tcpflowWants := map[string][]byte{}
				if !f.BigEndian {
					for _, c := range cs[:2] {
						for _, d := range []capturetest.Dir{capturetest.ClientToServer, capturetest.ServerToClient} {
							tcpflowWants[c.Name(d)] = want[c.Name(d)]
						}
					}
				}
				tf, _, _ := tcpflowOutput(t, path)
				sameFiles(t, "tcpflow", tf, tcpflowWants)
				flowcapWrites(t, path, want)
			})
		}
	}
}

// TestCompatBadTCPHeader: a segment whose TCP data offset is 0. The
// capture is written by capturetest and then one header byte is patched.
func TestCompatBadTCPHeader(t *testing.T) {
	cs := compatConns(2, false, 200, 0)
	for i := range cs {
		cs[i].Midstream, cs[i].Close = true, capturetest.CloseNone
	}
	s := &capturetest.Scenario{Seed: 11, Conns: cs, Concurrency: 1}
	path := writeCapture(t, s, capturetest.Format{})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The first frame is conn 0's only segment: pcap header (24), record
	// header (16), Ethernet (14), IPv4 (20), then TCP; byte 12 of TCP holds
	// the data offset.
	const offsetByte = 24 + 16 + 14 + 20 + 12
	if data[offsetByte] != 5<<4 {
		t.Fatalf("byte %d is %#x, not a data offset of 5", offsetByte, data[offsetByte])
	}
	data[offsetByte] = 0
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := s.Expected()
	bad := cs[0].Name(capturetest.ClientToServer)
	delete(want, bad)

	tf, _, _ := tcpflowOutput(t, path)
	if f := tf[bad]; f.size != 20+200 {
		t.Errorf("tcpflow: %s has %d bytes, want the 20-byte header and 200 bytes of payload", bad, f.size)
	}
	flowcapWrites(t, path, want)
}

// TestCompatSeqJump: a SYN-less stream, then data 2^31 past it on the same
// 4-tuple.
func TestCompatSeqJump(t *testing.T) {
	c, s := capturetest.Endpoints(0, false)
	first := capturetest.Conn{Client: c, Server: s, ClientData: capturetest.Pattern(1, 100),
		ClientISN: 1000, Midstream: true, Close: capturetest.CloseNone}
	second := first
	second.ClientData, second.ClientISN = capturetest.Pattern(2, 50), 1000+100+1<<31
	sc := &capturetest.Scenario{Seed: 12, Conns: []capturetest.Conn{first, second}}
	path := writeCapture(t, sc, capturetest.Format{})
	want := sc.Expected()
	name := first.Name(capturetest.ClientToServer)
	if len(want) != 2 || len(want[name+"c1"]) != 50 {
		t.Fatalf("expected files: %d", len(want))
	}
	tf, _, _ := tcpflowOutput(t, path)
	if f := tf[name]; f.size < 1<<31 {
		t.Errorf("tcpflow: %s has %d bytes, want 2 GiB or more", name, f.size)
	}
	flowcapWrites(t, path, want)
}

// TestCompatNewSYN: a connection that never ends, then a new SYN with
// another ISN on the same 4-tuple.
func TestCompatNewSYN(t *testing.T) {
	c, s := capturetest.Endpoints(0, false)
	old := capturetest.Conn{Client: c, Server: s, ClientData: capturetest.Pattern(1, 3000), ServerData: capturetest.Pattern(2, 4000),
		ClientISN: 5000, ServerISN: 9000, Close: capturetest.CloseNone}
	next := old
	next.ClientData, next.ServerData = capturetest.Pattern(3, 2000), capturetest.Pattern(4, 1000)
	next.ClientISN, next.ServerISN, next.Close = 5000+100000, 9000+200000, capturetest.CloseFIN
	sc := &capturetest.Scenario{Seed: 13, Conns: []capturetest.Conn{old, next}}
	path := writeCapture(t, sc, capturetest.Format{})
	want := sc.Expected()
	if len(want) != 4 {
		t.Fatalf("%d expected files, want 4", len(want))
	}
	tf, stderr, _ := tcpflowOutput(t, path)
	name := old.Name(capturetest.ClientToServer)
	if f := tf[name]; f.size != 100000+2000 || !strings.Contains(stderr, "SYN TO IGNORE") {
		t.Errorf("tcpflow: %s has %d bytes, want the new data 100000 bytes in; stderr %q", name, f.size, stderr)
	}
	flowcapWrites(t, path, want)
}

// TestCompatUnsupportedLinkType: a link type neither reads (LINKTYPE_USER0).
func TestCompatUnsupportedLinkType(t *testing.T) {
	s := &capturetest.Scenario{Seed: 14, Conns: compatConns(1, false, 100, 100)}
	path := writeCapture(t, s, capturetest.Format{})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[20], data[21], data[22], data[23] = 147, 0, 0, 0 // the pcap header's link type
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if tf, stderr, code := tcpflowOutput(t, path); code == 0 || len(tf) != 0 || !strings.Contains(stderr, "unknown datalink type 147") {
		t.Errorf("tcpflow: exit %d, %d files, %q", code, len(tf), stderr)
	}
	dir, _, stderr, _ := runFlowcap(t, path)
	if files := readOutput(t, dir); len(files) != 0 {
		t.Errorf("flowcap wrote %d files", len(files))
	}
	if n := strings.Count(stderr, "(147)"); n != 1 {
		t.Errorf("flowcap names link type 147 %d times, want once: %q", n, stderr)
	}
}
