package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/flowcap/flowcap/reassembly"
)

// The datagram the fragment tests cut up: a TCP header (seq 100, ack 200,
// PSH|ACK) and 100 bytes of payload "000102...".
var (
	fragTCP     = unhex(tcpHdr)
	fragPayload = func() []byte {
		b := make([]byte, 100)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}()
	fragDatagram = append(append([]byte(nil), fragTCP...), fragPayload...) // 120 bytes
)

// frag4 is an IPv4 fragment of datagram id carrying d[off:end].
func frag4(id uint16, d []byte, off, end int, more bool) []byte {
	h := unhex("4500 0000 0000 0000 4006 0000 c0a80102 0a000001")
	binary.BigEndian.PutUint16(h[2:], uint16(20+end-off))
	binary.BigEndian.PutUint16(h[4:], id)
	field := uint16(off / 8)
	if more {
		field |= 0x2000
	}
	binary.BigEndian.PutUint16(h[6:], field)
	return append(h, d[off:end]...)
}

// frag6 is an IPv6 fragment (after a hop-by-hop header) of datagram id
// carrying d[off:end]; first is the header that starts the fragmentable part.
func frag6(id uint32, first uint8, d []byte, off, end int, more bool) []byte {
	h := unhex("6000 0000 0000 0040" + ipv6Addrs + "2c00 0104 00000000") // next: hop-by-hop, then fragment
	binary.BigEndian.PutUint16(h[4:], uint16(8+8+end-off))
	f := make([]byte, 8)
	f[0] = first
	field := uint16(off)
	if more {
		field |= 1
	}
	binary.BigEndian.PutUint16(f[2:], field)
	binary.BigEndian.PutUint32(f[4:], id)
	return append(append(h, f...), d[off:end]...)
}

type fragStep struct {
	frame []byte
	time  int64 // seconds
	res   Result
}

func runFrags(t *testing.T, d *Decoder, lt LinkType, steps []fragStep) *reassembly.Segment {
	t.Helper()
	var seg reassembly.Segment
	for i, s := range steps {
		info := Info{Time: s.time * 1e9, CapLen: len(s.frame), WireLen: len(s.frame) + 1, LinkType: lt}
		if res := d.Decode(s.frame, info, &seg); res != s.res {
			t.Fatalf("fragment %d: %v, want %v", i+1, res, s.res)
		}
	}
	return &seg
}

