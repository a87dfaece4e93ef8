package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpus lists every capture in testdata/capture with what reading it must
// give: the packet count is MANIFEST.tsv's (tshark's), but for the two
// pcapng files where tshark also counts custom and statistics blocks as
// frames (8 and 11).
var corpus = []struct {
	file      string
	packets   int
	linkTypes []LinkType // in order of first appearance
	err       error      // what ends the input: nil for io.EOF
}{
	{"gopacket__be__test018.pcapng", 4, []LinkType{LinkEthernet}, nil},
	{"gopacket__le__test002.pcapng", 0, nil, nil},
	{"gopacket__le__test202.pcapng", 8, []LinkType{LinkEthernet, LinkNull}, nil},
	{"gopacket__le__test300.pcapng", 32, []LinkType{LinkEthernet}, nil},
	{"gopacket__pcap__test_ethernet.pcap", 10, []LinkType{LinkEthernet}, nil},
	{"pcapplusplus__650HttpResponses.pcap", 682, []LinkType{LinkEthernet}, nil},
	{"pcapplusplus__Sll2Packet.pcap", 1, []LinkType{LinkLinuxSLL2}, nil},
	{"pcapplusplus__four_ipv6_http_streams.pcap", 81, []LinkType{LinkDLTRaw12}, nil},
	{"pcapplusplus__ipfragutil_ip_ids.pcap", 6, []LinkType{LinkEthernet}, nil},
	{"pcapplusplus__ldap.pcapng", 25, []LinkType{LinkEthernet, LinkLinuxSLL}, nil},
	{"pcapplusplus__many_interfaces-1.pcapng", 64, []LinkType{LinkEthernet, LinkNull}, nil},
	{"pcapplusplus__mysql.pcapng", 2, []LinkType{LinkNull}, nil},
	{"pcapplusplus__nanosecs_big_endian.pcap", 10, []LinkType{LinkEthernet}, nil},
	{"pcapplusplus__one_tcp_stream_fin_rst_close_packet.pcap", 13, []LinkType{LinkEthernet}, nil},
	{"pcapplusplus__one_tcp_stream_max_seq.pcap", 36, []LinkType{LinkEthernet}, nil},
	{"pcapplusplus__raw_ip.pcap", 100, []LinkType{LinkRaw}, nil},
	{"pcapplusplus__sll.pcap", 518, []LinkType{LinkLinuxSLL}, nil},
	{"pcapplusplus__tcp-malformed.pcap", 2, []LinkType{LinkEthernet}, nil},
	{"pcapplusplus__tcp-reassembly.pcap", 66, []LinkType{LinkEthernet}, nil},
	{"pcapplusplus__telnetCommandAfterData.pcap", 1, []LinkType{LinkEthernet}, nil},
	{"pcapplusplus__unidirectional_tcp_stream_with_missing_packet.pcap", 14, []LinkType{LinkEthernet}, nil},
	{"suricata__bug-6875-01__fuzz.pcap", 1, []LinkType{LinkEthernet}, ErrCorrupt}, // MANIFEST: "2(partial)"; record 2 claims 1409179648 bytes
	{"suricata__dcerpc__dce-gap-handling__input.pcap", 15, []LinkType{LinkEthernet}, nil},
	{"suricata__dcerpc__dcerpc-dcepayload-18__input.pcap", 5, []LinkType{LinkIPv4}, nil},
	{"suricata__decode-chdlc-01__hdlc-http_1tx.pcap", 17, []LinkType{LinkCHDLC}, nil},
	{"suricata__decode-sll2-01__input.pcap", 5, []LinkType{LinkLinuxSLL2}, nil},
	{"suricata__defrag__bug-6887-defrag-ppp-ipv6-tcp__frag-ppp-ipv6-tcp.pcap", 3, []LinkType{LinkPPP}, nil},
	{"suricata__eve-overlap-payload-01__tcp-overlap.pcap", 7, []LinkType{LinkEthernet}, nil},
	{"suricata__firewall__tcp-session-ipv6-decode-malformed__input.pcap", 8, []LinkType{LinkEthernet}, nil},
	{"suricata__http-mime-truncated__input.pcap", 2696, []LinkType{LinkEthernet}, ErrTruncated},
	{"suricata__mqtt-frames-truncated__input.pcap", 7, []LinkType{LinkEthernet}, nil},
	{"suricata__output-eve-ftp-data__input.pcap", 1350, []LinkType{LinkEthernet}, nil},
	{"suricata__pgsql__pgsql-events__UnknownMessage.pcap", 12, []LinkType{LinkRaw}, nil},
	{"suricata__pop3-auth-01__input.pcap", 29, []LinkType{LinkEthernet}, nil},
	{"suricata__rfb-parser__input.pcap", 9, []LinkType{LinkNull}, nil},
	{"suricata__sip-method__sip.pcap", 691, []LinkType{LinkEthernet}, nil},
	{"suricata__smb-eicar-overlap__input.pcap", 27, []LinkType{LinkLinuxSLL}, nil},
	{"suricata__tcp-async-01__input.pcap", 139, []LinkType{LinkEthernet}, nil},
	{"suricata__tcp-fastopen-11-reject-syn-data__tlpw-tcp-tfo-data-on-syn-nack.pcap", 29, []LinkType{LinkRaw}, nil},
	{"suricata__transform-base64-7296__input.pcap", 59, []LinkType{LinkNull}, nil},
	{"tcpdump__arcnet-rfc1201-arp-icmp-http.pcap", 26, []LinkType{129}, nil},
	{"tcpdump__babel_update_oobr.pcap", 107, []LinkType{LinkEthernet}, nil},
	{"tcpdump__beep-oobr.pcap", 2, []LinkType{LinkIPv6}, nil}, // link type field 0x300000e5: FCS length bits without the F bit
	{"tcpdump__bgp-aigp.pcap", 1, []LinkType{178}, nil},
	{"tcpdump__bgp_vpn_attrset.pcap", 1, []LinkType{LinkPPP}, nil},
	{"tcpdump__empty.pcapng", 0, nil, nil},
	{"tcpdump__gso-ipv6-vxlan-ipv6.pcap", 1, []LinkType{LinkEthernet}, nil},
	{"tcpdump__hoobr_juniper3.pcap", 1, []LinkType{132}, nil}, // MANIFEST: ERR (tshark); tcpdump reads its one packet
	{"tcpdump__ipoib.pcap", 30, []LinkType{242}, nil},
	{"tcpdump__mptcp-dss-oobr.pcap", 1, []LinkType{LinkEthernet}, nil},
	{"tcpdump__mptcp-v1.pcap", 20, []LinkType{LinkLinuxSLL}, nil},
	{"tcpdump__tfo-5c1fa7f9ae91.pcap", 14, []LinkType{LinkEthernet}, nil},
	{"tcpdump__timestamp_invalid_nano.pcap", 3, []LinkType{LinkLinuxSLL}, nil},
	{"tcpdump__unaligned-nfs-1.pcap", 1, []LinkType{LinkEthernet}, nil},
	{"tcpflow__local.pcap", 106, []LinkType{LinkNull}, nil},
	{"zeek__chksums__localhost-bad-chksum.pcap", 10, []LinkType{LinkEthernet}, nil},
	{"zeek__dns-inverse-query.pcap", 11, []LinkType{10}, nil},
	{"zeek__doc__traces__get.trace", 14, []LinkType{LinkEthernet}, nil},
	{"zeek__empty.pcap", 0, nil, nil},
	{"zeek__http-qinq-0.pcap", 14, []LinkType{LinkEthernet}, nil},
	{"zeek__http__bro.org.pcap", 751, []LinkType{LinkEthernet}, nil},
	{"zeek__http__get-to-ssh-server.pcap", 9, []LinkType{LinkEthernet}, nil},
	{"zeek__http__http-large-gap.pcap", 10, []LinkType{LinkEthernet}, nil},
	{"zeek__irc-dcc-send-malformed-host.pcap", 1, []LinkType{LinkEthernet}, nil},
	{"zeek__irc-dcc-send-malformed-port.pcap", 1, []LinkType{LinkEthernet}, nil},
	{"zeek__ldap__ldap_search_umlaut.pcap", 4, []LinkType{LinkIPv4}, nil},
	{"zeek__modbus__fuzz-72.pcap", 36, []LinkType{LinkEthernet}, nil},
	{"zeek__mqtt.pcap", 19, []LinkType{LinkEthernet}, nil},
	{"zeek__nflog-http.pcap", 13, []LinkType{239}, nil},
	{"zeek__nfs__nfs_fsinfo_bad_status.pcap", 99, []LinkType{LinkEthernet}, nil},
	{"zeek__rdp__rdp-x509.pcap", 15, []LinkType{LinkEthernet}, nil},
	{"zeek__socks-auth.pcap", 15, []LinkType{LinkEthernet}, nil},
	{"zeek__tls__openjdk-25.0.2-zeek.org.pcap", 6, []LinkType{LinkLinuxSLL2}, nil},
	{"zeek__tls__pop3-starttls.pcap", 33, []LinkType{LinkNull}, nil},
	{"zeek__tls__xmpp-starttls.pcap", 34, []LinkType{LinkEthernet}, nil},
	{"zeek__vlan-qinqinq.pcap", 14, []LinkType{LinkEthernet}, nil},
}

