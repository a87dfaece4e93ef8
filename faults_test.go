package main

// Faults around the output (issue 6, points 4 and 5, and --max-disk): a
// full disk, a read-only directory, few descriptors, symbolic links
// planted where flow files go, a disk quota. Each runs the real binary.

import (
	"bytes"
	"fmt"
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
)

// sample is a capture with 26 flow files, 453,271 bytes in all.
var sample = filepath.Join("testdata", "capture", "zeek__http__bro.org.pcap")

// outputFiles reads every flow file of an output directory (reports aside).
func outputFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range ents {
		if isReport(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

// isReport tells the reports (and their temporary names) from flow files.
func isReport(name string) bool {
	name = strings.TrimSuffix(name, ".partial")
	return name == "report.xml" || name == "flows.jsonl"
}

// cleanRun is flowcap read of a capture with nothing in the way.
func cleanRun(t *testing.T, capture string) map[string][]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clean")
	if r := execFlowcap(t, time.Minute, "read", "-q", "-o", out, capture); r.code != 0 {
		t.Fatalf("clean run: exit %d: %s", r.code, r.stderr)
	}
	return outputFiles(t, out)
}

// requireRoot skips a test that must mount a file system, with a hint,
// unless it runs in CI (CI=true), where skipping would hide it.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s needs root, and CI runs the tests as root", why)
	}
	t.Skipf("%s needs root: run the tests as root (sudo -E go test), as CI does", why)
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted
// when the test ends.
func mountTmpfs(t *testing.T, size int, flags uintptr) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v", err)
		}
		t.Skipf("mount tmpfs: %v (needs CAP_SYS_ADMIN; CI has it)", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// oneLine checks that stderr is exactly one line matching re.
func oneLine(t *testing.T, stderr, re string) {
	t.Helper()
	if !regexp.MustCompile(`^` + re + `\n$`).MatchString(stderr) {
		t.Errorf("stderr %q\nwant one line matching %s", stderr, re)
	}
}

// A full disk: one line naming the file that could not be written and
// why, exit 1, no summary (and no report); every byte already written
// stays: each file holds what a clean run writes, or a prefix of it with
// zeros where nothing could be written.
func TestDiskFull(t *testing.T) {
	requireRoot(t, "filling a disk (a tmpfs)")
	// 40 connections one after the other, 16 KiB each way: those before
	// the disk fills are complete.
	sc := &capturetest.Scenario{Seed: 4, Conns: make([]capturetest.Conn, 40), Concurrency: 1}
	for i := range sc.Conns {
		c, s := capturetest.Endpoints(i, false)
		sc.Conns[i] = capturetest.Conn{Client: c, Server: s,
			ClientData: capturetest.Pattern(uint64(2*i), 16<<10), ServerData: capturetest.Pattern(uint64(2*i+1), 16<<10)}
	}
	capture := filepath.Join(t.TempDir(), "seq.pcap")
	if _, err := sc.WriteFile(capture, capturetest.Format{}); err != nil {
		t.Fatal(err)
	}
	want := cleanRun(t, capture)
	mnt := mountTmpfs(t, 256<<10, 0)
	out := filepath.Join(mnt, "out")
	r := execFlowcap(t, time.Minute, "read", "-o", out, capture)
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	// The error, and the reports left under their temporary names.
	errLine := `flowcap: write ` + regexp.QuoteMeta(out) + `/[0-9.-]+(c\d+)?: no space left on device\n`
	partial := `flowcap: reports left as ` + regexp.QuoteMeta(out) + `/report.xml.partial and ` + regexp.QuoteMeta(out) + `/flows.jsonl.partial: incomplete\n`
	if !regexp.MustCompile(`^(` + partial + errLine + `|` + errLine + partial + `)$`).MatchString(r.stderr) {
		t.Errorf("stderr %q\nwant the error (%s) and the reports left as .partial (%s)", r.stderr, errLine, partial)
	}
	got := outputFiles(t, out)
	complete, kept := 0, 0
	for name, g := range got {
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: not a file of the clean run", name)
			continue
		}
		if len(g) > len(w) {
			t.Errorf("%s: %d bytes, the clean run's has %d", name, len(g), len(w))
			continue
		}
		for i := range g {
			if g[i] != w[i] && g[i] != 0 {
				t.Errorf("%s: byte %d is %#x, want %#x (or 0: not written)", name, i, g[i], w[i])
				break
			}
		}
		if bytes.Equal(g, w) {
			complete++
		}
		kept += len(g)
	}
	t.Logf("%d of %d files complete, %d bytes kept on a 256 KiB disk", complete, len(want), kept)
	if complete < 8 || kept < 128<<10 {
		t.Errorf("only %d complete files and %d bytes kept", complete, kept)
	}
	for _, name := range []string{"report.xml", "flows.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, name)); err == nil {
			t.Errorf("%s written after a write error", name)
		}
	}
}