func TestDefragIPv4(t *testing.T) {
	D := fragDatagram
	for _, c := range []struct {
		name  string
		steps []fragStep
		want  []byte
	}{
		{"in order", []fragStep{
			{frag4(1, D, 0, 48, true), 0, Pending},
			{frag4(1, D, 48, 96, true), 0, Pending},
			{frag4(1, D, 96, 120, false), 0, OK},
		}, fragPayload},
		{"reverse", []fragStep{
			{frag4(1, D, 96, 120, false), 0, Pending},
			{frag4(1, D, 48, 96, true), 0, Pending},
			{frag4(1, D, 0, 48, true), 0, OK},
		}, fragPayload},
		{"duplicate", []fragStep{
			{frag4(1, D, 0, 48, true), 0, Pending},
			{frag4(1, D, 0, 48, true), 0, Pending},
			{frag4(1, D, 48, 120, false), 0, OK},
		}, fragPayload},
		{"overlap: first wins", []fragStep{
			{frag4(1, D, 0, 64, true), 0, Pending},
			{frag4(1, bytes.Repeat([]byte{'X'}, 120), 32, 96, true), 0, Pending}, // 32..64 old, 64..96 new
			{frag4(1, D, 88, 120, false), 0, OK},                                 // 88..96 old
		}, func() []byte {
			b := append([]byte(nil), fragPayload...)
			copy(b[64-20:96-20], bytes.Repeat([]byte{'X'}, 32))
			return b
		}()},
		{"two datagrams interleaved", []fragStep{
			{frag4(1, D, 0, 48, true), 0, Pending},
			{frag4(2, D, 0, 48, true), 0, Pending},
			{frag4(2, D, 48, 120, false), 0, OK},
		}, fragPayload},
		{"within the timeout", []fragStep{
			{frag4(1, D, 0, 48, true), 0, Pending},
			{frag4(1, D, 48, 120, false), 30, OK},
		}, fragPayload},
		{"timed out", []fragStep{
			{frag4(1, D, 0, 48, true), 0, Pending},
			{frag4(1, D, 48, 120, false), 31, Pending}, // the first fragment is gone: this starts anew
			{frag4(1, D, 0, 48, true), 31, OK},
		}, fragPayload},
		{"misaligned middle fragment", []fragStep{
			{frag4(1, D, 0, 47, true), 0, BadFragment},
		}, nil},
		{"two different ends", []fragStep{
			{frag4(1, D, 96, 120, false), 0, Pending},
			{frag4(1, D, 48, 112, false), 0, BadFragment},
			{frag4(1, D, 0, 96, true), 0, OK},
		}, fragPayload},
		{"data beyond the end", []fragStep{
			{frag4(1, D, 48, 116, true), 0, BadFragment}, // 68 bytes: not a multiple of 8
			{frag4(1, D, 48, 112, true), 0, Pending},
			{frag4(1, D, 40, 48, false), 0, BadFragment}, // ends at 48, but 48..112 came
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder()
			seg := runFrags(t, d, LinkIPv4, c.steps)
			if c.want == nil {
				return
			}
			if !bytes.Equal(seg.Payload, c.want) {
				t.Errorf("payload %x\nwant    %x", seg.Payload, c.want)
			}
			if seg.Seq != 100 || seg.Key.Src.String() != "192.168.1.2:12345" || seg.Key.Dst.String() != "10.0.0.1:80" {
				t.Errorf("segment %v -> %v seq %d", seg.Key.Src, seg.Key.Dst, seg.Seq)
			}
			var wire uint32
			id := c.steps[len(c.steps)-1].frame[5]
			for _, s := range c.steps {
				if s.res != BadFragment && s.frame[5] == id {
					wire += uint32(len(s.frame) + 1)
				}
			}
			if c.name == "timed out" {
				wire -= uint32(len(c.steps[0].frame) + 1)
			}
			if seg.WireLen != wire {
				t.Errorf("WireLen %d, want %d, the sum over the fragments", seg.WireLen, wire)
			}
		})
	}
}

func TestDefragIPv6(t *testing.T) {
	D := fragDatagram
	dstOpts := append(unhex("0600 0104 00000000"), D...) // destination options, then TCP
	for _, c := range []struct {
		name  string
		steps []fragStep
	}{
		{"tcp first", []fragStep{
			{frag6(7, protoTCP, D, 0, 64, true), 0, Pending},
			{frag6(7, protoTCP, D, 64, 120, false), 0, OK},
		}},
		{"destination options in the fragmentable part", []fragStep{
			{frag6(7, ip6DestOpts, dstOpts, 64, 128, false), 0, Pending},
			{frag6(7, ip6DestOpts, dstOpts, 0, 64, true), 0, OK},
		}},
		{"timeout is 60s", []fragStep{
			{frag6(7, protoTCP, D, 0, 64, true), 0, Pending},
			{frag6(7, protoTCP, D, 64, 120, false), 60, OK},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			seg := runFrags(t, NewDecoder(), LinkIPv6, c.steps)
			if !bytes.Equal(seg.Payload, fragPayload) || seg.Key.Src.String() != "[2001:db8::1]:12345" {
				t.Errorf("segment %v -> %v payload %x", seg.Key.Src, seg.Key.Dst, seg.Payload)
			}
		})
	}
}

// TestDefragSnapped: a fragment the capture cut short leaves zeros where
// its bytes are missing, and the segment counts as truncated.
func TestDefragSnapped(t *testing.T) {
	d := NewDecoder()
	first := frag4(1, fragDatagram, 0, 64, true)
	var seg reassembly.Segment
	if res := d.Decode(first[:20+50], Info{CapLen: 70, WireLen: 84, LinkType: LinkIPv4}, &seg); res != Pending {
		t.Fatalf("first: %v", res)
	}
	last := frag4(1, fragDatagram, 64, 120, false)
	if res := d.Decode(last, Info{CapLen: len(last), WireLen: len(last), LinkType: LinkIPv4}, &seg); res != OK {
		t.Fatalf("last: %v", res)
	}
	want := append([]byte(nil), fragPayload...)
	clear(want[50-20 : 64-20])
	if !bytes.Equal(seg.Payload, want) || d.Stats().Truncated != 1 {
		t.Errorf("payload %x, truncated %d", seg.Payload, d.Stats().Truncated)
	}
}