const testdata = "../testdata/capture/"

// TestReadCorpus reads every capture in testdata: plain, gzip-compressed,
// and through a pipe (no seeking, reads of any size).
func TestReadCorpus(t *testing.T) {
	files, err := filepath.Glob(testdata + "*.pcap*")
	if err != nil {
		t.Fatal(err)
	}
	trace, _ := filepath.Glob(testdata + "*.trace")
	files = append(files, trace...)
	if len(files) != len(corpus) {
		t.Errorf("testdata/capture has %d captures, the table %d: add the new ones", len(files), len(corpus))
	}
	for _, c := range corpus {
		raw, err := os.ReadFile(testdata + c.file)
		if err != nil {
			t.Fatal(err)
		}
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		w.Write(raw)
		w.Close()
		for _, variant := range []struct {
			name string
			open func() (Source, error)
		}{
			{"file", func() (Source, error) { return Open(testdata + c.file) }},
			{"gzip", func() (Source, error) { return NewSource(bytes.NewReader(gz.Bytes()), c.file+".gz") }},
			{"pipe", func() (Source, error) { return NewSource(&trickle{raw}, c.file) }},
		} {
			t.Run(c.file+"/"+variant.name, func(t *testing.T) {
				s, err := variant.open()
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				n, lts, err := readAll(s)
				if n != c.packets {
					t.Errorf("read %d packets, want %d", n, c.packets)
				}
				if !equalLinkTypes(lts, c.linkTypes) {
					t.Errorf("link types %v, want %v", lts, c.linkTypes)
				}
				switch {
				case c.err == nil && err != nil:
					t.Errorf("ends with %v, want io.EOF", err)
				case c.err != nil && !errors.Is(err, c.err):
					t.Errorf("ends with %v, want %v", err, c.err)
				}
			})
		}
	}
}