// A read-only output directory: one line, exit 1, before reading anything.
func TestReadOnlyOutput(t *testing.T) {
	var ro string
	if os.Geteuid() == 0 {
		ro = mountTmpfs(t, 64<<10, syscall.MS_RDONLY) // root writes through mode bits
	} else {
		ro = t.TempDir()
		if err := os.Chmod(ro, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	why := `(read-only file system|permission denied)`
	r := execFlowcap(t, time.Minute, "read", "-o", ro, sample)
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	oneLine(t, r.stderr, `flowcap: output directory `+regexp.QuoteMeta(ro)+`: `+why)

	sub := filepath.Join(ro, "sub")
	r = execFlowcap(t, time.Minute, "read", "-o", sub, sample)
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	oneLine(t, r.stderr, `flowcap: mkdir `+regexp.QuoteMeta(sub)+`: `+why)
}

// 10,000 connections open at once under `ulimit -n 64`: the files are
// exactly those of a run without the limit.
func TestFewDescriptors(t *testing.T) {
	conns := 10000
	if raceEnabled {
		conns = 1000 // still 2,000 files for 48 descriptors, in a tenth of the time
	}
	cs := make([]capturetest.Conn, conns)
	for i := range cs {
		c, s := capturetest.Endpoints(i, false)
		cs[i] = capturetest.Conn{Client: c, Server: s,
			ClientData: capturetest.Pattern(uint64(2*i), 300), ServerData: capturetest.Pattern(uint64(2*i+1), 2000)}
	}
	sc := &capturetest.Scenario{Seed: 64, Conns: cs, MSS: 536, Reorder: 0.1}
	capture := filepath.Join(t.TempDir(), "many.pcap")
	st, err := sc.WriteFile(capture, capturetest.Format{})
	if err != nil {
		t.Fatal(err)
	}
	want := cleanRun(t, capture)
	if len(want) != st.Files {
		t.Fatalf("clean run: %d files, the capture has %d", len(want), st.Files)
	}
	out := filepath.Join(t.TempDir(), "limited")
	r := execMeasured(t, time.Minute, "sh", "-c", `ulimit -n 64 && test "$(ulimit -n)" = 64 && exec flowcap read -o "$0" "$1"`, out, capture)
	if r.code != 0 {
		t.Fatalf("under ulimit -n 64: exit %d: %s", r.code, r.stderr)
	}
	got := outputFiles(t, out)
	if len(got) != len(want) {
		t.Errorf("%d files, want %d", len(got), len(want))
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || !bytes.Equal(g, w) {
			t.Errorf("%s differs (%d bytes, want %d)", name, len(g), len(w))
		}
	}
}

// Symbolic links planted in the output directory under flow file names
// (and their c1 names), pointing outside it: none is followed or replaced,
// nothing outside the directory changes, and each flow goes to the next
// free name, whole.
func TestPlantedSymlinks(t *testing.T) {
	want := cleanRun(t, sample)
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{}
	moved := map[string]string{} // flow file of the clean run -> where it must go now
	i := 0
	for name := range want {
		switch i % 3 {
		case 0: // the name and its c1 taken: the flow goes to c2
			links[name] = victim
			links[name+"c1"] = filepath.Join(outside, "new-"+name)
			moved[name] = name + "c2"
		case 1: // a link to a directory outside
			links[name] = outside
			moved[name] = name + "c1"
		default:
			moved[name] = name
		}
		i++
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(out, name)); err != nil {
			t.Fatal(err)
		}
	}
	r := execFlowcap(t, time.Minute, "read", "-q", "-o", out, sample)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the link target now holds %q", b)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("%d entries outside the output directory, want 1 (victim)", len(ents))
	}
	for name, target := range links {
		if got, err := os.Readlink(filepath.Join(out, name)); err != nil || got != target {
			t.Errorf("link %s: now %q, %v", name, got, err)
		}
	}
	got := outputFiles(t, out)
	if len(got) != len(want) {
		t.Errorf("%d files, want %d", len(got), len(want))
	}
	for name, to := range moved {
		if !bytes.Equal(got[to], want[name]) {
			t.Errorf("%s: %d bytes in %s, want %d", name, len(got[to]), to, len(want[name]))
		}
	}
}

