package main

// Bounded state under attack (issue 6, point 3): a SYN flood and
// sequence numbers that jump keep flowcap's memory and files bounded.

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowcap/flowcap/capture/capturetest"
	"github.com/flowcap/flowcap/flowfile"
	"github.com/flowcap/flowcap/reassembly"
)

// maxPeakRSS is what flowcap may take under attack: a sidecar's memory
// limit of 256 MiB holds.
const maxPeakRSS = 256 << 20

func requireMemoryFigures(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("peak RSS of a race-instrumented binary says nothing about flowcap's; the plain `go test` run checks it")
	}
}

// synCapture writes a capture of n SYNs from one client, the i-th to
// dstOf(i), and returns its path.
func synCapture(t *testing.T, n int, dstOf func(i int) netip.AddrPort) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "syns.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fw, err := newFrameWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddrPort("172.16.0.1:40000")
	for i := range n {
		if err := fw.segment(src, dstOf(i), uint32(i)*2654435761, 0, tcpSYN, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.flush(); err != nil {
		t.Fatal(err)
	}
	return path
}

// 1,000,000 SYNs, each to a port of its own: every one opens a flow.
// flowcap keeps --max-flows of them (the least recently used is closed,
// and counted), its peak RSS stays under 256 MiB and it writes nothing.
func TestSYNFlood(t *testing.T) {
	requireMemoryFigures(t)
	const syns = 1_000_000
	capture := synCapture(t, syns, func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 16), 1}), uint16(i))
	})

	out, r := readWithin(t, capture, maxPeakRSS)
	// Every SYN is a connection; all but --max-flows of them were closed
	// early, and said so.
	want := fmt.Sprintf("^flowcap: %d packets \\(%d TCP\\), %d connections, 0 flow files, 0 bytes written, 0 holes, %d flows closed early \\(--max-flows\\)\n$",
		syns, syns, syns, syns-defaultMaxFlows)
	if !regexp.MustCompile(want).MatchString(r.stderr) {
		t.Errorf("summary %q\nwant %s", r.stderr, want)
	}
	if files := outputFiles(t, out); len(files) != 0 {
		t.Errorf("%d files written for SYNs without data", len(files))
	}
}

// jumpSegment is one data segment of a jump capture's direction.
type jumpSegment struct {
	seq  uint32
	data []byte
}

// jumpFile is a flow file the jump capture must produce.
type jumpFile struct {
	size   int64
	pieces []jumpPiece // data at offsets; zeros between
}

type jumpPiece struct {
	off  int64
	data []byte
}

// jumpDirection makes the segments of one direction after its SYN at isn:
// forward jumps of every size up to 2 GiB (none, small holes, exactly the
// max gap, just past it, anything up to 2^31-1) and the files tcpflow's
// rule makes of them: a jump of more than maxGap starts a new file.
func jumpDirection(rng *rand.Rand, isn uint32, n int, maxGap int64) ([]jumpSegment, []jumpFile) {
	var segs []jumpSegment
	var files []jumpFile
	base := int64(isn) + 1 // stream position 0 of the current stream, unwrapped
	pos := int64(0)        // where the previous segment ended
	cur := -1              // files index; -1 until data comes
	seq := base
	for i := range n {
		var jump int64
		switch k := rng.IntN(10); {
		case k < 4:
		case k < 6:
			jump = 1 + rng.Int64N(64<<10)
		case k < 7:
			jump = maxGap
		case k < 8:
			jump = maxGap + 1
		default:
			jump = maxGap + 1 + rng.Int64N(1<<31-1-maxGap-1)
		}
		data := make([]byte, 1+rng.IntN(1000))
		for j := range data {
			data[j] = byte(rng.Uint32()) | 1 // never zero: holes are told apart
		}
		seq += jump
		if i == 0 && jump <= maxGap {
			cur = 0
			files = append(files, jumpFile{})
		} else if jump > maxGap {
			// A new stream from this segment: offset 0 is its first byte.
			base, pos = seq, 0
			cur = len(files)
			files = append(files, jumpFile{})
		}
		off := seq - base
		segs = append(segs, jumpSegment{seq: uint32(seq), data: data})
		files[cur].pieces = append(files[cur].pieces, jumpPiece{off, data})
		pos = off + int64(len(data))
		files[cur].size = pos
		seq += int64(len(data))
	}
	return segs, files
}