// TestDefragLimits: datagrams that never complete cost bounded memory; the
// oldest go first.
func TestDefragLimits(t *testing.T) {
	d := NewDecoder()
	var seg reassembly.Segment
	big := make([]byte, 65000)
	for i := range 10 * maxDatagrams {
		// 64 KiB datagrams: the byte budget binds before the count does.
		f := frag4(uint16(i), big, 64000, 65000, false)
		if res := d.Decode(f, Info{LinkType: LinkIPv4}, &seg); res != Pending {
			t.Fatalf("fragment %d: %v", i, res)
		}
		if d.defrag.bytes > maxFragBytes || len(d.defrag.active) > maxDatagrams {
			t.Fatalf("fragment %d: %d bytes in %d datagrams", i, d.defrag.bytes, len(d.defrag.active))
		}
	}
	st := d.Stats().Defrag
	if st.Evicted == 0 || st.InProgress == 0 || st.Evicted+uint64(st.InProgress) != 10*maxDatagrams {
		t.Errorf("%+v", st)
	}

	// Small datagrams: the count binds.
	d = NewDecoder()
	for i := range 2 * maxDatagrams {
		if res := d.Decode(frag4(uint16(i), fragDatagram, 0, 8, true), Info{LinkType: LinkIPv4}, &seg); res != Pending {
			t.Fatalf("fragment %d: %v", i, res)
		}
	}
	if st := d.Stats().Defrag; st.InProgress != maxDatagrams || st.Evicted != maxDatagrams {
		t.Errorf("%+v", st)
	}
	// The newest are still there: complete one.
	id := uint16(2*maxDatagrams - 1)
	if res := d.Decode(frag4(id, fragDatagram, 8, 120, false), Info{LinkType: LinkIPv4}, &seg); res != OK {
		t.Errorf("completing the newest datagram: %v", res)
	}

	// Fragments per datagram are bounded too.
	d = NewDecoder()
	for i := range maxFragsPerDgram {
		if res := d.Decode(frag4(9, big, 8*i, 8*i+8, true), Info{LinkType: LinkIPv4}, &seg); res != Pending {
			t.Fatalf("fragment %d: %v", i, res)
		}
	}
	if res := d.Decode(frag4(9, big, 8*maxFragsPerDgram, 8*maxFragsPerDgram+8, true), Info{LinkType: LinkIPv4}, &seg); res != BadFragment {
		t.Errorf("one fragment too many: %v", res)
	}
}

// TestDefragAllocs: once its buffers exist, reassembly allocates nothing.
func TestDefragAllocs(t *testing.T) {
	d := NewDecoder()
	var seg reassembly.Segment
	frames := [][]byte{
		frag4(1, fragDatagram, 64, 120, false),
		frag4(1, fragDatagram, 0, 64, true),
	}
	run := func() {
		for _, f := range frames {
			d.Decode(f, Info{LinkType: LinkIPv4}, &seg)
		}
	}
	run()
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Errorf("%v allocations per datagram", a)
	}
}

func ExampleDecoder_Decode() {
	d := NewDecoder()
	var seg reassembly.Segment
	for _, frame := range [][]byte{
		frag4(1, fragDatagram, 0, 64, true),
		frag4(1, fragDatagram, 64, 120, false),
	} {
		res := d.Decode(frame, Info{LinkType: LinkIPv4, CapLen: len(frame), WireLen: len(frame)}, &seg)
		fmt.Println(res)
	}
	fmt.Println(seg.Key.Src, "->", seg.Key.Dst, len(seg.Payload), "bytes")
	// Output:
	// fragment-pending
	// ok
	// 192.168.1.2:12345 -> 10.0.0.1:80 100 bytes
}
