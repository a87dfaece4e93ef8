package flowfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowcap/flowcap/reassembly"
)

// TestTcpflowSemantics checks the reassembly and the flow files against
// tcpflow 1.6.1 on every capture in testdata/capture. So that only those
// are compared, the segments are decoded here the way tcpflow decodes them,
// its capture-side bugs included (payload length from the captured length,
// first IPv4 fragment only, no IPv6 extension headers, its link types);
// flowcap's own decoder differs on purpose (docs/compat.md) and the CLI's
// differential test covers it. Idle timeouts are off, as in tcpflow.
//
// What remains are the deliberate reassembly differences, listed in
// tcpflowDiffers with their reason; any other difference fails.
func TestTcpflowSemantics(t *testing.T) {
	tcpflow, err := exec.LookPath("tcpflow")
	if err != nil {
		t.Fatal("tcpflow not found: run `make deps` (it is the oracle of this test)")
	}
	captures, err := filepath.Glob("../testdata/capture/*.pcap*")
	if err != nil || len(captures) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	compared := 0
	for _, capture := range captures {
		name := filepath.Base(capture)
		t.Run(name, func(t *testing.T) {
			tdir := t.TempDir()
			out, err := exec.Command(tcpflow, "-r", capture, "-o", tdir).CombinedOutput()
			if err != nil {
				// tcpflow refuses the file (link type, pcapng with several
				// link types...): the CLI's test covers what flowcap does.
				t.Logf("tcpflow: %v: %s", err, firstLine(out))
				return
			}
			os.Remove(filepath.Join(tdir, "report.xml"))
			fdir, f3dir := t.TempDir(), t.TempDir()
			if err := tcpflowStyle(capture, fdir, 1, nil); err != nil {
				t.Fatal(err)
			}
			// The same files whatever the number of shards.
			if err := tcpflowStyle(capture, f3dir, 3, nil); err != nil {
				t.Fatal(err)
			}
			if d := diffDirs(t, fdir, f3dir); len(d) > 0 {
				t.Errorf("1 shard and 3 shards differ:\n%s", strings.Join(d, "\n"))
			}
			got := diffDirs(t, tdir, fdir)
			want := tcpflowDiffers[name].files
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("differences from tcpflow:\n%s\nexpected:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			compared++
		})
	}
	if compared < 40 {
		t.Errorf("only %d captures compared", compared)
	}
}

// tcpflowDiffers lists, per capture, the files where flowcap's reassembly
// deliberately differs from tcpflow 1.6.1, and why (see docs/compat.md).
var tcpflowDiffers = map[string]struct {
	why   string
	files []string
}{
	"zeek__modbus__fuzz-72.pcap": {
		why: "a sequence jump of exactly 2^31 passes tcpflow's abs() test: it inserts 2 GiB in front (a 4 GiB file); flowcap starts c1, c2",
		files: []string{
			"contents: 192.168.066.235.02582-166.161.016.230.00502: sizes 4294967284 420, first difference at 0",
			"only flowcap: 192.168.066.235.02582-166.161.016.230.00502c1",
			"only flowcap: 192.168.066.235.02582-166.161.016.230.00502c2",
		},
	},
	"suricata__transform-base64-7296__input.pcap": {
		why:   "a fuzzed microseconds field of 1653292: tcpflow zeroes it when it sets the mtime, the time carries into the seconds here",
		files: []string{"mtime: 127.000.000.001.08080-127.000.000.001.57227: 2024-05-01T06:48:00Z 2024-05-01T06:48:01.653292Z"},
	},
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// diffDirs lists the files that differ between the two directories:
// missing on one side, other contents, or other modification times.
func diffDirs(t *testing.T, a, b string) []string {
	t.Helper()
	ea, eb := listDir(t, a), listDir(t, b)
	var diffs []string
	for name, fa := range ea {
		fb, ok := eb[name]
		switch {
		case !ok:
			diffs = append(diffs, "only tcpflow: "+name)
		case fa.size != fb.size || !bytes.Equal(fa.data, fb.data):
			diffs = append(diffs, "contents: "+name+": "+describeDiff(fa, fb))
		case !fa.mtime.Equal(fb.mtime):
			diffs = append(diffs, "mtime: "+name+": "+fa.mtime.Format(time.RFC3339Nano)+" "+fb.mtime.Format(time.RFC3339Nano))
		}
	}
	for name := range eb {
		if _, ok := ea[name]; !ok {
			diffs = append(diffs, "only flowcap: "+name)
		}
	}
	sort.Strings(diffs)
	return diffs
}

type dirEntry struct {
	data  []byte
	size  int64
	mtime time.Time
}

func listDir(t *testing.T, dir string) map[string]dirEntry {
	out := map[string]dirEntry{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 64<<20 {
			// Not read: a (sparse) file this big differs anyway.
			out[e.Name()] = dirEntry{size: fi.Size(), mtime: fi.ModTime()}
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = dirEntry{b, int64(len(b)), fi.ModTime()}
	}
	return out
}

func describeDiff(a, b dirEntry) string {
	i := 0
	for i < len(a.data) && i < len(b.data) && a.data[i] == b.data[i] {
		i++
	}
	return "sizes " + itoa(a.size) + " " + itoa(b.size) + ", first difference at " + itoa(int64(i))
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// tcpflowStyle reassembles capture into dir with n shards, decoding it as
// tcpflow 1.6.1 does. Shards' stats go to stats if not nil.
func tcpflowStyle(capture, dir string, n int, stats *[]reassembly.Stats) error {
	f, err := os.Open(capture)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := New(Config{Dir: dir, Shards: n})
	if err != nil {
		return err
	}
	var shards []*reassembly.Shard
	for i := range n {
		shards = append(shards, reassembly.NewShard(reassembly.Config{IdleTimeout: -1, Index: i, Count: n}, w.Sink(i)))
	}
	next, err := packetReader(f, capture)
	if err != nil {
		return err
	}
	for {
		data, lt, ts, wire, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			break // tcpflow stops at a damaged record too
		}
		seg, ok := tcpflowDecode(lt, data)
		if !ok {
			continue
		}
		seg.Time = ts.Truncate(time.Microsecond).UnixNano()
		seg.WireLen, seg.CapLen = uint32(wire), uint32(len(data))
		if err := shards[seg.Key.Hash()%uint64(n)].Handle(&seg); err != nil {
			return err
		}
	}
	for _, sh := range shards {
		if err := sh.Finish(); err != nil {
			return err
		}
		if stats != nil {
			*stats = append(*stats, sh.Stats())
		}
	}
	return w.Close()
}

// packetReader returns a function reading the next packet of a pcap or
// pcapng file with its link type, time and wire length.
func packetReader(f *os.File, name string) (func() ([]byte, layers.LinkType, time.Time, int, error), error) {
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if binary.LittleEndian.Uint32(magic[:]) == 0x0a0d0d0a {
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, err
		}
		return func() ([]byte, layers.LinkType, time.Time, int, error) {
			data, ci, err := r.ReadPacketData()
			if err != nil {
				return nil, 0, time.Time{}, 0, err
			}
			lt := r.LinkType()
			if intf, err := r.Interface(ci.InterfaceIndex); err == nil {
				lt = intf.LinkType
			}
			return data, lt, ci.Timestamp, ci.Length, nil
		}, nil
	}
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, err
	}
	return func() ([]byte, layers.LinkType, time.Time, int, error) {
		data, ci, err := r.ReadPacketData()
		return data, r.LinkType(), ci.Timestamp, ci.Length, err
	}, nil
}

// tcpflowDecode decodes a frame as tcpflow 1.6.1's datalink handlers and
// process_ip4/process_ip6/process_tcp do (tcpflow.md section 1.4).
func tcpflowDecode(lt layers.LinkType, data []byte) (seg reassembly.Segment, ok bool) {
	be16 := func(b []byte) int { return int(binary.BigEndian.Uint16(b)) }
	seg.VLAN = reassembly.NoVLAN
	var ip []byte
	switch lt {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return seg, false
		}
		copy(seg.DstMAC[:], data[0:6])
		copy(seg.SrcMAC[:], data[6:12])
		et, off := be16(data[12:]), 12
		if et == 0x8100 && len(data) >= 16 {
			seg.VLAN = int32(be16(data[14:]))
		}
		for et == 0x8100 || et == 0x9100 || et == 0x88a8 {
			off += 4
			if len(data) < off+2 {
				return seg, false
			}
			et = be16(data[off:])
		}
		if et != 0x0800 && et != 0x86dd {
			return seg, false
		}
		ip = data[off+2:]
	case layers.LinkTypeNull:
		if len(data) < 4 || data[0] != 2 && data[0] != 10 {
			return seg, false
		}
		ip = data[4:]
	case 12, 14, 101: // DLT_RAW and LINKTYPE_RAW
		ip = data
	case layers.LinkTypePPP:
		if len(data) < 4 {
			return seg, false
		}
		ip = data[4:]
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return seg, false
		}
		mpls := 0
		if be16(data[14:]) == 0x8847 {
			for {
				if len(data) < 16+mpls+4 {
					return seg, false
				}
				mpls += 4
				if data[16+mpls-2]&1 != 0 {
					break
				}
			}
		}
		ip = data[16+mpls:]
	default:
		return seg, false
	}
	if len(ip) < 20 {
		return seg, false
	}
	var tcp []byte
	var payloadLen int
	switch ip[0] >> 4 {
	case 4:
		ihl, total := int(ip[0]&15)*4, be16(ip[2:])
		if ip[9] != 6 || be16(ip[6:])&0x1fff != 0 || ihl > total || ihl > len(ip) {
			return seg, false
		}
		src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		tcp, payloadLen = ip[ihl:], len(ip)-ihl // tcpflow: the captured length
		seg.Key = reassembly.Key{Src: netip.AddrPortFrom(src, 0), Dst: netip.AddrPortFrom(dst, 0)}
	case 6:
		if len(ip) < 40 || ip[6] != 6 {
			return seg, false
		}
		src, dst := netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		tcp, payloadLen = ip[40:], be16(ip[4:])
		seg.Key = reassembly.Key{Src: netip.AddrPortFrom(src, 0), Dst: netip.AddrPortFrom(dst, 0)}
	default:
		return seg, false
	}
	if payloadLen < 20 || len(tcp) < 20 {
		return seg, false
	}
	seg.Key.Src = netip.AddrPortFrom(seg.Key.Src.Addr(), uint16(be16(tcp[0:])))
	seg.Key.Dst = netip.AddrPortFrom(seg.Key.Dst.Addr(), uint16(be16(tcp[2:])))
	seg.Seq = reassembly.Seq(binary.BigEndian.Uint32(tcp[4:]))
	seg.Ack = reassembly.Seq(binary.BigEndian.Uint32(tcp[8:]))
	seg.Flags = reassembly.Flags(tcp[13])
	thl := int(tcp[12]>>4) * 4
	if payloadLen > thl {
		end := min(payloadLen, len(tcp))
		if thl < end {
			seg.Payload = tcp[thl:end]
		}
	}
	return seg, true
}