// --max-disk: the flow files stop growing at the quota, which they share
// with the reports' text; flowcap says so once and counts what it left
// out, and exits 0 (the limit is the user's choice; the summary says what
// it cost).
func TestMaxDiskQuota(t *testing.T) {
	const quota = 100 << 10
	want := cleanRun(t, sample)
	out := filepath.Join(t.TempDir(), "out")
	r := execFlowcap(t, time.Minute, "read", "--max-disk", "100K", "-o", out, sample)
	if r.code != 0 {
		t.Errorf("exit %d, want 0", r.code)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 2 || lines[0] != "flowcap: warning: --max-disk reached (102400 bytes of flow files and reports): no more flow data is written, nor connections reported; what is left out is counted" {
		t.Fatalf("stderr %q, want the warning once and the summary", r.stderr)
	}
	var total, wantTotal int
	for _, w := range want {
		wantTotal += len(w)
	}
	got := outputFiles(t, out)
	for name, g := range got {
		total += len(g)
		if w := want[name]; !bytes.HasPrefix(w, g) {
			t.Errorf("%s: %d bytes, not the first bytes of the clean run's %d", name, len(g), len(w))
		}
	}
	// The flow files fill the quota but for what the reports took before;
	// connections with a file are reported even past it.
	if reports := reportText(t, out); total > quota || total+reports < quota {
		t.Errorf("%d bytes of flow files and %d of reported connections; want the files within the quota, %d, and both together past it", total, reports, quota)
	}
	jsonl, _ := os.ReadFile(filepath.Join(out, "flows.jsonl"))
	for name := range got {
		if !bytes.Contains(jsonl, []byte(`"name":"`+name+`"`)) {
			t.Errorf("flow file %s is not in flows.jsonl", name)
		}
	}
	// Left out: payload bytes refused (holes aside, retransmissions
	// counted each time).
	summary := regexp.MustCompile(fmt.Sprintf(`, %d bytes written, .*, (\d+) bytes of \d+ flows left out \(--max-disk\)`, total))
	m := summary.FindStringSubmatch(lines[1])
	if m == nil {
		t.Fatalf("summary %q\nwant it to match %s", lines[1], summary)
	}
	if left, _ := strconv.Atoi(m[1]); left < (wantTotal-quota)*9/10 || left > wantTotal {
		t.Errorf("%d bytes left out; the files would hold %d more", left, wantTotal-quota)
	}
	if r := execFlowcap(t, time.Minute, "read", "--max-disk", "lots", "-o", out, sample); r.code != 1 {
		t.Errorf("--max-disk lots: exit %d", r.code)
	} else {
		oneLine(t, r.stderr, `flowcap: --max-disk "lots": must be a positive number of bytes \(K, M, G, T suffixes allowed\)`)
	}
}

// reportText returns the bytes of dir's reports that describe connections:
// flows.jsonl whole, and report.xml but its head and tail (written
// whatever the quota).
func reportText(t *testing.T, dir string) int {
	t.Helper()
	jsonl, err := os.ReadFile(filepath.Join(dir, "flows.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	xml, err := os.ReadFile(filepath.Join(dir, "report.xml"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(jsonl)
	if first := bytes.Index(xml, []byte("    <fileobject>")); first >= 0 {
		last := bytes.LastIndex(xml, []byte("    </fileobject>\n"))
		n += last + len("    </fileobject>\n") - first
	}
	return n
}

// A flood of connections with no payload writes no flow file, only
// reports (3.8 MB for these without a quota): --max-disk bounds those
// too, and says how many connections it left out of them.
func TestMaxDiskBoundsReports(t *testing.T) {
	const syns, quota = 5000, 200 << 10
	capture := synCapture(t, syns, func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), uint16(1000+i))
	})

	out := filepath.Join(t.TempDir(), "out")
	r := execFlowcap(t, time.Minute, "read", "--max-disk", "200K", "-o", out, capture)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	reported := reportText(t, out)
	if reported > quota || reported < quota-2048 {
		t.Errorf("%d bytes of reported connections, want the quota, %d, less at most one connection's", reported, quota)
	}
	jsonl, _ := os.ReadFile(filepath.Join(out, "flows.jsonl"))
	lines := bytes.Count(jsonl, []byte("\n"))
	m := regexp.MustCompile(`, (\d+) connections left out of the reports \(--max-disk\)`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("stderr %q: no count of the connections left out", r.stderr)
	}
	if left, _ := strconv.Atoi(m[1]); lines+left != syns || lines == 0 {
		t.Errorf("%d connections in flows.jsonl and %d left out, want %d in all", lines, left, syns)
	}
	if !strings.HasPrefix(r.stderr, "flowcap: warning: --max-disk reached (204800 bytes of flow files and reports)") {
		t.Errorf("stderr %q: want the warning first", r.stderr)
	}
	if xml, _ := os.ReadFile(filepath.Join(out, "report.xml")); !bytes.HasSuffix(xml, []byte("</dfxml>\n")) {
		t.Errorf("report.xml is not whole: ends %q", xml[max(0, len(xml)-40):])
	}
}