// readAll reads s to its end: packets, link types in order of appearance,
// and the error that ended it (nil for io.EOF).
func readAll(s Source) (int, []LinkType, error) {
	var lts []LinkType
	n := 0
	for {
		data, info, err := s.Next()
		if err == io.EOF {
			return n, lts, nil
		}
		if err != nil {
			return n, lts, err
		}
		if len(data) > info.CapLen {
			return n, lts, errors.New("data longer than CapLen")
		}
		n++
		if !containsLinkType(lts, info.LinkType) {
			lts = append(lts, info.LinkType)
		}
	}
}

func containsLinkType(lts []LinkType, lt LinkType) bool {
	for _, x := range lts {
		if x == lt {
			return true
		}
	}
	return false
}

func equalLinkTypes(a, b []LinkType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// trickle is a pipe-like reader: it returns at most 7 bytes a read and
// cannot seek.
type trickle struct{ b []byte }

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 7)], r.b)
	r.b = r.b[n:]
	return n, nil
}

// byteOrder is what binary.LittleEndian and binary.BigEndian both are.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// pcapFile builds a classic pcap file: order, magic, version, snaplen,
// link type field, then records of (sec, frac, caplen, wirelen, data).
type pcapRec struct {
	sec, frac       uint32
	capLen, wireLen uint32
	data            []byte
}

func pcapFile(order byteOrder, magic uint32, major, minor uint16, snapLen, linkType uint32, recs ...pcapRec) []byte {
	var b []byte
	b = order.AppendUint32(b, magic)
	b = order.AppendUint16(b, major)
	b = order.AppendUint16(b, minor)
	b = order.AppendUint32(b, 0) // thiszone
	b = order.AppendUint32(b, 0) // sigfigs
	b = order.AppendUint32(b, snapLen)
	b = order.AppendUint32(b, linkType)
	for _, r := range recs {
		b = order.AppendUint32(b, r.sec)
		b = order.AppendUint32(b, r.frac)
		b = order.AppendUint32(b, r.capLen)
		b = order.AppendUint32(b, r.wireLen)
		b = append(b, r.data...)
	}
	return b
}

func rec(sec, frac uint32, data string) pcapRec {
	return pcapRec{sec, frac, uint32(len(data)), uint32(len(data)), []byte(data)}
}

