package capture_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/flowcap/flowcap/capture"
	"github.com/flowcap/flowcap/capture/capturetest"
	"github.com/flowcap/flowcap/reassembly"
)

// TestScenarios reads synthetic captures (every link type and file format
// capturetest writes, with IP options, IPv6 extension headers, shuffled
// fragments, padding, TSO lengths, VLAN tags) and checks every segment
// against the bytes its connection sent.
func TestScenarios(t *testing.T) {
	for _, link := range capturetest.Links {
		for _, v6 := range []bool{false, true} {
			if link == capturetest.IPv4Raw && v6 || link == capturetest.IPv6Raw && !v6 {
				continue
			}
			for i, opts := range []func(*capturetest.Scenario){
				func(s *capturetest.Scenario) {
					s.Fragment, s.FragShuffle, s.FragSize = 0.5, true, 64
					s.IPv4Options, s.IPv6ExtHeaders = true, true
				},
				func(s *capturetest.Scenario) { s.Pad, s.Reorder, s.Duplicate = true, 0.2, 0.1 },
				func(s *capturetest.Scenario) { s.TSO, s.MSS = true, 9000 },
			} {
				format := capturetest.Formats[(i+int(link))%len(capturetest.Formats)]
				t.Run(fmt.Sprintf("%v/v6=%v/%d/%v", link, v6, i, format), func(t *testing.T) {
					checkScenario(t, link, v6, format, opts)
				})
			}
		}
	}
}

func checkScenario(t *testing.T, link capturetest.Link, v6 bool, format capturetest.Format, opts func(*capturetest.Scenario)) {
	s := &capturetest.Scenario{Seed: 7, MSS: 300}
	sent := map[reassembly.Key][]byte{} // the bytes each direction sends, from ISN+1
	for i := range 4 {
		client, server := capturetest.Endpoints(i, v6)
		c := capturetest.Conn{
			Client: client, Server: server, Link: link,
			ClientData: capturetest.Bytes(bytes.Repeat([]byte(fmt.Sprintf("request %d;", i)), 100+50*i)),
			ServerData: capturetest.Bytes(bytes.Repeat([]byte(fmt.Sprintf("RESPONSE %d|", i)), 300)),
			Turn:       700,
			ClientISN:  1000 * uint32(i+1), ServerISN: 0xfffff000 + uint32(i), // the server's stream wraps
		}
		if link == capturetest.Ethernet {
			c.VLAN = []capturetest.VLAN{{TCI: 0xa00a}, {TPID: 0x88a8, TCI: 5}}
		}
		s.Conns = append(s.Conns, c)
		sent[reassembly.Key{Src: client, Dst: server}] = c.ClientData.(capturetest.Bytes)
		sent[reassembly.Key{Src: server, Dst: client}] = c.ServerData.(capturetest.Bytes)
	}
	opts(s)
	var file bytes.Buffer
	st, err := s.Write(&file, format)
	if err != nil {
		t.Fatal(err)
	}
	isn := map[reassembly.Key]reassembly.Seq{}
	covered := map[reassembly.Key]int{}
	src, err := capture.NewSource(&file, "scenario")
	if err != nil {
		t.Fatal(err)
	}
	d := capture.NewDecoder()
	var seg reassembly.Segment
	var segments int64
	for {
		data, info, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch res := d.Decode(data, info, &seg); res {
		case capture.Pending:
			continue
		case capture.OK:
		default:
			t.Fatalf("packet: %v", res)
		}
		segments++
		want, ok := sent[seg.Key]
		if !ok {
			t.Fatalf("segment of an unknown connection %v -> %v", seg.Key.Src, seg.Key.Dst)
		}
		wantVLAN := int32(reassembly.NoVLAN)
		if link == capturetest.Ethernet {
			wantVLAN = 0xa00a
		}
		if seg.VLAN != wantVLAN {
			t.Errorf("VLAN %d, want %d", seg.VLAN, wantVLAN)
		}
		if seg.Flags.Has(reassembly.SYN) {
			isn[seg.Key] = seg.Seq
		}
		if len(seg.Payload) == 0 {
			continue
		}
		start, ok := isn[seg.Key]
		if !ok {
			t.Fatalf("data before the SYN on %v", seg.Key)
		}
		off := int(seg.Seq.Diff(start.Add(1)))
		if off < 0 || off+len(seg.Payload) > len(want) || !bytes.Equal(seg.Payload, want[off:off+len(seg.Payload)]) {
			t.Fatalf("%v -> %v at %d: %q is not what was sent", seg.Key.Src, seg.Key.Dst, off, seg.Payload)
		}
		covered[seg.Key] = max(covered[seg.Key], off+len(seg.Payload))
	}
	if segments != st.Segments {
		t.Errorf("%d segments, the capture has %d", segments, st.Segments)
	}
	for k, b := range sent {
		if covered[k] != len(b) {
			t.Errorf("%v -> %v: data up to %d of %d", k.Src, k.Dst, covered[k], len(b))
		}
	}
	ds := d.Stats().Defrag
	if ds.InProgress != 0 || ds.Datagrams != uint64(st.Fragmented) || d.Stats().Truncated != 0 {
		t.Errorf("%+v, truncated %d; the capture has %d fragmented segments", ds, d.Stats().Truncated, st.Fragmented)
	}
}
