package main

// Live capture end to end: the real flowcap binary (the test binary run as
// "flowcap", see TestMain) captures in a throwaway network namespace while
// the test sends traffic there, by writing frames to a TAP device or by
// opening real TCP connections over lo.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flowcap/flowcap/capture"
	"github.com/flowcap/flowcap/capture/livetest"
	"github.com/flowcap/flowcap/flowfile"
	"github.com/flowcap/flowcap/reassembly"
)

// liveRun is a flowcap process capturing in a namespace.
type liveRun struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{} // closed when the process has exited
	err    error         // of Wait
}

// startFlowcap runs flowcap with args in the namespace and waits until it
// says it is listening. The process is killed if the test ends first.
func startFlowcap(tb testing.TB, ns *livetest.Netns, args ...string) *liveRun {
	tb.Helper()
	return startProcess(tb, ns.Command("flowcap", args...), "listening on ")
}

// startProcess starts cmd and waits until its standard error has a line
// that contains ready.
func startProcess(tb testing.TB, cmd *exec.Cmd, ready string) *liveRun {
	tb.Helper()
	r := &liveRun{cmd: cmd, done: make(chan struct{})}
	pipe, err := r.cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pipe)
		said := false
		for sc.Scan() {
			r.mu.Lock()
			r.stderr.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			if !said && strings.Contains(sc.Text(), ready) {
				said = true
				close(listening)
			}
		}
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	tb.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	select {
	case <-listening:
	case <-r.done:
		tb.Fatalf("%s exited before it was ready: %v\n%s", strings.Join(cmd.Args, " "), r.err, r.output())
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s: not ready after 10 s:\n%s", strings.Join(cmd.Args, " "), r.output())
	}
	return r
}

func (r *liveRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

// stop signals flowcap and waits for it to exit; it returns how long that
// took and the exit status.
func (r *liveRun) stop(t testing.TB, sig syscall.Signal) (time.Duration, int) {
	t.Helper()
	start := time.Now()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return r.wait(t, start)
}

func (r *liveRun) wait(t testing.TB, start time.Time) (time.Duration, int) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("flowcap still running 10 s after the signal:\n%s", r.output())
	}
	took := time.Since(start)
	code := 0
	var ee *exec.ExitError
	if errors.As(r.err, &ee) {
		code = ee.ExitCode()
	} else if r.err != nil {
		t.Fatal(r.err)
	}
	return took, code
}

// summary reads the numbers of flowcap's summary line.
type summary struct{ packets, received, dropped, filtered int }

var summaryRE = regexp.MustCompile(`flowcap: (\d+) packets .*, (\d+) received by the kernel filter, (\d+) dropped by the kernel`)

func (r *liveRun) summary(t testing.TB) summary {
	t.Helper()
	out := r.output()
	m := summaryRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line:\n%s", out)
	}
	var s summary
	s.packets, _ = strconv.Atoi(m[1])
	s.received, _ = strconv.Atoi(m[2])
	s.dropped, _ = strconv.Atoi(m[3])
	if f := regexp.MustCompile(`(\d+) filtered out`).FindStringSubmatch(out); f != nil {
		s.filtered, _ = strconv.Atoi(f[1])
	}
	return s
}

// sameFiles reports how got differs from want, file by file.
func sameFlowFiles(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("missing %s (%d bytes)", name, len(w))
		case !bytes.Equal(g, w):
			t.Errorf("%s: %d bytes, want %d (first difference at %d)", name, len(g), len(w), diffAt(g, w))
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected %s (%d bytes)", name, len(g))
		}
	}
	if len(want) == 0 {
		t.Error("nothing to compare: no flow file expected")
	}
}

func diffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// replay writes every frame of a capture to a TAP (or, for raw IP, a TUN)
// device.
func replay(t *testing.T, dev *os.File, file string) int {
	t.Helper()
	src, err := capture.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	n := 0
	for {
		data, _, err := src.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dev.Write(data); err != nil {
			t.Fatalf("%s: frame %d (%d bytes): %v", file, n+1, len(data), err)
		}
		n++
	}
}