func TestPcapVariants(t *testing.T) {
	for _, order := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, c := range []struct {
			magic  uint32
			unit   int64
			snap   uint32
			prefix string
		}{
			{pcapMicro, 1000, 65535, "us"},
			{pcapNano, 1, 65535, "ns"},
			{pcapMicro, 1000, 0, "us-snap0"},
			{pcapNano, 1, 0xffffffff, "ns-snaphuge"},
			{pcapMicro, 1000, 4, "us-snap4"}, // records longer than the snaplen are kept whole
		} {
			t.Run(order.String()+"/"+c.prefix, func(t *testing.T) {
				file := pcapFile(order, c.magic, 2, 4, c.snap, 1,
					rec(1700000000, 123456, "first"), rec(1700000001, 999999, "second!"))
				s, err := NewSource(bytes.NewReader(file), "x.pcap")
				if err != nil {
					t.Fatal(err)
				}
				for i, want := range []struct {
					data string
					time int64
				}{
					{"first", 1700000000e9 + 123456*c.unit},
					{"second!", 1700000001e9 + 999999*c.unit},
				} {
					data, info, err := s.Next()
					if err != nil {
						t.Fatalf("packet %d: %v", i+1, err)
					}
					if string(data) != want.data || info.Time != want.time || info.CapLen != len(want.data) ||
						info.WireLen != len(want.data) || info.LinkType != LinkEthernet {
						t.Errorf("packet %d: %q %+v, want %q at %d", i+1, data, info, want.data, want.time)
					}
				}
				if _, _, err := s.Next(); err != io.EOF {
					t.Errorf("after the last packet: %v, want io.EOF", err)
				}
			})
		}
	}
}

// TestPcapOldVersions: versions before 2.3 wrote the wire length before the
// captured length; 2.3 files may be either way; Kuznetzov's patched format
// has 8 more bytes per record header.
func TestPcapOldVersions(t *testing.T) {
	le := binary.LittleEndian
	swapped := pcapRec{1, 0, 10, 4, []byte("abcd")} // wire 10, captured 4, in the old order
	for _, minor := range []uint16{2, 3} {
		s, err := NewSource(bytes.NewReader(pcapFile(le, pcapMicro, 2, minor, 65535, 1, swapped)), "old.pcap")
		if err != nil {
			t.Fatal(err)
		}
		data, info, err := s.Next()
		if err != nil || string(data) != "abcd" || info.CapLen != 4 || info.WireLen != 10 {
			t.Errorf("2.%d: %q %+v %v", minor, data, info, err)
		}
	}
	if _, err := NewSource(bytes.NewReader(pcapFile(le, pcapMicro, 3, 0, 65535, 1)), "new.pcap"); err == nil ||
		err.Error() != "new.pcap: unsupported pcap version 3.0" {
		t.Errorf("version 3.0: %v", err)
	}

	k := pcapFile(le, pcapKuznetzov, 2, 4, 65535, 1)
	k = le.AppendUint32(k, 5)
	k = le.AppendUint32(k, 6)
	k = le.AppendUint32(k, 3)
	k = le.AppendUint32(k, 3)
	k = append(k, "12345678xyz"...) // ifindex, protocol, packet type, pad; data
	s, err := NewSource(bytes.NewReader(k), "k.pcap")
	if err != nil {
		t.Fatal(err)
	}
	data, info, err := s.Next()
	if err != nil || string(data) != "xyz" || info.Time != 5e9+6000 {
		t.Errorf("Kuznetzov: %q %+v %v", data, info, err)
	}
}

// TestPcapFCS: the link type field's upper bits are masked off; with the F
// bit, the FCS bytes each frame carries are cut from data (only those the
// capture kept).
func TestPcapFCS(t *testing.T) {
	const fcs4 = fcsPresent | 2<<fcsShift // 2 16-bit words
	for _, c := range []struct {
		name     string
		field    uint32
		r        pcapRec
		wantData string
	}{
		{"fcs", fcs4 | 1, pcapRec{0, 0, 8, 8, []byte("dataFCS!")}, "data"},
		{"fcs snapped", fcs4 | 1, pcapRec{0, 0, 6, 8, []byte("dataFC")}, "data"},
		{"fcs not captured", fcs4 | 1, pcapRec{0, 0, 4, 8, []byte("data")}, "data"},
		{"length bits without F", 3<<fcsShift | 229, pcapRec{0, 0, 8, 8, []byte("dataFCS!")}, "dataFCS!"},
	} {
		s, err := NewSource(bytes.NewReader(pcapFile(binary.LittleEndian, pcapMicro, 2, 4, 65535, c.field, c.r)), "f.pcap")
		if err != nil {
			t.Fatal(err)
		}
		data, info, err := s.Next()
		if err != nil || string(data) != c.wantData || info.LinkType != LinkType(c.field&0xffff) || info.CapLen != int(c.r.capLen) {
			t.Errorf("%s: %q %+v %v, want %q", c.name, data, info, err, c.wantData)
		}
	}
}