// Many connections whose sequence numbers jump by up to 2 GiB, both ways:
// peak RSS stays under 256 MiB; every file holds its data and exactly the
// holes its flow has (no file larger); a jump past --max-gap starts a new
// file (c1, c2...) instead of zero-filling up to 2 GiB.
func TestSequenceJumps(t *testing.T) {
	requireMemoryFigures(t)
	const (
		conns    = 1000
		segments = 16
		wave     = 250 // connections open at once
		maxGap   = reassembly.DefaultMaxGap
	)
	rng := rand.New(rand.NewPCG(6, 6))
	capture := filepath.Join(t.TempDir(), "jumps.pcap")
	f, err := os.Create(capture)
	if err != nil {
		t.Fatal(err)
	}
	fw, err := newFrameWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]jumpFile{}
	var dataBytes, holeBytes int64
	server := netip.MustParseAddrPort("10.0.0.1:80")
	for w := 0; w < conns; w += wave {
		type dir struct {
			src, dst netip.AddrPort
			segs     []jumpSegment
		}
		var dirs []dir
		for i := w; i < min(w+wave, conns); i++ {
			client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(20000+i))
			for d, ends := range [2][2]netip.AddrPort{{client, server}, {server, client}} {
				isn := rng.Uint32()
				flags := byte(tcpSYN)
				if d == 1 {
					flags |= tcpACK
				}
				if err := fw.segment(ends[0], ends[1], isn, 0, flags, nil); err != nil {
					t.Fatal(err)
				}
				segs, files := jumpDirection(rng, isn, segments, maxGap)
				key := reassembly.Key{Src: ends[0], Dst: ends[1]}
				for k, jf := range files {
					want[flowfile.Name(key, reassembly.NoVLAN, k)] = jf
					dataBytes += dataOf(jf)
					holeBytes += jf.size - dataOf(jf)
				}
				dirs = append(dirs, dir{ends[0], ends[1], segs})
			}
		}
		for k := range segments {
			for _, d := range dirs {
				s := d.segs[k]
				if err := fw.segment(d.src, d.dst, s.seq, 0, tcpACK|tcpPSH, s.data); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := fw.flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	t.Logf("%d files, %d data bytes, %d hole bytes", len(want), dataBytes, holeBytes)
	out, r := readWithin(t, capture, maxPeakRSS)
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var allocated int64
	files := 0
	for _, e := range ents {
		if isReport(e.Name()) {
			continue
		}
		files++
		jf, ok := want[e.Name()]
		if !ok {
			t.Errorf("unexpected file %s", e.Name())
			continue
		}
		allocated += checkJumpFile(t, filepath.Join(out, e.Name()), jf)
	}
	if files != len(want) {
		t.Errorf("%d files, want %d", files, len(want))
	}
	// Holes are sparse: the disk holds the data and little else.
	t.Logf("disk blocks: %.1f MiB for %.1f MiB of data (sizes add up to %.1f GiB)",
		mib(allocated), mib(dataBytes), float64(dataBytes+holeBytes)/(1<<30))
	if allocated > 2*dataBytes+int64(len(want))*8192 {
		t.Errorf("%d bytes of disk blocks for %d bytes of data: holes were written as zeros", allocated, dataBytes)
	}
	summary := regexp.MustCompile(`, (\d+) flow files, (\d+) bytes written`).FindStringSubmatch(r.stderr)
	if summary == nil || summary[1] != strconv.Itoa(len(want)) || summary[2] != strconv.FormatInt(dataBytes+holeBytes, 10) {
		t.Errorf("summary %q, want %d files and %d bytes", r.stderr, len(want), dataBytes+holeBytes)
	}
}

func dataOf(jf jumpFile) (n int64) {
	for _, p := range jf.pieces {
		n += int64(len(p.data))
	}
	return n
}

// checkJumpFile compares a file with what it must hold, reading only its
// data (its holes may be megabytes of zeros), and returns its disk blocks.
func checkJumpFile(t *testing.T, path string, jf jumpFile) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != jf.size {
		t.Errorf("%s: %d bytes, want %d (its data and holes)", filepath.Base(path), fi.Size(), jf.size)
	}
	for _, p := range jf.pieces {
		got := make([]byte, len(p.data))
		if _, err := f.ReadAt(got, p.off); err != nil || string(got) != string(p.data) {
			t.Errorf("%s: the %d bytes at %d differ (%v)", filepath.Base(path), len(p.data), p.off, err)
			return 0
		}
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// As many connections open at once, all carrying data, as --max-flows
// keeps (32,768 connections, 65,536 directions): peak RSS stays under
// 128 MiB with the default --mem, and every byte reaches its file.
func TestManyConcurrentFlows(t *testing.T) {
	requireMemoryFigures(t)
	const conns, maxRSS = defaultMaxFlows / 2, 128 << 20
	sc, err := capturetest.Workload("interleaved", conns, 256<<20, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "many.pcap")
	st, err := sc.WriteFile(in, capturetest.Format{})
	if err != nil {
		t.Fatal(err)
	}
	var files, bytes int
	for _, data := range sc.Expected() {
		files++
		bytes += len(data)
	}
	if files != st.Files || files != defaultMaxFlows {
		t.Fatalf("the workload has %d flow files (stats %d), want %d", files, st.Files, defaultMaxFlows)
	}
	_, r := readWithin(t, in, maxRSS)
	want := fmt.Sprintf(", %d connections, %d flow files, %d bytes written, 0 holes\n", conns, files, bytes)
	if !strings.HasSuffix(r.stderr, want) {
		t.Errorf("summary %q, want it to end %q", r.stderr, want)
	}
}

// readWithin runs flowcap read of capture into a new output directory and
// logs its peak RSS; it fails the test unless flowcap exits 0 with a peak
// RSS of at most limit bytes.
func readWithin(t *testing.T, capture string, limit int64) (out string, r result) {
	t.Helper()
	out = filepath.Join(t.TempDir(), "out")
	r = execFlowcap(t, 2*time.Minute, "read", "-o", out, capture)
	t.Logf("peak RSS %.1f MiB in %v: %s", mib(r.peakRSS), r.elapsed.Round(time.Millisecond), r.stderr)
	if r.code != 0 || r.timedOut {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.peakRSS > limit {
		t.Errorf("peak RSS %.1f MiB, want at most %d MiB", mib(r.peakRSS), limit>>20)
	}
	return out, r
}