// flowcapRead runs flowcap read in this process.
func flowcapRead(t *testing.T, args ...string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append([]string{"flowcap", "read", "-q"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("flowcap read %v: exit %d: %s", args, code, stderr.String())
	}
}

// (a) Captures replayed onto a TAP (Ethernet, VLAN tags with priority bits,
// stacked tags) or a TUN device (raw IP) give the flow files flowcap read
// gives for the same capture; so do three sockets in a fanout group, the
// cooked socket of -i any, and filters (in the kernel, and vlan tests in
// user space).
func TestCaptureReplayEqualsRead(t *testing.T) {
	livetest.Require(t)
	for _, tt := range []struct {
		file   string
		tun    bool
		iface  string
		args   []string
		filter string
	}{
		{"zeek__http__bro.org.pcap", false, "d0", nil, ""},
		{"zeek__http-qinq-0.pcap", false, "d0", nil, ""},
		{"zeek__vlan-qinqinq.pcap", false, "d0", nil, ""},
		{"suricata__tcp-async-01__input.pcap", false, "d0", nil, ""},
		{"pcapplusplus__four_ipv6_http_streams.pcap", true, "d0", nil, ""},
		{"zeek__http__bro.org.pcap", false, "d0", []string{"--fanout", "3"}, ""},
		{"zeek__http__bro.org.pcap", false, "any", nil, ""},
		{"zeek__http__bro.org.pcap", false, "any", nil, "port 55079 or port 55081"},
		{"zeek__vlan-qinqinq.pcap", false, "d0", nil, "vlan 30 and vlan 20 and vlan 10 and port 80"},
	} {
		t.Run(strings.Join(append([]string{tt.file, tt.iface, tt.filter}, tt.args...), " "), func(t *testing.T) {
			file := filepath.Join("testdata", "capture", tt.file)
			ns := livetest.New(t)
			var dev *os.File
			if tt.tun {
				dev = ns.TUN("d0", 65521)
			} else {
				dev = ns.TAP("d0", 65521)
			}
			live, read := t.TempDir(), t.TempDir()
			r := startFlowcap(t, ns, append([]string{"capture", "-i", tt.iface, "-J", "0", "-o", live, tt.filter}, tt.args...)...)
			if !strings.Contains(r.output(), "listening on "+tt.iface+",") {
				t.Fatalf("not listening on %s:\n%s", tt.iface, r.output())
			}
			n := replay(t, dev, file)
			if _, code := r.stop(t, syscall.SIGINT); code != 0 {
				t.Fatalf("exit status %d after SIGINT, want 0:\n%s", code, r.output())
			}
			if s := r.summary(t); (s.packets != n && tt.filter == "") || s.dropped != 0 {
				t.Errorf("captured %d packets (%d dropped), replayed %d:\n%s", s.packets, s.dropped, n, r.output())
			}
			flowcapRead(t, "-J", "0", "-o", read, "-F", tt.filter, file)
			sameFlowFiles(t, outputFiles(t, live), outputFiles(t, read))
		})
	}
}

// With neither -r nor -i, flowcap captures on the first interface that is
// up and not loopback, and says which. --count stops it after so many
// packets; -w writes them as pcap, which flowcap reads back into the same
// flow files.
func TestCaptureDefaultInterfaceCountWrite(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	tap := ns.TAP("t0", 1500)
	dir, raw := t.TempDir(), filepath.Join(t.TempDir(), "raw.pcap")
	file := filepath.Join("testdata", "capture", "zeek__http__bro.org.pcap")
	r := startFlowcap(t, ns, "-p", "--count", "500", "-w", raw, "-o", dir)
	if !strings.Contains(r.output(), "flowcap: no -i: capturing on t0\n") {
		t.Errorf("the default interface is not named:\n%s", r.output())
	}
	start := time.Now()
	replay(t, tap, file)
	if _, code := r.wait(t, start); code != 0 {
		t.Fatalf("exit status %d after --count, want 0:\n%s", code, r.output())
	}
	if s := r.summary(t); s.packets != 500 {
		t.Errorf("%d packets, want 500 (--count):\n%s", s.packets, r.output())
	}
	// raw.pcap holds the first 500 frames of the capture, as sent.
	want, err := capture.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	got, err := capture.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	for i := 0; ; i++ {
		g, gi, gerr := got.Next()
		if gerr == io.EOF {
			if i != 500 {
				t.Errorf("-w wrote %d packets, want 500", i)
			}
			break
		}
		w, _, err := want.Next()
		if gerr != nil || err != nil || !bytes.Equal(g, w) || gi.LinkType != capture.LinkEthernet {
			t.Fatalf("-w packet %d: %v %v: differs from frame %d of the capture", i+1, gerr, err, i+1)
		}
	}
	again := t.TempDir()
	flowcapRead(t, "-o", again, raw)
	sameFlowFiles(t, outputFiles(t, dir), outputFiles(t, again))
}

// tcpExchange is one connection over lo: what each side sent.
type tcpExchange struct {
	key              reassembly.Key // client to server
	request, respond []byte
}

// exchange opens conns connections to a server in the namespace (half of
// them over IPv6) and sends data both ways; the server answers each request
// with its bytes reversed.
func exchange(t *testing.T, ns *livetest.Netns, conns, size int) []tcpExchange {
	t.Helper()
	var out []tcpExchange
	for i := range conns {
		network, addr := "tcp4", "127.0.0.1:0"
		if i%2 == 1 {
			network, addr = "tcp6", "[::1]:0"
		}
		var ln net.Listener
		var c net.Conn
		err := ns.Do(func() (err error) {
			if ln, err = net.Listen(network, addr); err != nil {
				return err
			}
			c, err = net.Dial(network, ln.Addr().String())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		req := make([]byte, size+i*1000)
		for j := range req {
			req[j] = byte(rand.IntN(256))
		}
		resp := make([]byte, len(req))
		for j := range req {
			resp[j] = req[len(req)-1-j]
		}
		srvErr := make(chan error, 1)
		go func() {
			s, err := ln.Accept()
			ln.Close()
			if err != nil {
				srvErr <- err
				return
			}
			defer s.Close()
			got, err := io.ReadAll(s)
			if err == nil && !bytes.Equal(got, req) {
				err = fmt.Errorf("server got %d bytes, client sent %d", len(got), len(req))
			}
			if err == nil {
				_, err = s.Write(resp)
			}
			srvErr <- err
		}()
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || !bytes.Equal(got, resp) {
			t.Fatalf("client: %v, %d bytes back", err, len(got))
		}
		if err := <-srvErr; err != nil {
			t.Fatal(err)
		}
		local := netip.MustParseAddrPort(c.LocalAddr().String())
		remote := netip.MustParseAddrPort(c.RemoteAddr().String())
		out = append(out, tcpExchange{reassembly.Key{Src: local, Dst: remote}, req, resp})
	}
	return out
}

// expectedFiles names each direction's flow file as tcpflow does.
func expectedFiles(xs []tcpExchange) map[string][]byte {
	want := map[string][]byte{}
	for _, x := range xs {
		want[flowfile.Name(x.key, reassembly.NoVLAN, 0)] = x.request
		want[flowfile.Name(x.key.Reverse(), reassembly.NoVLAN, 0)] = x.respond
	}
	return want
}

// (b) Real TCP connections over lo (tcpflow's short form, flowcap -i lo):
// the flow files hold exactly what client and server sent. On lo the
// kernel hands out every packet twice; the kernel filter keeps one copy,
// so flowcap sees as many packets as lo carried.
func TestCaptureLoopbackConnections(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	dir := t.TempDir()
	before := ns.RxPackets("lo")
	r := startFlowcap(t, ns, "-i", "lo", "-o", dir)
	xs := exchange(t, ns, 6, 200_000)
	took, code := r.stop(t, syscall.SIGTERM)
	carried := ns.RxPackets("lo") - before
	if code != 0 || took > 2*time.Second {
		t.Errorf("exit status %d %v after SIGTERM; want 0 within 2 s", code, took)
	}
	sameFlowFiles(t, outputFiles(t, dir), expectedFiles(xs))
	s := r.summary(t)
	if uint64(s.packets) != carried || s.received != s.packets || s.dropped != 0 {
		t.Errorf("flowcap read %d packets (kernel: %d received, %d dropped); lo carried %d", s.packets, s.received, s.dropped, carried)
	}
}

// (c) A filter that excludes a port: those packets never reach user space.
// flowcap rejects none itself, the kernel counts only the others, and lo
// carried more than that.
func TestCaptureKernelFilterKeepsPortOut(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	dir := t.TempDir()
	// Find the port the excluded connection will use before the capture
	// starts, so the expression can name it.
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp4", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	before := ns.RxPackets("lo")
	r := startFlowcap(t, ns, "capture", "-i", "lo", "-o", dir, "not", "port", strconv.Itoa(port))
	xs := exchange(t, ns, 2, 50_000)
	// The excluded connection: some data, then close.
	go func() {
		if s, err := ln.Accept(); err == nil {
			io.Copy(io.Discard, s)
			s.Close()
		}
	}()
	var c net.Conn
	if err := ns.Do(func() (err error) { c, err = net.Dial("tcp4", ln.Addr().String()); return err }); err != nil {
		t.Fatal(err)
	}
	c.Write(make([]byte, 100_000))
	c.Close()
	time.Sleep(50 * time.Millisecond) // the FIN exchange
	ln.Close()
	r.stop(t, syscall.SIGINT)
	carried := ns.RxPackets("lo") - before
	sameFlowFiles(t, outputFiles(t, dir), expectedFiles(xs))
	s := r.summary(t)
	if s.filtered != 0 || s.received != s.packets || uint64(s.packets)+6 > carried {
		t.Errorf("flowcap read %d packets and rejected %d, the kernel passed %d; lo carried %d: the excluded port reached user space",
			s.packets, s.filtered, s.received, carried)
	}
}

// (d) SIGTERM in the middle of a transfer: every byte the server had
// received when the signal went is in the flow file, and flowcap exits 0
// within 2 seconds. On the way, -R reports the transfer.
func TestCaptureSIGTERMKeepsEverything(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	dir := t.TempDir()
	r := startFlowcap(t, ns, "capture", "-i", "lo", "-R", "1", "-o", dir)
	var ln net.Listener
	var c net.Conn
	err := ns.Do(func() (err error) {
		if ln, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
			return err
		}
		c, err = net.Dial("tcp4", ln.Addr().String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var received atomic.Int64
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		buf := make([]byte, 1<<16)
		for {
			n, err := s.Read(buf)
			received.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	stream := make([]byte, 64<<20)
	for i := range stream {
		stream[i] = byte(i*7 + i>>8)
	}
	stopWriting := make(chan struct{})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		// About 30 MB/s: a steady transfer, not a flood that fills the ring.
		for off := 0; off < len(stream); off += 32 << 10 {
			select {
			case <-stopWriting:
				return
			default:
			}
			if _, err := c.Write(stream[off : off+32<<10]); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	// Until -R has printed a line about the transfer.
	statsLine := regexp.MustCompile(`flowcap: last 1s: [1-9]\d* packets, \d+ bytes, 0 dropped by the kernel, 0 ring freezes; \d+ open flows, [1-9]\d* bytes written\n`)
	for deadline := time.Now().Add(5 * time.Second); !statsLine.MatchString(r.output()); {
		if time.Now().After(deadline) {
			t.Fatalf("no -R line reports the transfer:\n%s", r.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	atSignal := received.Load()
	took, code := r.stop(t, syscall.SIGTERM)
	close(stopWriting)
	<-wrote
	c.Close()
	if code != 0 || took > 2*time.Second {
		t.Errorf("exit status %d %v after SIGTERM; want 0 within 2 s", code, took)
	}
	t.Logf("flowcap exited %v after SIGTERM", took)
	key := reassembly.Key{Src: netip.MustParseAddrPort(c.LocalAddr().String()), Dst: netip.MustParseAddrPort(c.RemoteAddr().String())}
	got, err := os.ReadFile(filepath.Join(dir, flowfile.Name(key, reassembly.NoVLAN, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) < atSignal || !bytes.Equal(got, stream[:len(got)]) {
		t.Errorf("flow file: %d bytes (first difference at %d); the server had %d when the signal went", len(got), diffAt(got, stream), atSignal)
	}
	if s := r.summary(t); s.dropped != 0 {
		t.Errorf("the kernel dropped %d packets", s.dropped)
	}
}

// -U: flowcap opens its sockets as root, then creates the flow files as
// the user.
func TestCaptureDropsPrivileges(t *testing.T) {
	livetest.Require(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("no user nobody: %v", err)
	}
	ns := livetest.New(t)
	// t.TempDir's parent is closed to other users.
	parent, err := os.MkdirTemp("", "flowcap-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o777); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "out")
	r := startFlowcap(t, ns, "capture", "-i", "lo", "-U", "nobody", "-o", dir)
	exchange(t, ns, 1, 1000)
	if _, code := r.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, r.output())
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 4 { // two flow files, report.xml, flows.jsonl
		t.Fatalf("%v, %d files in %s", err, len(ents), dir)
	}
	for _, e := range append([]os.DirEntry{nil}, ents...) {
		path := dir
		if e != nil {
			path = filepath.Join(dir, e.Name())
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if uid := strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)); uid != nobody.Uid {
			t.Errorf("%s belongs to uid %s, want %s (nobody)", path, uid, nobody.Uid)
		}
	}
}

// Without CAP_NET_RAW one line says what is missing and how to grant it.
// (The process runs in a user namespace of its own: root there, without
// capabilities over the host's network.)
func TestCaptureWithoutCapNetRaw(t *testing.T) {
	livetest.Require(t)
	cmd := exec.Command("flowcap", "capture", "-i", "lo", "-o", t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1: %s", err, out)
	}
	want := regexp.MustCompile(`^flowcap: capturing on lo needs CAP_NET_RAW \(operation not permitted\): run as root, or grant it once with: sudo setcap cap_net_raw,cap_net_admin\+ep \S+\n$`)
	if !want.Match(out) {
		t.Errorf("output %q\nwant one line like %s", out, want)
	}
}

// BenchmarkLiveReplay replays a capture onto a TAP device at a fixed rate
// (or at top speed) while flowcap capture and tcpdump -w /dev/null both
// capture it, with the same 32 MiB ring, and reports the rate and what
// each dropped. The capture is testdata's bro.org trace unless
// FLOWCAP_BENCH_PCAP names a larger one (gencap -conns 2000 -size 200MiB
// makes 160,000 frames of 1514 bytes); each iteration replays it once.
// The flow files go to a temporary directory, or under FLOWCAP_BENCH_OUT
// (a tmpfs there takes the disk out of the measurement).
//
//	FLOWCAP_BENCH_PCAP=/tmp/big.pcap FLOWCAP_BENCH_OUT=/dev/shm go test -run '^$' -bench LiveReplay -benchtime 1x
func BenchmarkLiveReplay(b *testing.B) {
	livetest.Require(b)
	if _, err := exec.LookPath("tcpdump"); err != nil {
		b.Fatal("tcpdump is missing: run `make deps`")
	}
	file := os.Getenv("FLOWCAP_BENCH_PCAP")
	if file == "" {
		file = filepath.Join("testdata", "capture", "zeek__http__bro.org.pcap")
	}
	frames := loadFrames(b, file)
	for _, rate := range []int{50_000, 100_000, 150_000, 200_000, 0} {
		name := "top-speed"
		if rate > 0 {
			name = fmt.Sprintf("%dpps", rate)
		}
		b.Run(name, func(b *testing.B) {
			ns := livetest.New(b)
			tap := ns.TAP("t0", 65521)
			out := b.TempDir()
			if dir := os.Getenv("FLOWCAP_BENCH_OUT"); dir != "" {
				var err error
				if out, err = os.MkdirTemp(dir, "flowcap-bench-"); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { os.RemoveAll(out) })
			}
			fc := startFlowcap(b, ns, "capture", "-i", "t0", "-o", out)
			td := startTcpdump(b, ns, "-i", "t0", "-n", "-B", "32768", "-w", "/dev/null")
			b.ResetTimer()
			start := time.Now()
			sent := 0
			for range b.N {
				for _, f := range frames {
					if rate > 0 {
						if ahead := time.Until(start.Add(time.Duration(sent) * time.Second / time.Duration(rate))); ahead > 0 {
							time.Sleep(ahead)
						}
					}
					if _, err := tap.Write(f); err != nil {
						b.Fatal(err)
					}
					sent++
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			fc.stop(b, syscall.SIGINT)
			td.stop(b, syscall.SIGINT)
			s := fc.summary(b)
			m := regexp.MustCompile(`(\d+) packets received by filter\n(\d+) packets dropped by kernel`).FindStringSubmatch(td.output())
			if m == nil {
				b.Fatalf("no tcpdump statistics:\n%s", td.output())
			}
			tdReceived, _ := strconv.Atoi(m[1])
			tdDropped, _ := strconv.Atoi(m[2])
			b.ReportMetric(float64(sent)/elapsed.Seconds(), "sent-pps")
			b.ReportMetric(float64(s.packets), "flowcap-read")
			b.ReportMetric(float64(s.dropped), "flowcap-drops")
			b.ReportMetric(float64(tdReceived-tdDropped), "tcpdump-read")
			b.ReportMetric(float64(tdDropped), "tcpdump-drops")
			b.ReportMetric(float64(sent), "sent")
		})
	}
}

func loadFrames(tb testing.TB, file string) [][]byte {
	tb.Helper()
	src, err := capture.Open(file)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	var frames [][]byte
	for {
		data, _, err := src.Next()
		if err == io.EOF {
			return frames
		}
		if err != nil {
			tb.Fatal(err)
		}
		frames = append(frames, bytes.Clone(data))
	}
}

// startTcpdump runs tcpdump in the namespace until it listens.
func startTcpdump(tb testing.TB, ns *livetest.Netns, args ...string) *liveRun {
	tb.Helper()
	return startProcess(tb, ns.Command("tcpdump", args...), "listening on ")
}

// An interface that disappears ends the capture: one line says so, the
// files are closed, the summary printed, exit status 1.
func TestCaptureInterfaceGone(t *testing.T) {
	livetest.Require(t)
	ns := livetest.New(t)
	tap := ns.TAP("t0", 1500)
	r := startFlowcap(t, ns, "capture", "-i", "t0", "--fanout", "2", "-o", t.TempDir())
	start := time.Now()
	tap.Close() // the TAP device goes with its last file
	if _, code := r.wait(t, start); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	out := r.output()
	if strings.Count(out, "flowcap: read t0: the interface is gone") != 1 || !summaryRE.MatchString(out) {
		t.Errorf("want one line about the interface, then the summary:\n%s", out)
	}
}

// Past the start, the kernel judges packets with libpcap's live semantics,
// as tcpdump -i does: the outer VLAN tag is metadata, so "tcp" takes tagged
// TCP (in a file it would not: the frame's type is 0x8100), and inbound,
// outbound and ifindex work. Either way every replayed packet is taken here,
// so the files are those of flowcap read without a filter.
func TestCaptureLiveSemantics(t *testing.T) {
	livetest.Require(t)
	for _, tt := range []struct{ file, filter string }{
		{"suricata__eve-overlap-payload-01__tcp-overlap.pcap", "tcp"},
		{"zeek__http__bro.org.pcap", "inbound and tcp"},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			file := filepath.Join("testdata", "capture", tt.file)
			ns := livetest.New(t)
			dev := ns.TAP("d0", 65521)
			live, read := t.TempDir(), t.TempDir()
			r := startFlowcap(t, ns, "capture", "-i", "d0", "-J", "0", "-o", live, tt.filter)
			if !strings.Contains(r.output(), "listening on d0,") {
				t.Fatalf("not listening on d0:\n%s", r.output())
			}
			n := replay(t, dev, file)
			if _, code := r.stop(t, syscall.SIGINT); code != 0 {
				t.Fatalf("exit status %d after SIGINT, want 0:\n%s", code, r.output())
			}
			if s := r.summary(t); s.packets != n || s.dropped != 0 {
				t.Errorf("captured %d packets (%d dropped), replayed %d:\n%s", s.packets, s.dropped, n, r.output())
			}
			flowcapRead(t, "-J", "0", "-o", read, file)
			files := outputFiles(t, live)
			if len(files) == 0 {
				t.Fatalf("%q captured no flow", tt.filter)
			}
			sameFlowFiles(t, files, outputFiles(t, read))
		})
	}
}