// TestOpenErrors: each failure is one line naming the input.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var gzEmpty bytes.Buffer
	gzip.NewWriter(&gzEmpty).Close()
	le := binary.LittleEndian
	for _, c := range []struct {
		name string
		path string
		want string
		is   error
	}{
		{"missing", filepath.Join(dir, "nope.pcap"), "open " + filepath.Join(dir, "nope.pcap") + ": no such file or directory", os.ErrNotExist},
		{"empty", write("empty.pcap", nil), "empty.pcap: empty file", ErrEmpty},
		{"empty gzip", write("e.pcap.gz", gzEmpty.Bytes()), "e.pcap.gz: empty file (after gzip decompression)", ErrEmpty},
		{"garbage", write("notes.txt", []byte("hello world\n")), "notes.txt: not a pcap or pcapng file (magic 0x68656c6c)", ErrNotCapture},
		{"tiny", write("tiny", []byte{0xd4, 0xc3}), "tiny: not a pcap or pcapng file (only 2 bytes)", ErrNotCapture},
		{"xz", write("t.pcap.xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0}), "t.pcap.xz: not a pcap or pcapng file (xz-compressed: decompress it first)", ErrNotCapture},
		{"short header", write("short.pcap", pcapFile(le, pcapMicro, 2, 4, 65535, 1)[:20]),
			"short.pcap: file header at offset 0: truncated: the input ends 20 bytes into a 24-byte record", ErrTruncated},
		{"directory", dir, "read " + dir + ": is a directory", nil},
		{"gzip header cut", write("cut.gz", []byte{0x1f, 0x8b, 8}), "cut.gz: truncated: the input ends in the gzip header", ErrTruncated},
		{"gzip header bad", write("bad.gz", []byte{0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0}), "bad.gz: gzip: invalid header", nil},
		{"gzip of 2 bytes", write("two.gz", gzipped([]byte{0xd4, 0xc3})), "two.gz: not a pcap or pcapng file (only 2 bytes)", ErrNotCapture},
		{"gzip cut after 2 bytes", write("cut2.gz", gzipped([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0})[:14]),
			"cut2.gz: file header at offset 0: truncated: the input ends 3 bytes into a 4-byte record", ErrTruncated},
		{"gzip of garbage", write("g.gz", gzipped([]byte("GET / HTTP/1.1"))), "g.gz: not a pcap or pcapng file (magic 0x47455420)", ErrNotCapture},
	} {
		_, err := Open(c.path)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		got := strings.ReplaceAll(err.Error(), dir+"/", "")
		want := c.want
		if c.name == "missing" || c.name == "directory" {
			got, want = err.Error(), c.want
		}
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, want)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v is not %v", c.name, err, c.is)
		}
	}
}

func gzipped(b []byte) []byte {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(b)
	w.Close()
	return gz.Bytes()
}

// TestDamagedPcap: a damaged record ends the input after every packet
// before it, with an error that says where; later calls repeat it.
func TestDamagedPcap(t *testing.T) {
	le := binary.LittleEndian
	good := rec(1, 0, "0123456789")
	for _, c := range []struct {
		name string
		file []byte
		want string
		is   error
	}{
		{"record header cut", pcapFile(le, pcapMicro, 2, 4, 65535, 1, good, good)[:24+26+10],
			"x.pcap: packet 2 at offset 50: truncated: the input ends 10 bytes into a 16-byte record", ErrTruncated},
		{"data cut", pcapFile(le, pcapMicro, 2, 4, 65535, 1, good, good)[:24+26+20],
			"x.pcap: packet 2 at offset 50: truncated: the input ends 20 bytes into a 26-byte record", ErrTruncated},
		{"huge caplen", pcapFile(le, pcapMicro, 2, 4, 65535, 1, good, pcapRec{1, 0, 0x7fffffff, 0x7fffffff, []byte("x")}),
			"x.pcap: packet 2 at offset 50: corrupt: capture length 2147483647 exceeds the maximum 262144", ErrCorrupt},
		{"huge caplen, huge snaplen", pcapFile(le, pcapMicro, 2, 4, 0xffffffff, 1, good, pcapRec{1, 0, 0x7fffffff, 0x7fffffff, []byte("x")}),
			"x.pcap: packet 2 at offset 50: corrupt: capture length 2147483647 exceeds the maximum 16777216", ErrCorrupt},
		{"caplen beyond the data", pcapFile(le, pcapMicro, 2, 4, 0xffffffff, 1, good, pcapRec{1, 0, 10 << 20, 10 << 20, []byte("x")}),
			"x.pcap: packet 2 at offset 50: truncated: the input ends 17 bytes into a 10485776-byte record", ErrTruncated},
	} {
		s, err := NewSource(bytes.NewReader(c.file), "x.pcap")
		if err != nil {
			t.Fatal(err)
		}
		data, _, err := s.Next()
		if err != nil || string(data) != "0123456789" {
			t.Errorf("%s: first packet %q %v", c.name, data, err)
		}
		for range 2 {
			_, _, err = s.Next()
			if err == nil || err.Error() != c.want || !errors.Is(err, c.is) {
				t.Errorf("%s:\n got %v\nwant %s", c.name, err, c.want)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) != (c.is == ErrTruncated) {
				t.Errorf("%s: errors.Is(%v, io.ErrUnexpectedEOF) = %v", c.name, err, !(c.is == ErrTruncated))
			}
		}
	}
}

// TestStdin: "-" reads standard input, here a pipe.
func TestStdin(t *testing.T) {
	raw, err := os.ReadFile(testdata + "tcpflow__local.pcap")
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.Write(raw); w.Close() }()
	saved := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = saved; r.Close() }()
	s, err := Open("-")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "-" {
		t.Errorf("Name() = %q", s.Name())
	}
	n, _, err := readAll(s)
	if n != 106 || err != nil {
		t.Errorf("read %d packets, %v; want 106", n, err)
	}
	s.Close()
	if _, err := os.Stdin.Stat(); err != nil {
		t.Errorf("Close closed stdin: %v", err)
	}
}

// TestGzipDamage: a gzip stream cut short is a truncated input; packets
// before the cut come out.
func TestGzipDamage(t *testing.T) {
	raw, err := os.ReadFile(testdata + "zeek__http__bro.org.pcap")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()
	s, err := NewSource(bytes.NewReader(gz.Bytes()[:gz.Len()/2]), "half.pcap.gz")
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := readAll(s)
	if n == 0 || n >= 751 || !errors.Is(err, ErrTruncated) {
		t.Errorf("read %d packets, then %v; want some, then ErrTruncated", n, err)
	}
}

// TestGzipCorrupt: damage inside a gzip stream is a corrupt input, after
// the packets before it.
func TestGzipCorrupt(t *testing.T) {
	raw, err := os.ReadFile(testdata + "zeek__http__bro.org.pcap")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()
	for _, c := range []struct {
		name string
		at   int // byte to flip, from the end
	}{
		{"checksum", 8},
		{"deflate data", gz.Len() / 2},
	} {
		b := bytes.Clone(gz.Bytes())
		b[len(b)-c.at] ^= 0xff
		s, err := NewSource(bytes.NewReader(b), "bad.pcap.gz")
		if err != nil {
			t.Fatal(err)
		}
		n, _, err := readAll(s)
		if !errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), "bad.pcap.gz: ") {
			t.Errorf("%s: read %d packets, then %v; want ErrCorrupt", c.name, n, err)
		}
		t.Logf("%s: %d packets, %v", c.name, n, err)
	}
}

// TestReadAllocs: Next hands out packets without allocating.
func TestReadAllocs(t *testing.T) {
	for _, file := range []string{"zeek__http__bro.org.pcap", "gopacket__le__test300.pcapng", "pcapplusplus__many_interfaces-1.pcapng"} {
		raw, err := os.ReadFile(testdata + file)
		if err != nil {
			t.Fatal(err)
		}
		r := bytes.NewReader(raw)
		s, err := NewSource(r, file)
		if err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, _, err := s.Next(); err != nil {
				r.Reset(raw)
				s, _ = NewSource(r, file)
			}
		})
		// Restarting at the end allocates; one restart per file's worth of
		// packets keeps the average far below one.
		if allocs > 0.1 {
			t.Errorf("%s: %.2f allocations per packet", file, allocs)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	for _, file := range []string{"zeek__http__bro.org.pcap", "gopacket__le__test300.pcapng", "suricata__http-mime-truncated__input.pcap"} {
		raw, err := os.ReadFile(testdata + file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(file, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				s, err := NewSource(bytes.NewReader(raw), file)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, _, err := s.Next(); err != nil {
						break
					}
				}
			}
		})
	}
}

// ngFile builds pcapng files block by block.
type ngFile struct {
	order byteOrder
	b     []byte
}

func (w *ngFile) block(typ uint32, body ...[]byte) *ngFile {
	var all []byte
	for _, p := range body {
		all = append(all, p...)
	}
	for len(all)%4 != 0 {
		all = append(all, 0)
	}
	n := uint32(12 + len(all))
	w.b = w.order.AppendUint32(w.b, typ)
	w.b = w.order.AppendUint32(w.b, n)
	w.b = append(w.b, all...)
	w.b = w.order.AppendUint32(w.b, n)
	return w
}

func (w *ngFile) u16(v uint16) []byte { return w.order.AppendUint16(nil, v) }
func (w *ngFile) u32(v uint32) []byte { return w.order.AppendUint32(nil, v) }

func (w *ngFile) section() *ngFile {
	return w.block(ngSectionHeader, w.u32(ngByteOrderMagic), w.u16(1), w.u16(0), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
}

func (w *ngFile) opt(code uint16, val []byte) []byte {
	b := append(w.u16(code), w.u16(uint16(len(val)))...)
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (w *ngFile) iface(lt LinkType, snap uint32, opts ...[]byte) *ngFile {
	body := [][]byte{w.u16(uint16(lt)), w.u16(0), w.u32(snap)}
	body = append(body, opts...)
	if len(opts) > 0 {
		body = append(body, w.u32(0)) // end of options
	}
	return w.block(ngInterface, body...)
}

func (w *ngFile) epb(id uint32, ts uint64, wire uint32, data string, opts ...[]byte) *ngFile {
	d := []byte(data)
	for len(d)%4 != 0 {
		d = append(d, 0)
	}
	body := [][]byte{w.u32(id), w.u32(uint32(ts >> 32)), w.u32(uint32(ts)), w.u32(uint32(len(data))), w.u32(wire), d}
	return w.block(ngEnhancedPacket, append(body, opts...)...)
}

type ngWant struct {
	data      string
	time      int64
	lt        LinkType
	iface     int
	cap, wire int
}

// TestPcapng: sections in both byte orders, interfaces of several link
// types and timestamp resolutions, simple and obsolete packet blocks, FCS
// lengths, blocks to skip.
func TestPcapng(t *testing.T) {
	le := &ngFile{order: binary.LittleEndian}
	le.section().
		iface(LinkEthernet, 65535).                                                             // 0: µs
		iface(LinkNull, 0, le.opt(optTSResol, []byte{9}), le.opt(optTSOffset, le.u32x2(100))).  // 1: ns, +100 s
		iface(LinkRaw, 4, le.opt(optTSResol, []byte{0x80 | 10}), le.opt(1, []byte("comment"))). // 2: 2^-10 s, snaplen 4
		block(0xbad, []byte("custom block, skipped")).
		epb(1, 1_700_000_000_123_456_789, 7, "null ns").
		epb(0, 1_700_000_000_123_456, 100, "eth us").
		block(ngNameResolution, le.u32(0)).
		epb(2, 1700000000<<10|512, 9, "raw 2^-10").
		block(ngSimplePacket, le.u32(9), []byte("simple packet")). // interface 0; no timestamp
		block(ngPacket, le.u16(1), le.u16(0), le.u32(0), le.u32(5), le.u32(3), le.u32(3), []byte("old")).
		block(ngInterfaceStats, le.u32(0), le.u32(0), le.u32(0))
	be := &ngFile{order: binary.BigEndian}
	be.section().
		iface(LinkLinuxSLL2, 0, be.opt(optTSResol, []byte{3}), be.opt(optFCSLen, []byte{4})). // 0: ms, 4-byte FCS
		epb(0, 1_700_000_000_123, 8, "sll2FCS!").
		epb(0, 1_700_000_000_124, 6, "sll2FC", be.opt(optEPBFlags, be.u32(2<<5)), be.u32(0)) // this packet: 2-byte FCS
	file := append(le.b, be.b...)

	want := []ngWant{
		{"null ns", 1_700_000_100_123_456_789, LinkNull, 1, 7, 7},
		{"eth us", 1_700_000_000_123_456_000, LinkEthernet, 0, 6, 100},
		{"raw 2^-10", 1_700_000_000_500_000_000, LinkRaw, 2, 9, 9},
		{"simple pa", 0, LinkEthernet, 0, 9, 9},     // captured: the wire length (within the block and the snaplen)
		{"old", 100_000_000_005, LinkNull, 1, 3, 3}, // interface 1: ns, +100 s
		{"sll2", 1_700_000_000_123_000_000, LinkLinuxSLL2, 0, 8, 8},
		{"sll2", 1_700_000_000_124_000_000, LinkLinuxSLL2, 0, 6, 6},
	}
	s, err := NewSource(bytes.NewReader(file), "x.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		data, info, err := s.Next()
		if err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
		got := ngWant{string(data), info.Time, info.LinkType, info.Interface, info.CapLen, info.WireLen}
		if got != w {
			t.Errorf("packet %d:\n got %+v\nwant %+v", i+1, got, w)
		}
	}
	if _, _, err := s.Next(); err != io.EOF {
		t.Errorf("at the end: %v", err)
	}
}

func (w *ngFile) u32x2(v uint64) []byte { return w.order.AppendUint64(nil, v) }

// TestDamagedPcapng: a block that contradicts itself stops the input, after
// every packet before it, with an error that says where.
func TestDamagedPcapng(t *testing.T) {
	head := func() *ngFile {
		return (&ngFile{order: binary.LittleEndian}).section().iface(LinkEthernet, 0).epb(0, 0, 4, "good")
	}
	const at = 28 + 20 + 36 // offset of the block after the good packet
	for _, c := range []struct {
		name string
		file []byte
		want string
		is   error
	}{
		{"length not a multiple of 4", append(head().b, 6, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0),
			"x.pcapng: packet 2 at offset 84: corrupt: block length 7 (must be a multiple of 4, at least 12)", ErrCorrupt},
		{"huge length", append(head().b, 6, 0, 0, 0, 0xfc, 0xff, 0xff, 0x7f, 0, 0, 0, 0),
			"x.pcapng: packet 2 at offset 84: corrupt: block length 2147483644 exceeds the maximum 16777216", ErrCorrupt},
		{"trailing length differs", func() []byte {
			b := head().epb(0, 0, 4, "next").b
			b[len(b)-4]++
			return b
		}(), "x.pcapng: packet 2 at offset 84: corrupt: block length 36 at its start, 37 at its end", ErrCorrupt},
		{"unknown interface", head().epb(3, 0, 4, "next").b,
			"x.pcapng: packet 2 at offset 84: corrupt: interface 3, but the section has 1", ErrCorrupt},
		{"captured length beyond the block", func() []byte {
			b := head().epb(0, 0, 4, "next").b
			b[at+20] = 200
			return b
		}(), "x.pcapng: packet 2 at offset 84: corrupt: captured length 200 exceeds its block", ErrCorrupt},
		{"cut in a block", head().epb(0, 0, 4, "next").b[:at+30],
			"x.pcapng: packet 2 at offset 84: truncated: the input ends 30 bytes into a 36-byte record", ErrTruncated},
		{"cut in a block header", head().epb(0, 0, 4, "next").b[:at+5],
			"x.pcapng: block at offset 84: truncated: the input ends 5 bytes into a 12-byte record", ErrTruncated},
		{"bad timestamp resolution", head().iface(LinkEthernet, 0, (&ngFile{order: binary.LittleEndian}).opt(optTSResol, []byte{20})).b,
			"x.pcapng: interface description block at offset 84: corrupt: timestamp resolution 10^-20", ErrCorrupt},
	} {
		s, err := NewSource(bytes.NewReader(c.file), "x.pcapng")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		data, _, err := s.Next()
		if err != nil || string(data) != "good" {
			t.Errorf("%s: first packet %q %v", c.name, data, err)
		}
		for range 2 {
			_, _, err = s.Next()
			if err == nil || err.Error() != c.want || !errors.Is(err, c.is) {
				t.Errorf("%s:\n got %v\nwant %s", c.name, err, c.want)
			}
		}
	}

	// A damaged section header fails Open.
	for _, c := range []struct {
		name string
		file []byte
		want string
	}{
		{"version 2", (&ngFile{order: binary.BigEndian}).block(ngSectionHeader, []byte{0x1a, 0x2b, 0x3c, 0x4d, 0, 2, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}).b,
			"x.pcapng: section header block at offset 0: corrupt: unsupported pcapng version 2.0"},
		{"byte-order magic", []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4},
			"x.pcapng: section header block at offset 0: corrupt: bad byte-order magic 0x01020304"},
		{"cut", []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0},
			"x.pcapng: section header block at offset 0: truncated: the input ends 8 bytes into a 28-byte record"},
	} {
		_, err := NewSource(bytes.NewReader(c.file), "x.pcapng")
		if err == nil || err.Error() != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.name, err, c.want)
		}
	}
}
